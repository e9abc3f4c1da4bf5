"""Nightlies: build the supported targets with that night's SOURCE_DATE_EPOCH, smoke-test,
publish as nightly-YYYY-MM-DD; and reproduce a published release from its store."""

import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path

from wasmforge.core import log
from wasmforge.building.build import BuildOptions, build_target
from wasmforge.core.errors import BuildError
from wasmforge.releasing.freshness import SeenVersions
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import read_manifest
from wasmforge.model.matrix import Target
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.pull import PullRequest, pull
from wasmforge.building.reproduce import ReproduceResult, reproduce
from wasmforge.releasing.signing import PublicKey, SigningKey
from wasmforge.releasing.stores import open_store, open_writable_store
from wasmforge.model.workspace import Workspace

SMOKE_CODE = (
    "import zlib, bz2, lzma, sqlite3, decimal, json; "
    "print('wasmforge-smoke', zlib.crc32(b'wasmforge'), decimal.Decimal(1) / decimal.Decimal(8), "
    "sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0])"
)
SMOKE_EXPECTED = "wasmforge-smoke 843480468 0.125 42"


@dataclass(frozen=True, kw_only=True)
class NightlyResult:
    target: Target
    version: str
    dist: Path
    smoke: str


def nightly_epoch(day: date) -> int:
    """Midnight UTC of the night's date: every nightly of one day gets the same clock."""
    return int(datetime.combine(day, time(0, 0), tzinfo=timezone.utc).timestamp())


def nightly_version(day: date) -> str:
    return f"nightly-{day:%Y-%m-%d}"


def run_nightly(ws: Workspace, targets: list[Target], day: date, store_url: str, key: SigningKey,
                jobs: int | None = None) -> list[NightlyResult]:
    version = nightly_version(day)
    results = []
    for target in targets:
        dist = ws.paths.dist / "nightly" / version / target.id
        options = BuildOptions(source_date_epoch=nightly_epoch(day), dist_dir=dist)
        if jobs:
            options = BuildOptions(source_date_epoch=nightly_epoch(day), dist_dir=dist, jobs=jobs)
        build_target(ws, target, options)
        smoke = smoke_test(target, dist)
        publish(open_writable_store(store_url), PublishRequest(
            target_id=target.id, dist=dist, version=version, key=key,
            schema=ws.paths.schemas / "index.schema.json", now=datetime.now(timezone.utc),
        ))
        results.append(NightlyResult(target=target, version=version, dist=dist, smoke=smoke))
    return results


def smoke_test(target: Target, dist: Path) -> str:
    """Outputs match their manifest; emscripten builds also run real work under Node."""
    manifest = read_manifest(dist / "manifest.json")
    for output in manifest.outputs:
        if sha256_file(dist / output.name) != output.sha256:
            raise BuildError(f"{dist / output.name}: does not match its manifest")
    if target.sdk.kind == "wasi":
        return _smoke_under_wasmtime(target, dist)
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        log.warning(f"{target.id}: no runtime smoke test here (needs Node for emscripten builds)")
        return "checksums only"
    result = subprocess.run([node, "python.js", "-c", SMOKE_CODE], cwd=dist, capture_output=True, text=True, timeout=300)
    if SMOKE_EXPECTED not in result.stdout:
        raise BuildError(f"{target.id}: smoke test failed under Node (exit {result.returncode}): "
                         f"{(result.stdout + result.stderr).strip()[-300:]}")
    log.detail(f"smoke test under Node: {SMOKE_EXPECTED}")
    return SMOKE_EXPECTED


def _smoke_under_wasmtime(target: Target, dist: Path) -> str:
    from wasmforge.verifying.runtimes import PythonJob, runtime_for

    run = runtime_for(target).run_python(dist, PythonJob(args=("-c", SMOKE_CODE), timeout_seconds=300))
    if run.exit_code != 0 or SMOKE_EXPECTED not in run.output:
        raise BuildError(f"{target.id}: smoke test failed under wasmtime (exit {run.exit_code}): {run.output.strip()[-300:]}")
    log.detail(f"smoke test under wasmtime: {SMOKE_EXPECTED}")
    return SMOKE_EXPECTED


def reproduce_from_store(ws: Workspace, store_url: str, target: Target, version: str, public_key: PublicKey,
                         seen: SeenVersions, workdir: Path) -> ReproduceResult:
    """Pull the release (signature and hashes verified), then rebuild it from scratch and compare."""
    published = workdir / "published"
    pull(open_store(store_url), PullRequest(
        target_id=target.id, version=version, dest=published, public_key=public_key, seen=seen,
        schema=ws.paths.schemas / "index.schema.json", now=datetime.now(timezone.utc), force=True,
    ))
    return reproduce(ws, published / "manifest.json", workdir=workdir / "rebuild")
