"""A content-addressed file cache: every file is stored under sha256/<hex> and re-verified on use.

Several processes share one cache (every checkout and CI job on a machine). Each entry has a lock
(locks/<hex>.lock) held while it is checked, removed or added, so that a process removing a
corrupt copy can never remove the good one another process has just put in its place; and each
download has a lock (locks/<hex>.download.lock), so that two fetches of one source download it
once, and any temporary download of that source found while holding it is a dead run's leftover.
"""

from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from wasmforge.core import faults
from wasmforge.core.errors import IntegrityError
from wasmforge.core.files import copy_atomic
from wasmforge.core.hashing import Pin, sha256_file
from wasmforge.core.locks import locked

# A waiting fetch may sit behind another's download of a large file.
DEFAULT_LOCK_TIMEOUT = 3600.0


@dataclass(frozen=True)
class ContentCache:
    root: Path
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def temp_dir(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def download_prefix(self, sha256: str) -> str:
        """Temporary downloads of one file start with this, so a leftover can be told apart."""
        return f"download-{sha256}-"

    @contextmanager
    def downloading(self, sha256: str) -> Iterator[list[str]]:
        """Hold the download lock of one file; yields the leftovers it removed (dead runs')."""
        with locked(self.root / "locks" / f"{sha256}.download.lock", f"the download of {sha256[:16]}…", self.lock_timeout):
            removed = []
            for leftover in self.temp_dir().glob(f"{self.download_prefix(sha256)}*"):
                leftover.unlink(missing_ok=True)
                removed.append(leftover.name)
            yield removed

    def lookup(self, pin: Pin) -> Path | None:
        """Return the cached file if present and intact; a corrupt entry is removed and reported."""
        path = self.path_for(pin.sha256)
        if not path.exists():
            return None
        with self._entry(pin.sha256):
            if not path.exists():
                return None
            problem = mismatch(path, pin, origin=f"cached copy {path}")
            if problem is None:
                return path
            faults.point("cache-entry-found-corrupt")
            path.unlink(missing_ok=True)
            raise IntegrityError(problem)

    def add(self, candidate: Path, pin: Pin, origin: str) -> Path:
        """Verify `candidate` against `pin` and move it into the cache. A bad candidate is deleted."""
        try:
            check_file(candidate, pin, origin=origin)
        except IntegrityError:
            candidate.unlink(missing_ok=True)
            raise
        target = self.path_for(pin.sha256)
        with self._entry(pin.sha256):
            # Temporary files of copy_atomic that a killed run left for this entry.
            for leftover in target.parent.glob(f".{target.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
            copy_atomic(candidate, target, mode=0o444)
        if candidate.resolve().parent == self.temp_dir().resolve():
            candidate.unlink()
        return target

    def _entry(self, sha256: str) -> AbstractContextManager[None]:
        return locked(self.root / "locks" / f"{sha256}.lock", f"cache entry {sha256[:16]}…", self.lock_timeout)


def mismatch(path: Path, pin: Pin, origin: str) -> str | None:
    """Why `path` is not the pinned file, or None when its size and sha256 match."""
    size = path.stat().st_size
    if size != pin.size:
        return f"{pin.name}: {origin} has size {size}, expected {pin.size}; removed it, fetch again"
    actual = sha256_file(path)
    if actual != pin.sha256:
        return f"{pin.name}: {origin} has sha256 {actual}, expected {pin.sha256}; removed it, fetch again"
    return None


def check_file(path: Path, pin: Pin, origin: str) -> None:
    """Raise IntegrityError (and delete the file) when size or sha256 differ from the pin."""
    problem = mismatch(path, pin, origin)
    if problem is not None:
        path.unlink(missing_ok=True)
        raise IntegrityError(problem)
