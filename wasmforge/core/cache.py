"""A content-addressed file cache: every file is stored under sha256/<hex> and re-verified on use."""

from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.errors import IntegrityError
from wasmforge.core.files import copy_atomic
from wasmforge.core.hashing import Pin, sha256_file


@dataclass(frozen=True)
class ContentCache:
    root: Path

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def temp_dir(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def lookup(self, pin: Pin) -> Path | None:
        """Return the cached file if present and intact; a corrupt entry is removed and reported."""
        path = self.path_for(pin.sha256)
        if not path.exists():
            return None
        check_file(path, pin, origin=f"cached copy {path}")
        return path

    def add(self, candidate: Path, pin: Pin, origin: str) -> Path:
        """Verify `candidate` against `pin` and move it into the cache. A bad candidate is deleted."""
        try:
            check_file(candidate, pin, origin=origin)
        except IntegrityError:
            candidate.unlink(missing_ok=True)
            raise
        target = self.path_for(pin.sha256)
        copy_atomic(candidate, target, mode=0o444)
        if candidate.resolve().parent == self.temp_dir().resolve():
            candidate.unlink()
        return target


def check_file(path: Path, pin: Pin, origin: str) -> None:
    """Raise IntegrityError (and delete the file) when size or sha256 differ from the pin."""
    size = path.stat().st_size
    if size != pin.size:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{pin.name}: {origin} has size {size}, expected {pin.size}; removed it, fetch again"
        )
    actual = sha256_file(path)
    if actual != pin.sha256:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{pin.name}: {origin} has sha256 {actual}, expected {pin.sha256}; removed it, fetch again"
        )
