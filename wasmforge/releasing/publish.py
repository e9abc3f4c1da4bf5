"""`invoke publish`: a verified dist directory becomes a signed release in a store.

The dist files are copied into a private staging folder and checked there against manifest.json,
so what is uploaded is exactly what was checked; every argument and the dist folder are checked
before anything is written to the store. Under the store's publish lock, the store's current index
is verified with the publishing key and compared with what this publisher last signed there
(publisher_state.py) before it is extended: a tampered or rolled-back store is never signed over.
"""

import hashlib
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from wasmforge.core import faults, log
from wasmforge.core.errors import PublishError, StaleIndexError, StoreIdentityError
from wasmforge.core.files import copy_hashed
from wasmforge.core.hashing import sha256_file
from wasmforge.core.locks import locked
from wasmforge.model.manifest import CHECKSUMS, MANIFEST, Manifest, read_manifest
from wasmforge.releasing.freshness import MAX_LIFETIME
from wasmforge.releasing.provenance import statement_bytes, subjects_for
from wasmforge.releasing.publisher_state import PublisherState, SignedRecord
from wasmforge.releasing.release_index import (
    CHECKSUMS_SIGNATURE, PROVENANCE, TARGET, VERSION, Release, ReleaseFile, ReleaseIndex,
    canonical_url, empty_index, format_time, is_safe_file_name, parse_index,
)
from wasmforge.releasing.signing import SigningKey
from wasmforge.releasing.stores import SignedIndex, WritableStore
from wasmforge.releasing.wheel_release import WheelSet, stage_wheels
from wasmforge.releasing.xbuildenv_release import stage_xbuildenv

DEFAULT_EXPIRY = timedelta(days=30)
# The schema's limits on serve_urls.
MAX_SERVE_URLS = 32
MAX_SERVE_URL = 2048


@dataclass(frozen=True, kw_only=True)
class PublishRequest:
    target_id: str
    dist: Path
    version: str
    key: SigningKey
    schema: Path
    now: datetime
    state: PublisherState
    expires_in: timedelta = DEFAULT_EXPIRY
    # The index version of a store restored from a backup that this publisher may extend although
    # it signed a newer one (its next index then gets a version above both).
    recover_from: int | None = None
    # The URLs the store is meant to be served from (--serve-url); when given they replace the
    # index's list, when empty the index keeps the list it has (if any).
    serve_urls: tuple[str, ...] = ()
    # Wheels built for this artifact, published in the same release with a PEP 503 index.
    wheels: WheelSet | None = None
    # The artifact's cross-build environment (`invoke xbuildenv`), published in the same release.
    xbuildenv: Path | None = None


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    release: Release
    index: ReleaseIndex
    location: str
    already_published: bool


def publish(store: WritableStore, request: PublishRequest) -> PublishResult:
    _check_request(request)
    request = replace(request, serve_urls=_canonical_serve_urls(request.serve_urls))
    now = request.now.replace(microsecond=0)
    log.info(f"publish {request.target_id} {request.version} from {request.dist} to {store.url}")
    with tempfile.TemporaryDirectory(prefix="wasmforge-publish-") as tmp:
        staging = Path(tmp)
        # Staged and checked first: a bad dist folder writes nothing to the store.
        release = _stage_release(request, staging, now)
        with locked(_lock_path(store, request.state), f"publishing to {store.url}", request.state.lock_timeout):
            return _publish_locked(store, request, release, staging, now)


def _publish_locked(store: WritableStore, request: PublishRequest, release: Release, staging: Path,
                    now: datetime) -> PublishResult:
    signed = store.read_index()
    current = _current_index(store, signed, request, now)
    floor = _check_continuity(store, signed, current, request)
    existing = current.lookup(release.target, release.version)
    if existing is not None and not existing.same_content(release):
        raise PublishError(
            f"{release.target} {release.version} is already in {store.url} with different files; "
            "releases are immutable, publish under another --version"
        )
    if existing is None:
        for item in release.files:
            log.detail(f"{item.name:<24} {log.format_bytes(item.size):>11}  sha256 {item.sha256[:16]}…")
        location = store.put_release(release, staging)
    else:
        log.detail("already published with identical files; re-signing the index with a fresh expiry")
        release, location = existing, "unchanged"
    faults.point("publish-release-stored")
    added = () if existing is not None else (release,)
    index = current.successor(request.key.public.key_id, now, now + request.expires_in, added, version=floor + 1,
                              serve_urls=request.serve_urls)
    _report_serve_urls(store, current, index)
    data = _write_index(store, index, request)
    faults.point("publish-index-written")
    request.state.record(store.location, SignedRecord(
        store_id=index.store_id, index_version=index.index_version, index_sha256=hashlib.sha256(data).hexdigest(),
    ))
    log.info(f"published {release.target} {release.version}: {location}")
    log.detail(f"index version {index.index_version}, expires {format_time(index.expires)}, key {index.key_id}")
    return PublishResult(release=release, index=index, location=location, already_published=existing is not None)


