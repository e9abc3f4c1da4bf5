"""A store in a local directory; serve that directory over HTTP and it is a read-only mirror.

    index.json, index.json.sig           the signed index of every release
    blobs/sha256/<hex>                   every file of every release, by content
    releases/<version>/<target>/         SHA256SUMS, SHA256SUMS.sig and provenance.intoto.json,
                                         under readable names for people and shell tools
"""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wasmforge.core.errors import SignatureError, StoreError
from wasmforge.core.files import copy_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import CHECKSUMS
from wasmforge.releasing.release_index import CHECKSUMS_SIGNATURE, INDEX, INDEX_SIGNATURE, PROVENANCE, Release
from .base import MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES, SignedIndex, check_digest, read_limited

RELEASE_COPIES = (CHECKSUMS, CHECKSUMS_SIGNATURE, PROVENANCE)


@dataclass(frozen=True)
class DirectoryStore:
    url: str
    root: Path

    @property
    def location(self) -> str:
        return self.root.resolve().as_uri()

    def read_index(self) -> SignedIndex | None:
        index = self.root / INDEX
        if not index.is_file():
            return None
        signature = self.root / INDEX_SIGNATURE
        if not signature.is_file():
            raise SignatureError(f"{self.url}: {INDEX} has no {INDEX_SIGNATURE}; refusing an unsigned index")
        with index.open("rb") as handle:
            data = read_limited(handle, MAX_INDEX_BYTES, f"{self.url}: {INDEX}")
        with signature.open("rb") as handle:
            sig = read_limited(handle, MAX_SIGNATURE_BYTES, f"{self.url}: {INDEX_SIGNATURE}")
        return SignedIndex(data=data, signature=sig)

    def open_blob(self, sha256: str) -> BinaryIO:
        path = self.blob_path(sha256)
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise StoreError(f"{self.url}: blob sha256:{sha256} is missing from the store") from None

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / check_digest(sha256)

    def put_release(self, release: Release, files: Path) -> str:
        for item in release.files:
            self._put_blob(files / item.name, item.sha256)
        readable = self.root / "releases" / release.version / release.target
        readable.mkdir(parents=True, exist_ok=True)
        for name in RELEASE_COPIES:
            copy_atomic(files / name, readable / name, mode=0o644)
        return str(readable)

    def write_index(self, signed: SignedIndex) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Both files are complete before either is renamed, so a reader sees at worst a
        # mismatched pair for an instant (and then refuses it), never half a file.
        index_tmp = _write_temp(self.root, signed.data)
        signature_tmp = _write_temp(self.root, signed.signature)
        index_tmp.replace(self.root / INDEX)
        signature_tmp.replace(self.root / INDEX_SIGNATURE)

    def _put_blob(self, source: Path, sha256: str) -> None:
        target = self.blob_path(sha256)
        # Content addressing makes an existing blob reusable, but only if it is intact.
        if target.is_file() and sha256_file(target) == sha256:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(source, target, mode=0o644)


def _write_temp(directory: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".index.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(name, 0o644)
    return Path(name)
