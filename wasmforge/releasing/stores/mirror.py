"""A read-only mirror: any static HTTP server serving a directory store's folder."""

from dataclasses import dataclass
from http.client import HTTPResponse

from wasmforge.core.errors import SignatureError, StoreError
from wasmforge.releasing.release_index import INDEX, INDEX_SIGNATURE
from .base import MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES, SignedIndex, check_digest, read_limited
from .web import send


@dataclass(frozen=True)
class HttpMirror:
    url: str

    @property
    def location(self) -> str:
        return self.url.rstrip("/")

    def read_index(self) -> SignedIndex | None:
        response = send(self._address(INDEX))
        if response is None:
            return None
        with response:
            data = read_limited(response, MAX_INDEX_BYTES, f"{self.url}: {INDEX}")
        response = send(self._address(INDEX_SIGNATURE))
        if response is None:
            raise SignatureError(f"{self.url}: {INDEX} has no {INDEX_SIGNATURE}; refusing an unsigned index")
        with response:
            signature = read_limited(response, MAX_SIGNATURE_BYTES, f"{self.url}: {INDEX_SIGNATURE}")
        return SignedIndex(data=data, signature=signature)

    def open_blob(self, sha256: str) -> HTTPResponse:
        response = send(self._address(f"blobs/sha256/{check_digest(sha256)}"))
        if response is None:
            raise StoreError(f"{self.url}: blob sha256:{sha256} is missing from the store")
        return response

    def _address(self, relative: str) -> str:
        return f"{self.url.rstrip('/')}/{relative}"