def _check_request(request: PublishRequest) -> None:
    # Both strings become store paths and OCI tags.
    if VERSION.fullmatch(request.version) is None:
        raise PublishError(
            f"version '{request.version}' is not usable: up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. nightly-2026-11-25 or v1.2.0)"
        )
    if request.version == "latest":
        raise PublishError("'latest' is what pull calls the newest release; choose another --version")
    if TARGET.fullmatch(request.target_id) is None:
        raise PublishError(f"target id '{request.target_id}' cannot be published (not a store-safe name)")
    if not timedelta(0) < request.expires_in <= MAX_LIFETIME:
        raise PublishError(
            f"--expires-days must be between 1 and {MAX_LIFETIME.days} (pull refuses an index valid for longer), "
            f"not {request.expires_in.days}"
        )
    if request.wheels is not None and request.wheels.tags.target_id != request.target_id:
        raise PublishError(f"wheels for {request.wheels.tags.target_id} cannot be published with {request.target_id}")
    if request.recover_from is not None and request.recover_from < 0:
        raise PublishError(f"--recover-from must be an index version (0 or more), not {request.recover_from}")


def _canonical_serve_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The --serve-url list as the index will hold it, checked against the schema's limits
    before anything is written (a list the schema refuses would fail only after the blobs)."""
    canonical: list[str] = []
    for url in urls:
        try:
            spelled = canonical_url(url)
        except ValueError as exc:
            raise PublishError(f"--serve-url {url!r} cannot name a store ({exc})") from None
        if len(spelled) > MAX_SERVE_URL or any(c.isspace() for c in spelled):
            raise PublishError(f"--serve-url {url!r} cannot name a store (whitespace, or longer than {MAX_SERVE_URL})")
        if spelled not in canonical:
            canonical.append(spelled)
    if len(canonical) > MAX_SERVE_URLS:
        raise PublishError(f"--serve-url given {len(canonical)} times; a store lists at most {MAX_SERVE_URLS} URLs")
    return tuple(canonical)


def _report_serve_urls(store: WritableStore, current: ReleaseIndex, index: ReleaseIndex) -> None:
    if not index.serve_urls:
        return
    if index.serve_urls != current.serve_urls:
        log.info(f"the index now names the URLs the store is served from: {', '.join(index.serve_urls)}")
    if canonical_url(store.location) not in index.serve_urls:
        log.detail(f"{store.location} itself is not one of them: pull refuses the store there")


def _lock_path(store: WritableStore, state: PublisherState) -> Path:
    own = store.publish_lock()
    if own is not None:
        return own
    return state.locks_dir() / f"publish-{hashlib.sha256(store.location.encode()).hexdigest()[:16]}.lock"


def _check_continuity(store: WritableStore, signed: SignedIndex | None, current: ReleaseIndex,
                      request: PublishRequest) -> int:
    """The store's index must be the one this publisher last signed there (or a newer one signed
    with the same key); anything older or different is refused unless --recover-from names it.
    Returns the version the next index must exceed."""
    last = request.state.last_signed(store.location)
    have = current.index_version
    if last is None:
        return have
    digest = hashlib.sha256(signed.data).hexdigest() if signed is not None else None
    same_store = signed is not None and current.store_id == last.store_id
    if same_store and (have, digest) == (last.index_version, last.index_sha256):
        return have
    if same_store and have > last.index_version:
        log.warning(f"{store.url}: index version {have} is newer than the {last.index_version} this publisher signed "
                    "(another publisher with this key, or a publish interrupted after writing the index)")
        return have
    if request.recover_from is not None and request.recover_from == have:
        log.warning(f"{store.url}: extending index version {have} as --recover-from asks; this publisher signed "
                    f"version {last.index_version}, so the next index is {max(have, last.index_version) + 1}")
        return max(have, last.index_version)
    found = "no index" if signed is None else f"index version {have} of store {current.store_id}"
    if signed is not None and not same_store:
        raise StoreIdentityError(
            f"{store.url}: holds {found}, but this publisher last signed version {last.index_version} of store "
            f"{last.store_id} there; refusing to publish (pass --recover-from {have} if this is deliberate)"
        )
    raise StaleIndexError(
        f"{store.url}: holds {found}, but this publisher last signed version {last.index_version} "
        f"(sha256 {last.index_sha256[:16]}…) there: the store was rolled back or replaced; refusing to publish over it "
        f"(if it was restored from a backup, pass --recover-from {have})"
    )


def _current_index(store: WritableStore, signed: SignedIndex | None, request: PublishRequest,
                   now: datetime) -> ReleaseIndex:
    if signed is None:
        last = request.state.last_signed(store.location)
        if last is not None and request.recover_from == 0:
            # A wiped store gets its old identity back, so its clients keep trusting it.
            return empty_index(last.store_id, request.key.public.key_id, now)
        log.detail(f"{store.url} has no index yet; starting one")
        return empty_index(uuid.uuid4().hex, request.key.public.key_id, now)
    request.key.public.verify(signed.data, signed.signature, f"{store.url}: existing index.json (is --key the store's key?)")
    return parse_index(signed.data, request.schema, store.url)


def _stage_release(request: PublishRequest, staging: Path, now: datetime) -> Release:
    manifest = _stage_dist(request.dist, request.target_id, staging)
    checksums = (staging / CHECKSUMS).read_bytes()
    (staging / CHECKSUMS_SIGNATURE).write_bytes(request.key.sign(checksums))
    manifest_record = _record(staging, MANIFEST)
    subjects = subjects_for(manifest, manifest_record.sha256, manifest_record.size)
    (staging / PROVENANCE).write_bytes(statement_bytes(manifest, subjects))
    extras = [CHECKSUMS, CHECKSUMS_SIGNATURE, PROVENANCE]
    if request.xbuildenv is not None:
        extras.append(stage_xbuildenv(request.xbuildenv, request.target_id, manifest_record.sha256, staging))
    if request.wheels is not None:
        extras += stage_wheels(request.wheels, staging)
    files = (*subjects, *(_record(staging, name) for name in extras))
    target = manifest.target
    return Release(
        version=request.version,
        target=request.target_id,
        python=str(target["python"]),
        sdk=str(target["sdk"]),
        sdk_version=str(target["sdk_version"]),
        flavor=str(target["flavor"]),
        flags=tuple(target["flags"]),
        source_date_epoch=manifest.source_date_epoch,
        published=now,
        manifest_sha256=manifest_record.sha256,
        files=files,
    )


def _stage_dist(dist: Path, target_id: str, staging: Path) -> Manifest:
    """Copy the dist files into staging and check the copies against manifest.json."""
    manifest = read_manifest(dist / MANIFEST)
    built_for = manifest.target.get("id")
    if built_for != target_id:
        raise PublishError(f"{dist}: manifest.json is for target '{built_for}', not '{target_id}'")
    missing = [key for key in ("python", "sdk", "sdk_version", "flavor", "flags") if key not in manifest.target]
    if missing:
        raise PublishError(f"{dist}: manifest.json target lacks {', '.join(missing)}; rebuild with `invoke build`")
    listed = {o.name for o in manifest.outputs}
    for output in manifest.outputs:
        if not is_safe_file_name(output.name) or output.name in (CHECKSUMS_SIGNATURE, PROVENANCE):
            raise PublishError(f"{dist}: output name {output.name!r} cannot be published")
        size, sha256 = _copy_hashed(dist / output.name, staging / output.name, dist)
        if (size, sha256) != (output.size, output.sha256):
            raise PublishError(
                f"{dist}/{output.name}: has size {size} and sha256 {sha256}, manifest.json says "
                f"{output.size} and {output.sha256}; the dist directory changed after the build, rebuild it"
            )
    present = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}
    for extra in sorted(present - listed - {MANIFEST, CHECKSUMS}):
        log.warning(f"{dist}/{extra} is not in manifest.json; not publishing it")
    _copy_hashed(dist / MANIFEST, staging / MANIFEST, dist)
    _copy_hashed(dist / CHECKSUMS, staging / CHECKSUMS, dist)
    expected = "".join(f"{o.sha256}  {o.name}\n" for o in manifest.outputs)
    expected += f"{_record(staging, MANIFEST).sha256}  {MANIFEST}\n"
    if (staging / CHECKSUMS).read_text(encoding="utf-8", errors="replace") != expected:
        raise PublishError(f"{dist}/{CHECKSUMS} does not match manifest.json; rebuild the dist directory")
    return manifest


def _copy_hashed(source: Path, target: Path, dist: Path) -> tuple[int, str]:
    try:
        return copy_hashed(source, target)
    except FileNotFoundError:
        raise PublishError(f"{dist}: {source.name} is missing; rebuild the dist directory") from None


def _record(staging: Path, name: str) -> ReleaseFile:
    path = staging / name
    return ReleaseFile(name=name, size=path.stat().st_size, sha256=sha256_file(path))


def _write_index(store: WritableStore, index: ReleaseIndex, request: PublishRequest) -> bytes:
    data = index.to_bytes()
    # Validate what is about to be signed: a malformed index must never carry a signature.
    parse_index(data, request.schema, "new index")
    store.write_index(SignedIndex(data=data, signature=request.key.sign(data)))
    return data

