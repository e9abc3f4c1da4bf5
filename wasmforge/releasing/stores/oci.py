"""A store in an OCI registry, spoken to with the distribution HTTP API (no docker, no oras).

Each release is an OCI image manifest used as an artifact (OCI 1.1: `artifactType`, the release's
index entry as its config, one layer per file titled with the file's name), tagged
`<target>_<version>` and annotated with target, Python and SDK versions. The signed index and its
signature are the two layers of a second artifact tagged `index`. Blobs are the same sha256 blobs
as in a directory store, so pull verifies them the same way.

The older `application/vnd.oci.artifact.manifest.v1+json` type never made it into OCI 1.1 and
registries such as distribution 2.8 reject it, hence image manifests.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from wasmforge.core.errors import StoreError
from wasmforge.releasing.release_index import INDEX, INDEX_SIGNATURE, Release
from .base import MAX_INDEX_BYTES, MAX_SIGNATURE_BYTES, SignedIndex, check_digest, read_limited
from .web import is_loopback, send

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
RELEASE_ARTIFACT = "application/vnd.wasmforge.release.v1+json"
INDEX_ARTIFACT = "application/vnd.wasmforge.index.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
TITLE = "org.opencontainers.image.title"
INDEX_TAG = "index"
MAX_MANIFEST_BYTES = 4 << 20
# The distribution spec's repository name grammar.
REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
LAYER_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".json": "application/json",
    ".sig": "application/octet-stream",
}


@dataclass(frozen=True)
class OciStore:
    url: str
    endpoint: str
    repository: str

    @classmethod
    def from_url(cls, url: str) -> "OciStore":
        parts = urlsplit(url)
        repository = parts.path.strip("/")
        if not parts.netloc or REPOSITORY.fullmatch(repository) is None:
            raise StoreError(f"{url}: expected oci://HOST[:PORT]/REPOSITORY with a lowercase repository name")
        # Like docker, speak plain HTTP only to a registry on this machine.
        scheme = "http" if is_loopback(parts.hostname or "") else "https"
        return cls(url=url, endpoint=f"{scheme}://{parts.netloc}", repository=repository)

    @property
    def location(self) -> str:
        return f"oci://{urlsplit(self.endpoint).netloc}/{self.repository}"

    def read_index(self) -> SignedIndex | None:
        manifest = self._get_manifest(INDEX_TAG)
        if manifest is None:
            return None
        layers = _layers_by_title(manifest, self.url)
        for name in (INDEX, INDEX_SIGNATURE):
            if name not in layers:
                raise StoreError(f"{self.url}: the '{INDEX_TAG}' artifact has no {name} layer")
        data = self._read_small(layers[INDEX], MAX_INDEX_BYTES, INDEX)
        signature = self._read_small(layers[INDEX_SIGNATURE], MAX_SIGNATURE_BYTES, INDEX_SIGNATURE)
        return SignedIndex(data=data, signature=signature)

    def open_blob(self, sha256: str) -> HTTPResponse:
        response = send(self._blob_url(sha256))
        if response is None:
            raise StoreError(f"{self.url}: blob sha256:{sha256} is missing from the registry")
        return response

    def put_release(self, release: Release, files: Path) -> str:
        layers = []
        for item in release.files:
            self._push_file(files / item.name, item.sha256, item.size)
            layers.append(_descriptor(_layer_type(item.name), item.sha256, item.size, {TITLE: item.name}))
        config = json.dumps(release.to_json(), indent=2, sort_keys=True).encode()
        self._push_bytes(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": RELEASE_ARTIFACT,
            "config": _descriptor(RELEASE_ARTIFACT, _sha256(config), len(config)),
            "layers": layers,
            "annotations": release_annotations(release),
        }
        tag = release_tag(release)
        digest = self._put_manifest(tag, manifest)
        return f"{self.url}:{tag}@{digest}"

    def publish_lock(self) -> Path | None:
        return None

    def write_index(self, signed: SignedIndex) -> None:
        self._push_bytes(EMPTY_JSON)
        self._push_bytes(signed.data)
        self._push_bytes(signed.signature)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": INDEX_ARTIFACT,
            "config": _descriptor(EMPTY_TYPE, _sha256(EMPTY_JSON), len(EMPTY_JSON)),
            "layers": [
                _descriptor("application/json", _sha256(signed.data), len(signed.data), {TITLE: INDEX}),
                _descriptor("application/octet-stream", _sha256(signed.signature), len(signed.signature), {TITLE: INDEX_SIGNATURE}),
            ],
        }
        self._put_manifest(INDEX_TAG, manifest)

    def _get_manifest(self, reference: str) -> dict[str, Any] | None:
        response = send(self._api(f"manifests/{reference}"), headers={"Accept": MANIFEST_TYPE})
        if response is None:
            return None
        with response:
            body = read_limited(response, MAX_MANIFEST_BYTES, f"{self.url}: manifest '{reference}'")
            said = response.headers.get("Docker-Content-Digest")
        # The registry names the manifest's digest; the bytes must be that manifest.
        actual = "sha256:" + _sha256(body)
        if said and said != actual:
            raise StoreError(f"{self.url}: manifest '{reference}' has digest {actual}, the registry says {said}")
        try:
            manifest = json.loads(body)
        except ValueError:
            raise StoreError(f"{self.url}: manifest '{reference}' is not JSON") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"{self.url}: manifest '{reference}' is not an OCI manifest")
        return manifest

    def _put_manifest(self, tag: str, manifest: dict[str, Any]) -> str:
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        response = send(self._api(f"manifests/{tag}"), method="PUT", data=body, headers={"Content-Type": MANIFEST_TYPE})
        if response is None:
            raise StoreError(f"{self.url}: PUT manifest '{tag}': repository not found")
        with response:
            return response.headers.get("Docker-Content-Digest") or "sha256:" + _sha256(body)

    def _read_small(self, descriptor: dict[str, Any], limit: int, name: str) -> bytes:
        """A layer read whole, checked against its descriptor's digest and size."""
        digest = str(descriptor.get("digest", ""))
        with self.open_blob(digest.removeprefix("sha256:")) as stream:
            data = read_limited(stream, limit, f"{self.url}: {name}")
        actual = "sha256:" + _sha256(data)
        if actual != digest or len(data) != descriptor.get("size"):
            raise StoreError(
                f"{self.url}: layer {name} is {len(data)} bytes with digest {actual}, its descriptor says "
                f"{descriptor.get('size')} bytes and {digest} (a corrupt or tampered registry)"
            )
        return data

    def _has_blob(self, sha256: str) -> bool:
        response = send(self._blob_url(sha256), method="HEAD")
        if response is None:
            return False
        response.close()
        return True

    def _push_bytes(self, data: bytes) -> None:
        digest = _sha256(data)
        if not self._has_blob(digest):
            self._upload(digest, data, len(data))

    def _push_file(self, path: Path, sha256: str, size: int) -> None:
        if self._has_blob(sha256):
            return
        with path.open("rb") as handle:
            self._upload(sha256, handle, size)

    def _upload(self, sha256: str, body: object, size: int) -> None:
        """The spec's two-step monolithic upload: POST opens a session, PUT sends the bytes."""
        response = send(self._api("blobs/uploads/"), method="POST", data=b"", headers={"Content-Length": "0"})
        if response is None:
            raise StoreError(f"{self.url}: cannot start a blob upload: repository not found")
        with response:
            location = response.headers.get("Location")
        if not location:
            raise StoreError(f"{self.url}: the registry gave no upload location")
        upload = urljoin(self.endpoint + "/", location)
        upload += ("&" if "?" in upload else "?") + f"digest=sha256:{sha256}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = send(upload, method="PUT", data=body, headers=headers)
        if response is None:
            raise StoreError(f"{self.url}: blob upload session vanished")
        with response:
            stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != f"sha256:{sha256}":
            raise StoreError(f"{self.url}: the registry stored {stored} for blob sha256:{sha256}")

    def _blob_url(self, sha256: str) -> str:
        return self._api(f"blobs/sha256:{check_digest(sha256)}")

    def _api(self, path: str) -> str:
        return f"{self.endpoint}/v2/{self.repository}/{path}"


