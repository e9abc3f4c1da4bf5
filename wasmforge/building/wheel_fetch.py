"""Sdists and build-requirement wheels from the package index, through pip, into the content cache.

pip is the ordinary client of the index (whatever index the host's pip is configured with, so no
host is named here). A locked file is downloaded with `--require-hashes`, so pip itself refuses
other bytes before it prepares anything, and the cache checks size and sha256 again on the way in.
Pinning a new file (`invoke lock-wheel`) is trust on first use: its sha256 is recorded as served.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from wasmforge.core import log
from wasmforge.core.cache import ContentCache
from wasmforge.core.errors import FetchError
from wasmforge.core.hashing import Pin, sha256_file
from wasmforge.model.wheel_lock import LockedFile

# Build requirements run on the toolchain image's python3: ask for pure-Python wheels whatever
# Python runs pip here.
PURE_WHEEL_ARGS = ("--only-binary", ":all:", "--implementation", "py", "--abi", "none", "--platform", "any")
SDIST_ARGS = ("--no-binary", ":all:")


def ensure_cached(locked: LockedFile, cache: ContentCache, *, sdist: bool) -> Path:
    """The locked file from the cache (re-verified), downloaded first if it is not there."""
    cached = cache.lookup(locked.pin())
    if cached is not None:
        log.detail(f"{locked.file}: cached, sha256 ok")
        return cached
    with cache.downloading(locked.sha256):
        cached = cache.lookup(locked.pin())
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="wf-pip-") as temp:
            requirement = Path(temp) / "requirements.txt"
            requirement.write_text(f"{locked.spec} --hash=sha256:{locked.sha256}\n")
            downloaded = _pip_download(["--require-hashes", "-r", str(requirement)], Path(temp) / "out", sdist, locked.spec)
            if downloaded.name != locked.file:
                raise FetchError(f"{locked.spec}: pip downloaded {downloaded.name}, the lock names {locked.file}")
            return cache.add(downloaded, locked.pin(), origin="pip download")


def download_new(spec: str, cache: ContentCache, *, sdist: bool) -> LockedFile:
    """Download `spec` as the index serves it today, put it in the cache and return its pin."""
    with tempfile.TemporaryDirectory(prefix="wf-pip-") as temp:
        downloaded = _pip_download([spec], Path(temp) / "out", sdist, spec)
        locked = LockedFile(spec=spec, file=downloaded.name, size=downloaded.stat().st_size, sha256=sha256_file(downloaded))
        cache.add(downloaded, Pin(name=locked.file, size=locked.size, sha256=locked.sha256), origin="pip download")
    return locked


def _pip_download(args: list[str], out: Path, sdist: bool, what: str) -> Path:
    kind = SDIST_ARGS if sdist else PURE_WHEEL_ARGS
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               *kind, "--dest", str(out), *args]
    log.detail(f"{what}: pip download ({'sdist' if sdist else 'pure-Python wheel'})")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        raise FetchError(f"{what}: pip download failed: {' '.join(lines[-3:])[-400:]}")
    files = sorted(out.iterdir()) if out.is_dir() else []
    if len(files) != 1:
        raise FetchError(f"{what}: pip download gave {len(files)} files ({', '.join(f.name for f in files)}), expected one")
    shutil.move(files[0], out.parent / files[0].name)
    return out.parent / files[0].name
