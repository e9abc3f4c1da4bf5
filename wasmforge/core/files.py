"""Files written whole or not at all, JSON read with one-line errors, and gzip sizes."""

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from wasmforge.core.errors import WasmforgeError

CHUNK = 1 << 20


@contextmanager
def atomic_output(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle whose bytes replace `path` when the block ends without an error, so that a
    reader, or the next run after a crash, sees the old file or the new one, never a mix: a
    uniquely named temporary file in the same directory, flushed to disk, renamed over the
    target, and the directory entry flushed too. On an error the temporary file is removed.
    `mode` defaults to what a plain write would get under the current umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode if mode is not None else 0o666 & ~_current_umask())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_atomic(path: Path, data: bytes | str, mode: int | None = None) -> None:
    with atomic_output(path, mode) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def copy_atomic(source: Path, destination: Path, mode: int | None = None) -> None:
    with source.open("rb") as reader, atomic_output(destination, mode) as handle:
        shutil.copyfileobj(reader, handle, CHUNK)


def copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    """Copy `source` to `target`, a new file (its folder is made), and return the size and sha256
    of the bytes copied: what was checked is what was written. FileNotFoundError if `source` is
    missing."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("xb") as out:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Pretty, key-sorted JSON, written with `write_atomic`."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, error: type[WasmforgeError], what: str = "file") -> Any:
    """Parse a JSON file; a missing file or bad JSON becomes `error` with one line naming the
    file and, for bad JSON, the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def gzip_size(data: bytes | Path) -> int:
    """Bytes after `gzip -9` with a fixed header (no name, mtime 0): what a server sends."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    return len(gzip.compress(raw, compresslevel=9, mtime=0))


def _current_umask() -> int:
    # os.umask can only be read by setting it; put it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current
