"""manifest.json and SHA256SUMS: what went into an artifact and what came out, by sha256."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmforge.core.errors import ManifestError
from wasmforge.core.files import read_json, write_json_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.model.plan import BuildPlan

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class InputRecord:
    component: str
    version: str
    file: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Manifest:
    target: dict[str, Any]
    source_date_epoch: int
    toolchain: dict[str, str]
    recipe_digest: str
    inputs: tuple[InputRecord, ...]
    outputs: tuple[FileRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "target": self.target,
            "source_date_epoch": self.source_date_epoch,
            "toolchain": self.toolchain,
            "recipe_digest": self.recipe_digest,
            "inputs": [vars(i) for i in self.inputs],
            "outputs": [vars(o) for o in self.outputs],
        }

    def output(self, name: str) -> FileRecord | None:
        return next((o for o in self.outputs if o.name == name), None)


def manifest_for(plan: BuildPlan, outputs: tuple[FileRecord, ...]) -> Manifest:
    """What a build of `plan` read and wrote: the target, every source by sha256, the toolchain
    lock, the recipe digest, SOURCE_DATE_EPOCH and every output."""
    target, lock = plan.target, plan.toolchain_lock
    return Manifest(
        target={
            "id": target.id, "python": target.python.version, "sdk": target.sdk.kind,
            "sdk_version": target.sdk.version, "flavor": target.flavor.name, "flags": list(target.flags),
        },
        source_date_epoch=plan.source_date_epoch,
        toolchain={"name": lock.toolchain, "lock_digest": lock.digest, "image": lock.image_tag},
        recipe_digest=plan.recipe_digest,
        inputs=tuple(
            InputRecord(component=c.name, version=c.version, file=c.source.file, size=c.source.size, sha256=c.source.sha256)
            for c in plan.components
        ),
        outputs=outputs,
    )


def record_outputs(directory: Path) -> tuple[FileRecord, ...]:
    """Every file under `directory` but the manifest and checksums, named by its relative POSIX
    path and sorted by it."""
    files = sorted((p.relative_to(directory).as_posix(), p) for p in directory.rglob("*") if p.is_file())
    return tuple(
        FileRecord(name=name, size=p.stat().st_size, sha256=sha256_file(p))
        for name, p in files
        if name not in (MANIFEST, CHECKSUMS)
    )


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_json_atomic(directory / MANIFEST, manifest.to_json())
    lines = [f"{o.sha256}  {o.name}\n" for o in manifest.outputs]
    lines.append(f"{sha256_file(directory / MANIFEST)}  {MANIFEST}\n")
    (directory / CHECKSUMS).write_text("".join(lines))


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    data = read_json(path, ManifestError, "manifest")
    try:
        return Manifest(
            target=data["target"],
            source_date_epoch=int(data["source_date_epoch"]),
            toolchain=data["toolchain"],
            recipe_digest=data["recipe_digest"],
            inputs=tuple(InputRecord(**i) for i in data["inputs"]),
            outputs=tuple(FileRecord(**o) for o in data["outputs"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not a wasmforge manifest ({exc!r})") from None
