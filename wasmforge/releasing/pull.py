"""`invoke pull`: a release from a store, trusted only as far as the pinned key vouches for it.

Order matters: the index signature is checked before the index is even parsed, then its freshness,
then every file's size and sha256 while it streams into a staging folder next to the destination.
Only a fully verified release is swapped into place (core/dirswap.py: a complete old or new copy
at every instant, under the destination's lock); on any failure the staging folder is removed and
the destination is left as it was. What a killed run leaves is cleaned up by the next one.
"""

import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.client import HTTPException
from pathlib import Path

from wasmforge.core import dirswap, faults, log
from wasmforge.core.errors import IntegrityError, PullError, ReleaseIndexError, StoreError
from wasmforge.core.locks import locked
from wasmforge.releasing.freshness import (
    MAX_LIFETIME, SeenVersions, check_lifetime, check_not_expired, check_served_from,
)
from wasmforge.model.manifest import CHECKSUMS, MANIFEST, read_manifest
from wasmforge.releasing.release_index import (
    CHECKSUMS_SIGNATURE, Release, ReleaseFile, ReleaseIndex, format_time, is_safe_file_name, parse_index,
)
from wasmforge.releasing.signing import PublicKey
from wasmforge.releasing.stores import Store

CHUNK = 1 << 20
REQUIRED_FILES = (MANIFEST, CHECKSUMS, CHECKSUMS_SIGNATURE)


@dataclass(frozen=True, kw_only=True)
class TransferLimits:
    """How slow a download may be. Each read has its own timeout (stores/web.py); on top, a whole
    file must arrive within `grace` seconds plus its size at `min_rate` bytes a second, so a
    server trickling one byte at a time cannot hold a pull forever."""

    min_rate: int = 64 * 1024
    grace: float = 60.0

    def seconds_for(self, size: int) -> float:
        return self.grace + size / self.min_rate


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
    accept_new_store: bool = False
    limits: TransferLimits = field(default_factory=TransferLimits)
    max_lifetime: timedelta = MAX_LIFETIME
    lock_timeout: float = 300.0


@dataclass(frozen=True, kw_only=True)
class PullResult:
    release: Release
    dest: Path
    index_version: int


def pull(store: Store, request: PullRequest) -> PullResult:
    log.info(f"pull {request.target_id} {request.version} from {store.url}")
    index = verified_index(store, request)
    release = index.find(request.target_id, request.version)
    _check_required_files(release, store.url)
    total = sum(f.size for f in release.files)
    log.info(f"release {release.version} of {release.target} (published {format_time(release.published)}): "
             f"{len(release.files)} files, {log.format_bytes(total)}")
    dest = request.dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with locked(dirswap.lock_path(dest), f"destination {dest}", request.lock_timeout):
            for done in dirswap.recover(dest):
                log.detail(done)
            _check_destination(dest, request.force)
            _stage_and_swap(store, release, request)
    except OSError as exc:
        raise PullError(f"{dest}: cannot write the destination ({exc.strerror}: {exc.filename})") from None
    log.info(f"pulled {release.target} {release.version} into {dest}")
    return PullResult(release=release, dest=dest, index_version=index.index_version)


def _stage_and_swap(store: Store, release: Release, request: PullRequest) -> None:
    staging = dirswap.make_staging(request.dest)
    try:
        for item in release.files:
            download(store, item, staging, request.limits)
        faults.point("pull-downloaded")
        _check_release(staging, release, request.public_key)
        _sync_tree(staging)
        # mkdtemp made staging private (0700); the release itself is not secret.
        os.chmod(staging, 0o755)
        faults.point("pull-verified")
        dirswap.replace_directory(staging, request.dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def verified_index(store: Store, request: PullRequest) -> ReleaseIndex:
    signed = store.read_index()
    if signed is None:
        raise StoreError(f"{store.url}: no index.json; not a wasmforge store, or nothing was published to it yet")
    key = request.public_key
    key.verify(signed.data, signed.signature, f"{store.url}: index.json")
    index = parse_index(signed.data, request.schema, store.url)
    if index.key_id != key.key_id:
        raise ReleaseIndexError(f"{store.url}: index.json names key {index.key_id} but verified with {key.key_id}")
    check_lifetime(index, request.max_lifetime, store.url)
    check_not_expired(index, request.now, store.url)
    # Before the URL is remembered: a store refused here is never trusted at this URL.
    check_served_from(index, store.location, store.url)
    request.seen.check_and_record(index, store.url, store.location, request.accept_new_store)
    log.detail(f"index version {index.index_version}: signature ok (key {key.key_id[:19]}…), "
               f"expires {format_time(index.expires)}")
    return index


def download(store: Store, item: ReleaseFile, staging: Path, limits: TransferLimits = TransferLimits()) -> Path:
    """Stream one blob into staging, checking its size as it arrives, the time it takes against
    the deadline, and its sha256 at the end."""
    path = staging / item.name
    if not is_safe_file_name(item.name) or not path.resolve().is_relative_to(staging.resolve()):
        # parse_index already refuses such names; this guards the one place they would do harm.
        raise ReleaseIndexError(f"unsafe file name {item.name!r} in the index")
    path.parent.mkdir(parents=True, exist_ok=True)
    progress = _Progress(item)
    digest = hashlib.sha256()
    received = 0
    allowed = limits.seconds_for(item.size)
    started = time.monotonic()
    try:
        with store.open_blob(item.sha256) as stream, path.open("xb") as out:
            # read1 returns what has arrived instead of waiting for a whole chunk, so the
            # deadline is checked however slowly bytes come.
            read = getattr(stream, "read1", stream.read)
            # Ask for one byte beyond the listed size, so an oversized blob is caught, not truncated.
            while chunk := read(min(CHUNK, item.size - received + 1)):
                if time.monotonic() - started > allowed:
                    raise StoreError(
                        f"{item.name}: {store.url} sent {received} of {item.size} bytes in {allowed:.0f} s, slower than "
                        f"the minimum of {limits.min_rate} bytes/s; try again or use another mirror"
                    )
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


def _sync_tree(root: Path) -> None:
    """Flush every file and folder of a verified release to disk before it replaces the old one,
    so that after a power cut the destination is the old copy or a complete new one."""
    for path in sorted(root.rglob("*"), reverse=True):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
