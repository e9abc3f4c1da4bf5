"""Stores of published releases, chosen by URL scheme from one table.

    ./store, /srv/store, file:///srv/store    a directory (read and write)
    http://host/store, https://...            a static mirror of a directory store (read only)
    oci://localhost:5000/wasmforge            an OCI registry repository (read and write)
"""

from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit
from urllib.request import url2pathname

from wasmforge.core.errors import PublishError, StoreError
from .base import SignedIndex, Store, WritableStore
from .directory import DirectoryStore
from .mirror import HttpMirror
from .oci import OciStore

__all__ = ["SignedIndex", "Store", "WritableStore", "open_store", "open_writable_store"]

def _directory(url: str) -> Store:
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreError(f"{url}: a file:// store must be on this machine (file:///path)")
        return DirectoryStore(url=url, root=Path(url2pathname(parts.path)))
    return DirectoryStore(url=url, root=Path(url))


STORE_KINDS: dict[str, Callable[[str], Store]] = {
    "": _directory,
    "file": _directory,
    "http": HttpMirror,
    "https": HttpMirror,
    "oci": OciStore.from_url,
}


def open_store(url: str) -> Store:
    scheme = urlsplit(url).scheme
    factory = STORE_KINDS.get(scheme)
    if factory is None:
        raise StoreError(f"{url}: unknown store scheme '{scheme}' (use a path, file://, http(s):// or oci://)")
    return factory(url)


def open_writable_store(url: str) -> WritableStore:
    store = open_store(url)
    if not isinstance(store, WritableStore):
        raise PublishError(f"{url}: HTTP stores are read-only mirrors; publish to the directory they serve")
    return store
