"""The smoke test: an artifact matches its manifest and its interpreter does real work with every
extension module the builds promise, on its flavor's own runtime."""

from pathlib import Path

from wasmforge.core import log
from wasmforge.core.errors import BuildError, RuntimeUnavailableError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import read_manifest
from wasmforge.model.matrix import Target
from wasmforge.verifying.runtimes import PythonJob, runtime_for

SMOKE_CODE = (
    "import zlib, bz2, lzma, sqlite3, decimal, json; "
    "print('wasmforge-smoke', zlib.crc32(b'wasmforge'), decimal.Decimal(1) / decimal.Decimal(8), "
    "sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0])"
)
SMOKE_EXPECTED = "wasmforge-smoke 843480468 0.125 42"
CHECKSUMS_ONLY = "checksums only"


def smoke_test(target: Target, dist: Path) -> str:
    """Every output matches the manifest, then SMOKE_CODE runs on the target's runtime. Without
    that runtime on this machine, only the checksums are checked, and said so."""
    manifest = read_manifest(dist / "manifest.json")
    for output in manifest.outputs:
        if sha256_file(dist / output.name) != output.sha256:
            raise BuildError(f"{dist / output.name}: does not match its manifest")
    runtime = runtime_for(target)
    try:
        runtime.check()
    except RuntimeUnavailableError as exc:
        log.warning(f"{target.id}: no runtime smoke test here: {exc}")
        return CHECKSUMS_ONLY
    run = runtime.run_python(dist, PythonJob(args=("-c", SMOKE_CODE), timeout_seconds=300))
    if run.exit_code != 0 or SMOKE_EXPECTED not in run.output:
        raise BuildError(f"{target.id}: smoke test failed on {runtime.name} (exit {run.exit_code}): {run.output.strip()[-300:]}")
    log.detail(f"smoke test on {runtime.name}: {SMOKE_EXPECTED}")
    return SMOKE_EXPECTED
