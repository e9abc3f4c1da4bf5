"""What an OCI registry sends is checked against what it claims: a manifest against the digest
the registry names for it, and every layer against its descriptor's digest and size."""

import hashlib
import http.server
import json
import threading
from typing import Callable, Iterator

import pytest

from wasmforge.core.errors import StoreError
from wasmforge.releasing.stores.oci import OciStore

INDEX_BYTES = b'{"schema_version": 1}\n'
SIGNATURE = b"s" * 64


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def index_manifest(index_layer: bytes) -> bytes:
    layers = [
        {"mediaType": "application/json", "digest": digest(index_layer), "size": len(index_layer),
         "annotations": {"org.opencontainers.image.title": "index.json"}},
        {"mediaType": "application/octet-stream", "digest": digest(SIGNATURE), "size": len(SIGNATURE),
         "annotations": {"org.opencontainers.image.title": "index.json.sig"}},
    ]
    return json.dumps({"schemaVersion": 2, "layers": layers}).encode()


@pytest.fixture
def fake_registry() -> Iterator[Callable[[dict[str, tuple[bytes, dict[str, str]]]], str]]:
    """A registry answering fixed paths with fixed bodies and headers; yields oci:// URLs."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(routes: dict[str, tuple[bytes, dict[str, str]]]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body, headers = routes.get(self.path, (b"", {}))
                self.send_response(200 if self.path in routes else 404)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"oci://127.0.0.1:{server.server_address[1]}/wasmforge/test"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def routes_for(manifest: bytes, index_body: bytes, manifest_digest: str | None = None):
    base = "/v2/wasmforge/test"
    return {
        f"{base}/manifests/index": (manifest, {"Docker-Content-Digest": manifest_digest or digest(manifest)}),
        f"{base}/blobs/{digest(INDEX_BYTES)}": (index_body, {}),
        f"{base}/blobs/{digest(SIGNATURE)}": (SIGNATURE, {}),
    }


def test_an_honest_registry_gives_back_the_index(fake_registry):
    url = fake_registry(routes_for(index_manifest(INDEX_BYTES), INDEX_BYTES))
    assert OciStore.from_url(url).read_index().data == INDEX_BYTES


def test_a_layer_whose_bytes_are_not_its_descriptors_is_refused(fake_registry):
    url = fake_registry(routes_for(index_manifest(INDEX_BYTES), b'{"schema_version": 2}\n'))
    with pytest.raises(StoreError, match="layer index.json is .* its descriptor says"):
        OciStore.from_url(url).read_index()


def test_a_manifest_whose_bytes_are_not_the_digest_the_registry_names_is_refused(fake_registry):
    url = fake_registry(routes_for(index_manifest(INDEX_BYTES), INDEX_BYTES, manifest_digest="sha256:" + "0" * 64))
    with pytest.raises(StoreError, match="manifest 'index' has digest sha256:.*the registry says sha256:000"):
        OciStore.from_url(url).read_index()