def release_tag(release: Release) -> str:
    # Both parts are schema-limited to tag characters and lengths that fit the 128-byte limit.
    return f"{release.target}_{release.version}"


def release_annotations(release: Release) -> dict[str, str]:
    return {
        "org.opencontainers.image.created": release.to_json()["published"],
        "org.opencontainers.image.version": release.version,
        "org.wasmforge.target": release.target,
        "org.wasmforge.python.version": release.python,
        "org.wasmforge.sdk": release.sdk,
        "org.wasmforge.sdk.version": release.sdk_version,
        "org.wasmforge.flavor": release.flavor,
        "org.wasmforge.flags": ",".join(release.flags),
        "org.wasmforge.source-date-epoch": str(release.source_date_epoch),
        "org.wasmforge.manifest.sha256": release.manifest_sha256,
    }


def _layers_by_title(manifest: dict[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise StoreError(f"{origin}: manifest has no layers")
    return {
        layer["annotations"][TITLE]: layer
        for layer in layers
        if isinstance(layer, dict) and isinstance(layer.get("annotations"), dict) and TITLE in layer["annotations"]
    }


def _descriptor(media_type: str, sha256: str, size: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"mediaType": media_type, "digest": f"sha256:{sha256}", "size": size}
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def _layer_type(name: str) -> str:
    return LAYER_TYPES.get(Path(name).suffix, "application/octet-stream")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
