"""Replace a whole directory so that a crash at any instant leaves a complete old or new copy.

The new copy is built in a staging folder beside the destination (`.<name>.partial-*`), then
swapped with the destination by one `renameat2(RENAME_EXCHANGE)`: the name points at the old
folder or the new one, never at nothing. Where the kernel or file system lacks that call, the
fallback is two renames with the old copy parked as `.<name>.old-*`; a crash between them leaves
no destination for a moment, and `recover` puts the old copy back.

Callers hold the destination's lock (`lock_path`) around `recover` and `replace_directory`, so
every leftover `recover` finds belongs to a run that died.
"""

import ctypes
import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from wasmforge.core import faults
from wasmforge.core.files import fsync_directory

PARTIAL = "partial-"
OLD = "old-"
RENAME_EXCHANGE = 2
AT_FDCWD = -100
# Tests set this to exercise the two-rename fallback on a kernel that has renameat2.
NO_EXCHANGE_ENV = "WASMFORGE_TEST_NO_RENAME_EXCHANGE"


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def make_staging(dest: Path) -> Path:
    """An empty, private folder beside `dest` (same file system, so the swap is a rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.{PARTIAL}"))


def replace_directory(staging: Path, dest: Path) -> None:
    """Make the complete folder `staging` the new `dest`; the old `dest`, if any, is deleted."""
    parent = dest.parent
    if not dest.exists():
        staging.rename(dest)
        fsync_directory(parent)
        return
    if _exchange(staging, dest):
        fsync_directory(parent)
        faults.point("dirswap-exchanged")
        shutil.rmtree(staging)  # now the old copy
        return
    old = dest.with_name(f".{dest.name}.{OLD}{uuid.uuid4().hex[:8]}")
    dest.rename(old)
    faults.point("dirswap-between-renames")
    staging.rename(dest)
    fsync_directory(parent)
    shutil.rmtree(old)


def recover(dest: Path) -> list[str]:
    """Undo what an interrupted replacement of `dest` left beside it; return what was done.

    A missing destination with a parked old copy gets the old copy back (the new one may not have
    been verified yet); every other leftover, staged or parked, is deleted."""
    if not dest.parent.is_dir():
        return []
    done: list[str] = []
    leftovers = sorted(p for p in dest.parent.glob(f".{dest.name}.*") if _kind(p, dest) is not None)
    parked = [p for p in leftovers if _kind(p, dest) == OLD]
    if not dest.exists() and parked:
        parked[-1].rename(dest)
        fsync_directory(dest.parent)
        done.append(f"restored {dest} from {parked[-1].name} (an interrupted replacement)")
        leftovers.remove(parked[-1])
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover.name} (left by an interrupted run)")
    return done


def _kind(path: Path, dest: Path) -> str | None:
    rest = path.name.removeprefix(f".{dest.name}.")
    return next((kind for kind in (PARTIAL, OLD) if rest.startswith(kind)), None)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two names; False when this system cannot (then nothing happened)."""
    if os.environ.get(NO_EXCHANGE_ENV) == "1":
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:  # a C library older than glibc 2.28
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))
