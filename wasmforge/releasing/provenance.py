"""SLSA provenance v1 in an in-toto Statement v1, derived from a build's manifest.json alone.

Everything comes from the manifest, never from the clock or the publishing machine, so the same
build always yields the same statement bytes (and the statement is reproducible too).
"""

import json
from typing import Any

from wasmforge.model.manifest import MANIFEST, Manifest
from wasmforge.releasing.release_index import ReleaseFile

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# A URN rather than a URL: the build type is defined by docs/publish.md, not by a web page.
BUILD_TYPE = "urn:wasmforge:buildtype:docker:v1"
BUILDER_ID = "urn:wasmforge:builder:invoke-build"


def statement(manifest: Manifest, subjects: tuple[ReleaseFile, ...]) -> dict[str, Any]:
    """The statement whose subjects are the released files and whose inputs are the build's."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": {"sha256": s.sha256}} for s in subjects],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"target": manifest.target},
                "internalParameters": {
                    "source_date_epoch": manifest.source_date_epoch,
                    "toolchain_image": manifest.toolchain.get("image"),
                },
                "resolvedDependencies": resolved_dependencies(manifest),
            },
            "runDetails": {"builder": {"id": BUILDER_ID}},
        },
    }


def resolved_dependencies(manifest: Manifest) -> list[dict[str, Any]]:
    sources = [
        {
            "name": item.file,
            "digest": {"sha256": item.sha256},
            "annotations": {"component": item.component, "version": item.version, "size": item.size},
        }
        for item in manifest.inputs
    ]
    toolchain = {
        "name": f"toolchain-lock:{manifest.toolchain['name']}",
        "digest": {"sha256": manifest.toolchain["lock_digest"]},
        # Not a file digest: the lock's canonical JSON is hashed, so formatting cannot change it.
        "annotations": {"digest_of": "canonical JSON of the toolchain lock"},
    }
    recipes = {"name": "recipes", "digest": {"sha256": manifest.recipe_digest}}
    return [*sources, toolchain, recipes]


def statement_bytes(manifest: Manifest, subjects: tuple[ReleaseFile, ...]) -> bytes:
    return (json.dumps(statement(manifest, subjects), indent=2, sort_keys=True) + "\n").encode()


def subjects_for(manifest: Manifest, manifest_sha256: str, manifest_size: int) -> tuple[ReleaseFile, ...]:
    """The released build outputs plus the manifest that describes them."""
    outputs = tuple(ReleaseFile(name=o.name, size=o.size, sha256=o.sha256) for o in manifest.outputs)
    return (*outputs, ReleaseFile(name=MANIFEST, size=manifest_size, sha256=manifest_sha256))
