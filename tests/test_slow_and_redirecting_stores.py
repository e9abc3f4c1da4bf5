"""A mirror that trickles bytes cannot hold a pull forever (a whole-download deadline from the
file's size and a minimum rate), and redirects go only to https or to http on this machine."""

import http.server
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from wasmforge.core.errors import StoreError
from wasmforge.releasing.pull import TransferLimits
from wasmforge.releasing.stores.web import redirect_refusal

from .publish_support import make_dist, make_keys, publish_dist, pull_release


@pytest.fixture
def hostile_mirror() -> Iterator[Callable[[Path, str], str]]:
    """Serve a directory store whose blobs are trickled ('slow') or redirected ('redirect')."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(directory: Path, behaviour: str) -> str:
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.startswith("/blobs/"):
                    return super().do_GET()
                if behaviour == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://192.0.2.1{self.path}")  # TEST-NET-1: never reached
                    self.end_headers()
                    return
                data = (directory / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for byte in data:  # one byte every 50 ms: each read is quick, the file never ends
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(tmp_path: Path):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d"), keys)
    return store, keys


def test_a_trickling_mirror_hits_the_whole_download_deadline(tmp_path, store, hostile_mirror):
    directory, keys = store
    url = hostile_mirror(directory, "slow")
    limits = TransferLimits(min_rate=1_000_000, grace=1.0)  # python.data (2.4 MiB): 3.5 s at most
    started = time.monotonic()
    with pytest.raises(StoreError, match="slower than the minimum of 1000000 bytes/s"):
        pull_release(url, tmp_path / "out", keys.verifying, tmp_path / "state.json", limits=limits)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()


def test_a_redirect_to_plain_http_off_this_machine_is_refused(tmp_path, store, hostile_mirror):
    directory, keys = store
    url = hostile_mirror(directory, "redirect")
    with pytest.raises(StoreError, match=r"refusing a redirect to http://192\.0\.2\.1/.*only allowed to this machine"):
        pull_release(url, tmp_path / "out", keys.verifying, tmp_path / "state.json")


@pytest.mark.parametrize(("origin", "target", "allowed"), [
    ("https://a.example/s/index.json", "https://b.example/s/index.json", True),
    ("http://127.0.0.1:8000/index.json", "http://localhost:9000/index.json", True),
    ("http://127.0.0.1:8000/index.json", "https://b.example/index.json", True),
    ("https://a.example/index.json", "http://127.0.0.1/index.json", False),
    ("https://a.example/index.json", "http://b.example/index.json", False),
    ("http://127.0.0.1/index.json", "http://b.example/index.json", False),
    ("https://a.example/index.json", "file:///etc/passwd", False),
])
def test_redirects_only_to_https_or_to_loopback_http_and_never_down_from_https(origin, target, allowed):
    assert (redirect_refusal(origin, target) is None) == allowed
