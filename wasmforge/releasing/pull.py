"""`invoke pull`: a release from a store, trusted only as far as the pinned key vouches for it.

Order matters: the index signature is checked before the index is even parsed, then its freshness,
then every file's size and sha256 while it streams into a staging folder next to the destination.
Only a fully verified release is renamed into place; on any failure the staging folder is removed
and the destination is left as it was.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException
from pathlib import Path

from wasmforge.core import log
from wasmforge.core.errors import IntegrityError, PullError, ReleaseIndexError, StoreError
from wasmforge.releasing.freshness import SeenVersions, check_not_expired
from wasmforge.model.manifest import CHECKSUMS, MANIFEST, read_manifest
from wasmforge.releasing.release_index import (
    CHECKSUMS_SIGNATURE, Release, ReleaseFile, ReleaseIndex, format_time, is_safe_file_name, parse_index,
)
from wasmforge.releasing.signing import PublicKey
from wasmforge.releasing.stores import Store

CHUNK = 1 << 20
REQUIRED_FILES = (MANIFEST, CHECKSUMS, CHECKSUMS_SIGNATURE)


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    target_id: str
    version: str
    dest: Path
    public_key: PublicKey
    seen: SeenVersions
    schema: Path
    now: datetime
    force: bool = False


@dataclass(frozen=True, kw_only=True)
class PullResult:
    release: Release
    dest: Path
    index_version: int


def pull(store: Store, request: PullRequest) -> PullResult:
    log.info(f"pull {request.target_id} {request.version} from {store.url}")
    index = verified_index(store, request.public_key, request.schema, request.seen, request.now)
    release = index.find(request.target_id, request.version)
    _check_required_files(release, store.url)
    _check_destination(request.dest, request.force)
    total = sum(f.size for f in release.files)
    log.info(f"release {release.version} of {release.target} (published {format_time(release.published)}): "
             f"{len(release.files)} files, {log.format_bytes(total)}")
    request.dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=request.dest.parent, prefix=f".{request.dest.name}.partial-"))
    try:
        for item in release.files:
            download(store, item, staging)
        _check_release(staging, release, request.public_key)
        _move_into_place(staging, request.dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info(f"pulled {release.target} {release.version} into {request.dest}")
    return PullResult(release=release, dest=request.dest, index_version=index.index_version)


def verified_index(store: Store, key: PublicKey, schema: Path, seen: SeenVersions, now: datetime) -> ReleaseIndex:
    signed = store.read_index()
    if signed is None:
        raise StoreError(f"{store.url}: no index.json; not a wasmforge store, or nothing was published to it yet")
    key.verify(signed.data, signed.signature, f"{store.url}: index.json")
    index = parse_index(signed.data, schema, store.url)
    if index.key_id != key.key_id:
        raise ReleaseIndexError(f"{store.url}: index.json names key {index.key_id} but verified with {key.key_id}")
    check_not_expired(index, now, store.url)
    seen.check_and_record(index, store.url)
    log.detail(f"index version {index.index_version}: signature ok (key {key.key_id[:19]}…), "
               f"expires {format_time(index.expires)}")
    return index


def download(store: Store, item: ReleaseFile, staging: Path) -> Path:
    """Stream one blob into staging, checking its size as it arrives and its sha256 at the end."""
    path = staging / item.name
    if not is_safe_file_name(item.name) or not path.resolve().is_relative_to(staging.resolve()):
        # parse_index already refuses such names; this guards the one place they would do harm.
        raise ReleaseIndexError(f"unsafe file name {item.name!r} in the index")
    path.parent.mkdir(parents=True, exist_ok=True)
    progress = _Progress(item)
    digest = hashlib.sha256()
    received = 0
    try:
        with store.open_blob(item.sha256) as stream, path.open("xb") as out:
            # Ask for one byte beyond the listed size, so an oversized blob is caught, not truncated.
            while chunk := stream.read(min(CHUNK, item.size - received + 1)):
                received += len(chunk)
                if received > item.size:
                    raise IntegrityError(f"{item.name}: {store.url} sent more than the {item.size} bytes the signed index lists")
                digest.update(chunk)
                out.write(chunk)
                progress.update(received)
    except (OSError, HTTPException) as exc:
        raise StoreError(f"{item.name}: download from {store.url} failed ({exc})") from None
    if received != item.size:
        raise IntegrityError(f"{item.name}: {store.url} sent {received} bytes, the signed index lists {item.size}")
    actual = digest.hexdigest()
    if actual != item.sha256:
        raise IntegrityError(
            f"{item.name}: {store.url} sent sha256 {actual}, the signed index lists {item.sha256} (tampered or corrupt blob)"
        )
    progress.done()
    return path


def _check_required_files(release: Release, origin: str) -> None:
    for name in REQUIRED_FILES:
        if release.file(name) is None:
            raise ReleaseIndexError(f"{origin}: release {release.version} of {release.target} lists no {name}")


def _check_release(staging: Path, release: Release, key: PublicKey) -> None:
    """Cross-check the verified files: the signed checksums and the manifest must agree with the index."""
    checksums = (staging / CHECKSUMS).read_bytes()
    key.verify(checksums, (staging / CHECKSUMS_SIGNATURE).read_bytes(), f"{release.target} {release.version}: {CHECKSUMS}")
    for line in checksums.decode("utf-8", "replace").splitlines():
        sha256, _, name = line.partition("  ")
        listed = release.file(name)
        if listed is None or listed.sha256 != sha256:
            raise IntegrityError(f"{CHECKSUMS} lists {name!r} with sha256 {sha256}, which the signed index does not")
    manifest = read_manifest(staging / MANIFEST)
    if manifest.target.get("id") != release.target:
        raise IntegrityError(f"{MANIFEST} is for target {manifest.target.get('id')!r}, the index says {release.target!r}")
    for output in manifest.outputs:
        listed = release.file(output.name)
        if listed is None or (listed.size, listed.sha256) != (output.size, output.sha256):
            raise IntegrityError(f"{MANIFEST} lists {output.name} but the release does not carry that file")


def _check_destination(dest: Path, force: bool) -> None:
    if not dest.exists():
        return
    if not dest.is_dir():
        raise PullError(f"{dest} exists and is not a directory; choose another --dest")
    if any(dest.iterdir()) and not force:
        raise PullError(f"{dest} exists and is not empty; pass --force to replace it, or choose another --dest")


def _move_into_place(staging: Path, dest: Path) -> None:
    # mkdtemp made staging private (0700); the release itself is not secret.
    os.chmod(staging, 0o755)
    if not dest.exists():
        staging.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
    dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


class _Progress:
    """One line per file; on a terminal it counts up in place, in a log it adds a line every few MiB."""

    def __init__(self, item: ReleaseFile) -> None:
        self.item = item
        self.interactive = sys.stderr.isatty()
        self.step = CHUNK if self.interactive else 8 * CHUNK
        self.next_report = self.step

    def update(self, received: int) -> None:
        if received < self.next_report or received >= self.item.size:
            return
        self.next_report = received + self.step
        line = f"    {self.item.name:<24} {received * 100 // self.item.size:3d}% of {log.format_bytes(self.item.size)}"
        if self.interactive:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        line = f"    {self.item.name:<24} {log.format_bytes(self.item.size):>11}  sha256 ok"
        # \x1b[K clears what is left of a longer in-place progress line.
        print(f"\r{line}\x1b[K" if self.interactive else line, file=sys.stderr, flush=True)
