"""What this publisher last signed into each store, so that a store rolled back to an older
(validly signed) index is noticed instead of silently extended.

Without it, putting an old index back into a store makes the next publish sign its successor,
and every release published after that old index disappears from the store for good.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.errors import PublishError
from wasmforge.core.files import write_json_atomic
from wasmforge.core.locks import locked


@dataclass(frozen=True, kw_only=True)
class SignedRecord:
    store_id: str
    index_version: int
    index_sha256: str


@dataclass(frozen=True)
class PublisherState:
    """`publish-state.json`: per store location, the last index this publisher signed."""

    path: Path
    lock_timeout: float = 300.0

    @property
    def lock(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def locks_dir(self) -> Path:
        """Where publish locks live for stores that cannot hold one themselves (OCI registries)."""
        return self.path.parent / "locks"

    def last_signed(self, location: str) -> SignedRecord | None:
        entry = self._read().get(location)
        return SignedRecord(**entry) if entry is not None else None

    def record(self, location: str, signed: SignedRecord) -> None:
        with locked(self.lock, "the publisher state", self.lock_timeout):
            stores = self._read()
            stores[location] = vars(signed)
            write_json_atomic(self.path, {"schema_version": 1, "stores": stores})

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            stores = data["stores"]
            for entry in stores.values():
                SignedRecord(**entry)
            return dict(stores)
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Starting over silently would forget what was signed, which is the whole point.
            raise PublishError(f"{self.path}: unreadable publisher state ({exc}); restore it, or delete it to start over") from None
