"""Freshness of a verified index: not expired, and not older than one this machine has seen.

A signature proves who wrote an index, not when; without these checks a mirror could keep
serving an old, validly signed index (a rollback) to hide a newer release.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from wasmforge.core.errors import StaleIndexError
from wasmforge.core.files import write_json_atomic
from wasmforge.releasing.release_index import ReleaseIndex, format_time



def check_not_expired(index: ReleaseIndex, now: datetime, origin: str) -> None:
    if now >= index.expires:
        raise StaleIndexError(
            f"{origin}: index version {index.index_version} expired at {format_time(index.expires)} "
            "(the store has not been re-signed; ask its publisher, or use a fresher mirror)"
        )


@dataclass(frozen=True)
class SeenVersions:
    """The newest index_version seen per signing key and store, kept in a small JSON file."""

    path: Path

    def check_and_record(self, index: ReleaseIndex, origin: str) -> None:
        state = self._read()
        # Keyed by store id (shared by every mirror of a store), not by URL, so a stale
        # mirror under another address cannot roll a client back either.
        key = f"{index.key_id}/{index.store_id}"
        seen = state.get(key, 0)
        if index.index_version < seen:
            raise StaleIndexError(
                f"{origin}: index version {index.index_version} is older than version {seen} already seen "
                f"for this store (a rollback, or a stale mirror); refusing it"
            )
        if index.index_version > seen:
            state[key] = index.index_version
            write_json_atomic(self.path, {"schema_version": 1, "seen": state})

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            seen = data["seen"]
            if not all(isinstance(k, str) and isinstance(v, int) for k, v in seen.items()):
                raise TypeError("entries must map strings to integers")
            return dict(seen)
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Silently starting over would switch rollback protection off.
            raise StaleIndexError(
                f"{self.path}: unreadable pull state ({exc}); delete it to reset rollback protection"
            ) from None
