"""The signed release index: every release in a store, findable by version and target.

index.json is validated with schemas/index.schema.json and then with the rules a schema cannot
say (unique names, unique version/target pairs). Its bytes are what index.json.sig signs, so it is
serialised once, deterministically, and never re-encoded between signing and storing.
"""

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import jsonschema

from wasmforge.core.errors import ReleaseIndexError, ReleaseNotFoundError

INDEX = "index.json"
INDEX_SIGNATURE = "index.json.sig"
CHECKSUMS_SIGNATURE = "SHA256SUMS.sig"
PROVENANCE = "provenance.intoto.json"
LATEST = "latest"

# Mirrors the schema's patterns; checked again in code because these strings become paths and tags.
# A release file is a relative path of up to eight plain segments ("python.wasm",
# "lib/python313.zip"): no empty, "." or ".." segment, no leading "/", no backslash, so a name can
# never leave the destination it is written under. A segment may start with a dot only inside a
# directory ("lib/python3.13/lib-dynload/.empty", a landmark CPython's getpath looks for).
_SEGMENT = r"[A-Za-z0-9._+-]{1,100}"
FILE_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,99}}(/{_SEGMENT}){{0,7}}")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TARGET = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
SHA256 = re.compile(r"[0-9a-f]{64}")
SERVE_SCHEMES = ("file", "http", "https", "oci")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(text: str) -> str:
    """One spelling of a store URL, for comparing where a store is served from: lowercase scheme
    and host, no default port, no trailing slash; a local path (or file:// URL) becomes the
    absolute file:// URL of its resolved path, as DirectoryStore.location spells it.
    Raises ValueError for what cannot name a store (another scheme, no host, a query)."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme == "":
        if not text.strip():
            raise ValueError("an empty URL")
        return Path(text.strip()).resolve().as_uri()
    if scheme not in SERVE_SCHEMES:
        raise ValueError(f"scheme '{scheme}' (use http(s)://, oci://, file:// or a local path)")
    if parts.query or parts.fragment or text.rstrip().endswith(("?", "#")):
        raise ValueError("a query or fragment")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("a file:// URL on another machine")
        return Path(url2pathname(parts.path) or "/").resolve().as_uri()
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL")
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    port = parts.port  # ValueError for a port that is not a number in range
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True, kw_only=True)
class ReleaseFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Release:
    version: str
    target: str
    python: str
    sdk: str
    sdk_version: str
    flavor: str
    flags: tuple[str, ...]
    source_date_epoch: int
    published: datetime
    manifest_sha256: str
    files: tuple[ReleaseFile, ...]

    def file(self, name: str) -> ReleaseFile | None:
        return next((f for f in self.files if f.name == name), None)

    def same_content(self, other: "Release") -> bool:
        """True when both name the same bytes (publishing twice is then a no-op)."""
        return sorted(self.files, key=lambda f: f.name) == sorted(other.files, key=lambda f: f.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "target": self.target,
            "python": self.python,
            "sdk": self.sdk,
            "sdk_version": self.sdk_version,
            "flavor": self.flavor,
            "flags": list(self.flags),
            "source_date_epoch": self.source_date_epoch,
            "published": format_time(self.published),
            "manifest_sha256": self.manifest_sha256,
            "files": [vars(f) for f in self.files],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Release":
        return cls(
            version=data["version"],
            target=data["target"],
            python=data["python"],
            sdk=data["sdk"],
            sdk_version=data["sdk_version"],
            flavor=data["flavor"],
            flags=tuple(data["flags"]),
            source_date_epoch=data["source_date_epoch"],
            published=parse_time(data["published"]),
            manifest_sha256=data["manifest_sha256"],
            files=tuple(ReleaseFile(**f) for f in data["files"]),
        )


@dataclass(frozen=True, kw_only=True)
class ReleaseIndex:
    store_id: str
    index_version: int
    key_id: str
    updated: datetime
    expires: datetime
    releases: tuple[Release, ...]
    # The URLs the store is meant to be served from (canonical_url spellings); empty: not said.
    serve_urls: tuple[str, ...] = ()

    def find(self, target: str, version: str) -> Release:
        """The release of `target` called `version`; `latest` is the most recently published."""
        candidates = [r for r in self.releases if r.target == target]
        if not candidates:
            have = ", ".join(sorted({r.target for r in self.releases})) or "none"
            raise ReleaseNotFoundError(f"the store has no release for target '{target}' (targets in the store: {have})")
        if version == LATEST:
            # Stable sort: among equal publish times the later index entry wins.
            return sorted(candidates, key=lambda r: r.published)[-1]
        for release in candidates:
            if release.version == version:
                return release
        have = ", ".join(r.version for r in sorted(candidates, key=lambda r: r.published, reverse=True))
        raise ReleaseNotFoundError(f"target '{target}' has no release '{version}' in the store (versions: {have})")

    def lookup(self, target: str, version: str) -> Release | None:
        return next((r for r in self.releases if r.target == target and r.version == version), None)

    def successor(self, key_id: str, now: datetime, expires: datetime, added: tuple[Release, ...],
                  version: int | None = None, serve_urls: tuple[str, ...] = ()) -> "ReleaseIndex":
        """The next index: one version higher (or `version`), freshly dated, with `added` appended;
        its serve URLs are `serve_urls` when given, else this index's."""
        return replace(
            self, index_version=version or self.index_version + 1, key_id=key_id, updated=now, expires=expires,
            releases=(*self.releases, *added), serve_urls=serve_urls or self.serve_urls,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schema_version": 1,
            "store_id": self.store_id,
            "index_version": self.index_version,
            "key_id": self.key_id,
            "updated": format_time(self.updated),
            "expires": format_time(self.expires),
            "releases": [r.to_json() for r in self.releases],
        }
        if self.serve_urls:  # absent rather than empty: an index without URLs keeps its old shape
            document["serve_urls"] = list(self.serve_urls)
        return document

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()


