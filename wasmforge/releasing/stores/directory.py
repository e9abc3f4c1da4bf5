"""A store in a local directory; serve that directory over HTTP and it is a read-only mirror.

    index.json, index.json.sig           the signed index of every release: symlinks into current/
    cross-build-environments.json        every published cross-build environment (derived from
                                         the index, swapped with it: a symlink into current/)
    current -> index-versions/<sha256>   the folder holding the current pair, swapped in one rename
    .publish.lock                        taken by publishers (core/locks.py)
    blobs/sha256/<hex>                   every file of every release, by content
    releases/<version>/<target>/         SHA256SUMS, SHA256SUMS.sig, provenance.intoto.json, and
                                         any xbuildenv, wheels/ and simple/ (a PEP 503 index), under
                                         readable names for people, shell tools and pip
"""

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wasmforge.core.errors import SignatureError, StoreError
from wasmforge.core import faults
from wasmforge.core.files import copy_atomic, fsync_directory, write_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import CHECKSUMS
from wasmforge.releasing.release_index import CHECKSUMS_SIGNATURE, INDEX, INDEX_SIGNATURE, PROVENANCE, Release
from wasmforge.releasing.wheel_release import is_wheel_file
from wasmforge.releasing.xbuildenv_release import ENVIRONMENTS, environment_name, environments_document
from .base import MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES, SignedIndex, check_digest, read_limited

RELEASE_COPIES = (CHECKSUMS, CHECKSUMS_SIGNATURE, PROVENANCE)
CURRENT = "current"
VERSIONS = "index-versions"
# Index pairs kept besides the current one, for readers that resolved `current` just before a swap.
KEEP_PREVIOUS = 2


@dataclass(frozen=True)
class DirectoryStore:
    url: str
    root: Path

    @property
    def location(self) -> str:
        return self.root.resolve().as_uri()

    def read_index(self) -> SignedIndex | None:
        # Resolve `current` once, so that the index and its signature come from one pair even
        # while a publisher swaps in the next one.
        # (Names edited by hand, not the links a publisher made, are read as they are.)
        folder = self.root
        if (self.root / CURRENT).is_symlink() and all(self._links_to_current(name) for name in (INDEX, INDEX_SIGNATURE)):
            folder = self.root / VERSIONS / os.path.basename(os.readlink(self.root / CURRENT))
        index = folder / INDEX
        if not index.is_file():
            return None
        signature = folder / INDEX_SIGNATURE
        if not signature.is_file():
            raise SignatureError(f"{self.url}: {INDEX} has no {INDEX_SIGNATURE}; refusing an unsigned index")
        with index.open("rb") as handle:
            data = read_limited(handle, MAX_INDEX_BYTES, f"{self.url}: {INDEX}")
        with signature.open("rb") as handle:
            sig = read_limited(handle, MAX_SIGNATURE_BYTES, f"{self.url}: {INDEX_SIGNATURE}")
        return SignedIndex(data=data, signature=sig)

    def _links_to_current(self, name: str) -> bool:
        link = self.root / name
        return link.is_symlink() and os.readlink(link) == f"{CURRENT}/{name}"

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
        extras = [item.name for item in release.files if is_wheel_file(item.name) or item.name == environment_name(release.target)]
        for name in [*RELEASE_COPIES, *extras]:
            (readable / name).parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(files / name, readable / name, mode=0o644)
        return str(readable)

    def publish_lock(self) -> Path:
        return self.root / ".publish.lock"

    def write_index(self, signed: SignedIndex) -> None:
        """Write the pair into a new folder, then point `current` at it with one rename: a
        reader, or a crash at any instant, sees the old pair or the new one, never a mix."""
        name = hashlib.sha256(signed.data).hexdigest()[:32]
        folder = self.root / VERSIONS / name
        write_atomic(folder / INDEX, signed.data, mode=0o644)
        write_atomic(folder / INDEX_SIGNATURE, signed.signature, mode=0o644)
        releases = [Release.from_json(item) for item in json.loads(signed.data)["releases"]]
        write_atomic(folder / ENVIRONMENTS, environments_document(releases), mode=0o644)
        faults.point("store-index-pair-written")
        _symlink_atomic(self.root / CURRENT, f"{VERSIONS}/{name}")
        # The fixed names only change once, when a store of plain files is first written this way.
        for fixed in (INDEX, INDEX_SIGNATURE, ENVIRONMENTS):
            if not self._links_to_current(fixed):
                _symlink_atomic(self.root / fixed, f"{CURRENT}/{fixed}")
        self._prune(keep=name)

    def _prune(self, keep: str) -> None:
        folders = sorted((p for p in (self.root / VERSIONS).iterdir() if p.name != keep),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in folders[KEEP_PREVIOUS:]:
            shutil.rmtree(old, ignore_errors=True)

    def _put_blob(self, source: Path, sha256: str) -> None:
        target = self.blob_path(sha256)
        # Content addressing makes an existing blob reusable, but only if it is intact.
        if target.is_file() and sha256_file(target) == sha256:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(source, target, mode=0o644)


def _symlink_atomic(path: Path, target: str) -> None:
    """Make `path` a symlink to `target` by renaming a new link over it (atomic, unlike unlink+symlink)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(target, temporary)
    os.replace(temporary, path)
    fsync_directory(path.parent)
