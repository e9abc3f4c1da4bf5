"""What every store offers: the signed index and blobs by sha256; writable stores also accept them."""

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from wasmforge.core.errors import StoreError
from wasmforge.releasing.release_index import SHA256, Release

# An index is read whole before its signature is checked; cap it so a hostile store cannot
# make pull swallow an endless stream.
MAX_INDEX_BYTES = 64 << 20
MAX_SIGNATURE_BYTES = 4096
CHUNK = 1 << 20
# The whole index must arrive within this, however slowly its bytes trickle in.
SMALL_READ_DEADLINE = 120.0


@dataclass(frozen=True)
class SignedIndex:
    data: bytes
    signature: bytes


class Store(Protocol):
    @property
    def url(self) -> str:
        """The store as the user named it, for messages."""
        ...

    @property
    def location(self) -> str:
        """The store's address in one canonical spelling (an absolute file:// URI, a URL without
        a trailing slash): what a client remembers the store's identity by."""
        ...

    def read_index(self) -> SignedIndex | None:
        """The index bytes and their signature; None when the store has no index yet."""
        ...

    def open_blob(self, sha256: str) -> AbstractContextManager[BinaryIO]:
        """A stream of the blob's bytes (unverified: the caller checks size and sha256)."""
        ...


@runtime_checkable
class WritableStore(Store, Protocol):
    def put_release(self, release: Release, files: Path) -> str:
        """Store every file of `release` (found by name in `files`); return where it can be seen."""
        ...

    def write_index(self, signed: SignedIndex) -> None:
        ...

    def publish_lock(self) -> Path | None:
        """A lock file inside the store that publishers take, or None when the store cannot hold
        one (then publishers lock on their own machine)."""
        ...


def read_limited(stream: BinaryIO, limit: int, what: str, deadline: float = SMALL_READ_DEADLINE) -> bytes:
    """At most `limit` bytes, within `deadline` seconds in all."""
    read = getattr(stream, "read1", stream.read)
    started = time.monotonic()
    parts: list[bytes] = []
    size = 0
    while chunk := read(min(CHUNK, limit + 1 - size)):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise StoreError(f"{what} is larger than {limit} bytes; refusing it")
        if time.monotonic() - started > deadline:
            raise StoreError(f"{what}: only {size} bytes arrived in {deadline:.0f} s; the store is too slow")
    return b"".join(parts)


def check_digest(sha256: str) -> str:
    """Blob names become paths and URLs: only ever accept a bare lowercase hex sha256."""
    if SHA256.fullmatch(sha256) is None:
        raise StoreError(f"not a sha256 digest: {sha256!r}")
    return sha256
