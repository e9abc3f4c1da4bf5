"""Hashing helpers: streaming sha256 of files and canonical JSON digests."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


@dataclass(frozen=True)
class Pin:
    """What a file must be: its name (for messages), size in bytes and sha256."""

    name: str
    size: int
    sha256: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_json(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()