def empty_index(store_id: str, key_id: str, now: datetime) -> ReleaseIndex:
    """The index a store has before its first publish (version 0, so the first write is 1)."""
    return ReleaseIndex(store_id=store_id, index_version=0, key_id=key_id, updated=now, expires=now, releases=())


def parse_index(data: bytes, schema_path: Path, origin: str) -> ReleaseIndex:
    """Decode and validate index bytes; only call this on bytes whose signature was checked."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReleaseIndexError(f"{origin}: index.json is not JSON ({exc})") from None
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        raise ReleaseIndexError(f"{origin}: index.json {error.json_path}: {error.message}")
    try:
        index = ReleaseIndex(
            store_id=document["store_id"],
            index_version=document["index_version"],
            key_id=document["key_id"],
            updated=parse_time(document["updated"]),
            expires=parse_time(document["expires"]),
            releases=tuple(Release.from_json(r) for r in document["releases"]),
            serve_urls=tuple(document.get("serve_urls", ())),
        )
    except ValueError as exc:  # a timestamp of the right shape but an impossible date
        raise ReleaseIndexError(f"{origin}: index.json: {exc}") from None
    _check_rules(index, origin)
    return index


def _check_rules(index: ReleaseIndex, origin: str) -> None:
    for position, url in enumerate(index.serve_urls):
        try:
            canonical_url(url)
        except ValueError as exc:
            raise ReleaseIndexError(f"{origin}: index.json $.serve_urls[{position}]: {url!r} is not a store URL ({exc})") from None
    seen: set[tuple[str, str]] = set()
    for position, release in enumerate(index.releases):
        where = f"{origin}: index.json $.releases[{position}]"
        if (release.target, release.version) in seen:
            raise ReleaseIndexError(f"{where}: {release.target} {release.version} is listed twice")
        seen.add((release.target, release.version))
        names = [f.name for f in release.files]
        for name in names:
            if not is_safe_file_name(name):
                raise ReleaseIndexError(f"{where}: unsafe file name {name!r} (must be a relative path of plain names)")
        if len(set(names)) != len(names):
            raise ReleaseIndexError(f"{where}: a file name is listed twice")
        manifest = release.file("manifest.json")
        if manifest is None or manifest.sha256 != release.manifest_sha256:
            raise ReleaseIndexError(f"{where}: manifest_sha256 does not match the listed manifest.json")


def is_safe_file_name(name: str) -> bool:
    return FILE_NAME.fullmatch(name) is not None and not any(part in (".", "..") for part in name.split("/"))


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
