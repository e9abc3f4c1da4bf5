"""Advisory locks (fcntl.flock) that wait a bounded time, then fail naming who holds them.

A lock file is never deleted: deleting it would let a second process lock a fresh inode while a
third still holds the old one. The kernel drops a lock when its holder dies, even by kill -9, so
a crashed run never leaves a stale lock behind.
"""

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from wasmforge.core import log
from wasmforge.core.errors import LockError

POLL_SECONDS = 0.05


@contextmanager
def locked(path: Path, what: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block; wait up to `timeout`
    seconds for another holder, then raise LockError naming the lock file and its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, path, what, timeout)
        # Who holds it, for the message a waiting process prints; advisory, never trusted.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({_command()})\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """True when some process holds `path` locked now (a leftover nobody holds is stale)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise LockError(
                f"{what} is busy: {path} is locked by {holder(path)}; waited {timeout:g} s "
                "(let it finish, or raise WASMFORGE_LOCK_TIMEOUT)"
            )
        if not announced:
            log.detail(f"waiting for {what}: {path} is locked by {holder(path)}")
            announced = True
        time.sleep(POLL_SECONDS)


def holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


def _command() -> str:
    return " ".join(os.path.basename(arg) if i == 0 else arg for i, arg in enumerate(sys.argv[:3]))[:80]
