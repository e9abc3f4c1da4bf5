"""What every store offers: the signed index and blobs by sha256; writable stores also accept them."""

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


@dataclass(frozen=True)
class SignedIndex:
    data: bytes
    signature: bytes


class Store(Protocol):
    @property
    def url(self) -> str:
        """The store as the user named it, for messages."""
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


def read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise StoreError(f"{what} is larger than {limit} bytes; refusing it")
    return data


def check_digest(sha256: str) -> str:
    """Blob names become paths and URLs: only ever accept a bare lowercase hex sha256."""
    if SHA256.fullmatch(sha256) is None:
        raise StoreError(f"not a sha256 digest: {sha256!r}")
    return sha256
