"""Freshness and identity of a verified index: not expired, not signed for too long, not older
than one this machine has seen, and from the store this machine found at that URL before.

A signature proves who wrote an index, not when or for which store; without these checks a
mirror could keep serving an old, validly signed index (a rollback), or another store signed by
the same key could be put at a known URL (a replay) to hide a newer release.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from wasmforge.core import faults, log
from wasmforge.core.errors import ReleaseIndexError, StaleIndexError, StoreIdentityError
from wasmforge.core.files import write_json_atomic
from wasmforge.core.locks import locked
from wasmforge.releasing.release_index import ReleaseIndex, canonical_url, format_time

# The longest an index may be valid for: a key holder can still sign for longer, but a client
# will not believe it, so a leaked old index cannot be served for decades.
MAX_LIFETIME = timedelta(days=365)
DEFAULT_LOCK_TIMEOUT = 300.0


def check_not_expired(index: ReleaseIndex, now: datetime, origin: str) -> None:
    if now >= index.expires:
        raise StaleIndexError(
            f"{origin}: index version {index.index_version} expired at {format_time(index.expires)} "
            "(the store has not been re-signed; ask its publisher, or use a fresher mirror)"
        )


def check_lifetime(index: ReleaseIndex, max_lifetime: timedelta, origin: str) -> None:
    """An index must expire after it was signed, and within `max_lifetime` of it."""
    if index.expires <= index.updated:
        raise ReleaseIndexError(
            f"{origin}: index version {index.index_version} expires ({format_time(index.expires)}) "
            f"no later than it was signed ({format_time(index.updated)}); refusing it"
        )
    if index.expires - index.updated > max_lifetime:
        raise ReleaseIndexError(
            f"{origin}: index version {index.index_version} is valid until {format_time(index.expires)}, "
            f"more than {max_lifetime.days} days after it was signed; refusing it"
        )


def check_served_from(index: ReleaseIndex, location: str, origin: str) -> None:
    """An index that lists the URLs its store is served from is refused from any other URL:
    a signed statement, so --accept-new-store (trust on first use) does not override it."""
    if not index.serve_urls:
        return
    try:
        used = canonical_url(location)
    except ValueError:
        used = location
    listed = set()
    for url in index.serve_urls:
        try:
            listed.add(canonical_url(url))
        except ValueError:  # parse_index refuses these; never a match
            pass
    if used not in listed:
        raise StoreIdentityError(
            f"{origin}: the signed index of store {index.store_id} says it is served from "
            f"{', '.join(index.serve_urls)}, not from {used}; refusing it (a copied or substituted store; "
            "pull from a listed URL, or ask the publisher to add this one with --serve-url)"
        )


@dataclass(frozen=True)
class SeenVersions:
    """What this machine has seen, in one small JSON file under a lock:
    the newest index_version per signing key and store id (rollback protection), and the store
    id found at each store location (replay protection)."""

    path: Path
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT

    @property
    def lock(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def check_and_record(self, index: ReleaseIndex, origin: str, location: str | None = None,
                         accept_new_store: bool = False) -> None:
        # Read, check and write under one lock, so that concurrent pulls never lose each
        # other's records (a lost record is a rollback window).
        with locked(self.lock, "the pull state", self.lock_timeout):
            state = self._read()
            faults.point("pull-state-read")
            if location is not None:
                self._check_identity(state["stores"], index, origin, location, accept_new_store)
            # Keyed by store id (shared by every mirror of a store), not by URL, so a stale
            # mirror under another address cannot roll a client back either.
            key = f"{index.key_id}/{index.store_id}"
            seen = state["seen"].get(key, 0)
            if index.index_version < seen:
                raise StaleIndexError(
                    f"{origin}: index version {index.index_version} is older than version {seen} already seen "
                    f"for this store (a rollback, or a stale mirror); refusing it"
                )
            changed = index.index_version > seen or (location is not None and state["stores"].get(location) != index.store_id)
            if changed:
                state["seen"][key] = max(seen, index.index_version)
                if location is not None:
                    state["stores"][location] = index.store_id
                write_json_atomic(self.path, {"schema_version": 1, **state})

    @staticmethod
    def _check_identity(stores: dict[str, str], index: ReleaseIndex, origin: str, location: str,
                        accept_new_store: bool) -> None:
        known = stores.get(location)
        if known is None:
            listed = " (a URL its signed index lists)" if index.serve_urls else ""
            log.detail(f"first use of {location}: trusting store {index.store_id} found there from now on{listed}")
        elif known != index.store_id:
            if not accept_new_store:
                raise StoreIdentityError(
                    f"{origin}: serves store {index.store_id}, but this machine found store {known} there before "
                    "(a replayed or substituted store); if the store was deliberately replaced, pass --accept-new-store"
                )
            log.warning(f"{location}: now store {index.store_id} (was {known}); accepted as asked")

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            seen, stores = data["seen"], data.get("stores", {})
            if not all(isinstance(k, str) and isinstance(v, int) for k, v in seen.items()):
                raise TypeError("entries must map strings to integers")
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in stores.items()):
                raise TypeError("stores must map locations to store ids")
            return {"seen": dict(seen), "stores": dict(stores)}
        except FileNotFoundError:
            return {"seen": {}, "stores": {}}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Silently starting over would switch rollback protection off.
            raise StaleIndexError(
                f"{self.path}: unreadable pull state ({exc}); delete it to reset rollback protection"
            ) from None
