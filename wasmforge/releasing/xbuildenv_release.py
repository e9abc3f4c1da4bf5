"""Cross-build environments published with their artifact, and the store's list of them.

`invoke xbuildenv` makes an environment after the build, not as one of its outputs (it would
count against the size budgets and change every recorded manifest), so it travels in the release
beside the build's files: `xbuildenv-<target-id>.tar.gz`, signed through the index like them, and
accepted only when its `xbuildenv.json` names the very manifest being published.

A directory store also keeps `cross-build-environments.json` next to its index: every release
that carries an environment, with what a build tool needs to pick one (Python and SDK versions,
platform, wheel tag) and where to get it. Pyodide's `pyodide-cross-build-environments.json` is the
shape it follows; ours is keyed by target and version, since one release version holds several
targets. It is derived from the signed index and not signed itself: verify with `invoke pull`.
"""

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from wasmforge.building.xbuildenv import load_xbuildenv
from wasmforge.core.errors import PublishError, XbuildenvError
from wasmforge.releasing.release_index import Release, format_time

ENVIRONMENTS = "cross-build-environments.json"
SCHEMA_VERSION = 1


def environment_name(target_id: str) -> str:
    return f"xbuildenv-{target_id}.tar.gz"


def stage_xbuildenv(path: Path, target_id: str, manifest_sha256: str, staging: Path) -> str:
    """Copy the environment into staging and check that the copy describes this build (what is
    published is what was checked); return its release file name."""
    name = environment_name(target_id)
    try:
        shutil.copyfile(path, staging / name)
        info = load_xbuildenv(staging / name).info
    except (OSError, EOFError, tarfile.TarError, XbuildenvError, ValueError) as exc:
        raise PublishError(f"{path}: not a readable cross-build environment ({exc})") from None
    described = info.get("artifact", {}).get("manifest_sha256")
    if info.get("target", {}).get("id") != target_id or described != manifest_sha256:
        raise PublishError(
            f"{path}: describes another build (manifest sha256 {str(described)[:16]}…, this dist's is "
            f"{manifest_sha256[:16]}…); make it again with `invoke xbuildenv --target {target_id}`"
        )
    return name


def environments_document(releases: list[Release]) -> bytes:
    """The store's list of published environments, a function of its releases."""
    entries = [entry for release in releases if (entry := _entry(release)) is not None]
    entries.sort(key=lambda e: (e["target"], e["published_at"], e["version"]))
    document = {
        "schema_version": SCHEMA_VERSION,
        "note": "url is relative to this document; sha256 and size are the signed index's",
        "environments": entries,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _entry(release: Release) -> dict[str, Any] | None:
    listed = release.file(environment_name(release.target))
    if listed is None:
        return None
    entry: dict[str, Any] = {
        "version": release.version,
        "target": release.target,
        "url": f"releases/{release.version}/{release.target}/{listed.name}",
        "sha256": listed.sha256,
        "size": listed.size,
        "python_version": release.python,
        "sdk": release.sdk,
        "sdk_version": release.sdk_version,
        "flavor": release.flavor,
        "flags": list(release.flags),
        "manifest_sha256": release.manifest_sha256,
        "published_at": format_time(release.published),
    }
    if release.sdk == "emscripten":
        entry["emscripten_version"] = release.sdk_version
    return entry
