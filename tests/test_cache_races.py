"""The shared source cache under racing and killed processes: two fetches of one source download
it once, a killed fetch's temporary file is removed by the next, and a process removing a corrupt
entry never removes the good copy another process has just added."""

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from wasmforge.core.cache import ContentCache
from wasmforge.core.hashing import Pin

from .conftest import ROOT
from .fault_support import killed, no_stray_processes, spawn, wait_for_stderr, wait_until_stopped  # noqa: F401 (autouse fixture)

PAYLOAD = b"pinned source bytes\n" * 5000
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()

# A process of its own: fetch the one source, or look up / add the cache entry directly.
CHILD = """
import sys
from pathlib import Path
from wasmforge.core.cache import ContentCache
from wasmforge.core.errors import WasmforgeError
from wasmforge.core.hashing import Pin
from wasmforge.building.fetch import fetch_sources
from tests.test_fetch import component
action, root, argument = sys.argv[1:4]
payload = Path(sys.argv[4]).read_bytes()
cache = ContentCache(Path(root))
pin = Pin(name="demo-1.0.tar.gz", size=len(payload), sha256=__import__("hashlib").sha256(payload).hexdigest())
try:
    if action == "fetch":
        fetch_sources([component([argument], payload)], cache, toolchain_image=None)
    elif action == "lookup":
        cache.lookup(pin)
    else:
        cache.add(Path(argument), pin, origin="test")
except WasmforgeError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """PAYLOAD over HTTP on loopback; yields its URL and the list of paths requested."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/demo-1.0.tar.gz", requests
    server.shutdown()
    server.server_close()


def start(tmp_path: Path, action: str, cache: Path, argument: str, fault: str | None = None) -> subprocess.Popen[str]:
    payload = tmp_path / "payload"
    payload.write_bytes(PAYLOAD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMFORGE_")}
    env["PYTHONPATH"] = str(ROOT)
    if fault:
        env["WASMFORGE_FAULT"] = fault
    return spawn([sys.executable, "-c", CHILD, action, str(cache), argument, str(payload)], env)


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def entry_is_good(cache: Path) -> bool:
    entry = ContentCache(cache).path_for(SHA256)
    return entry.is_file() and hashlib.sha256(entry.read_bytes()).hexdigest() == SHA256


def test_two_fetches_of_one_source_download_it_once(tmp_path, served):
    url, requests = served
    cache = tmp_path / "cache"
    first = start(tmp_path, "fetch", cache, url, fault="fetch-downloaded:stop")
    wait_until_stopped(first)
    second = start(tmp_path, "fetch", cache, url)
    wait_for_stderr(second, "waiting for the download")
    assert second.poll() is None  # waiting for the first one's download
    os.kill(first.pid, signal.SIGCONT)
    assert finish(first).returncode == 0
    waited = finish(second)
    assert waited.returncode == 0, waited.stderr
    assert "cached by another process meanwhile" in waited.stderr
    assert len(requests) == 1 and entry_is_good(cache) and list((cache / "tmp").iterdir()) == []


def test_a_fetch_killed_after_downloading_leaves_a_temporary_file_the_next_fetch_removes(tmp_path, served):
    url, _ = served
    cache = tmp_path / "cache"
    assert killed(finish(start(tmp_path, "fetch", cache, url, fault="fetch-downloaded:kill")))
    assert [p.name.startswith(f"download-{SHA256}-") for p in (cache / "tmp").iterdir()] == [True]
    again = finish(start(tmp_path, "fetch", cache, url))
    assert again.returncode == 0, again.stderr
    assert "a download an interrupted run left" in again.stderr
    assert entry_is_good(cache) and list((cache / "tmp").iterdir()) == []


def test_removing_a_corrupt_entry_never_removes_the_good_copy_another_process_added(tmp_path):
    cache = tmp_path / "cache"
    entry = ContentCache(cache).path_for(SHA256)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"x" * len(PAYLOAD))  # corrupt: right size, wrong bytes
    good = tmp_path / "good"
    good.write_bytes(PAYLOAD)

    checker = start(tmp_path, "lookup", cache, "-", fault="cache-entry-found-corrupt:stop")
    wait_until_stopped(checker)  # it has judged the entry corrupt and is about to remove it
    adder = start(tmp_path, "add", cache, str(good))
    wait_for_stderr(adder, "waiting for cache entry")
    assert adder.poll() is None  # the entry is locked while the checker holds it
    os.kill(checker.pid, signal.SIGCONT)
    assert "has sha256" in finish(checker).stderr
    assert finish(adder).returncode == 0
    assert entry_is_good(cache)


def test_a_good_entry_is_found_by_many_concurrent_lookups(tmp_path):
    cache = tmp_path / "cache"
    good = tmp_path / "good"
    good.write_bytes(PAYLOAD)
    ContentCache(cache).add(good, Pin(name="demo", size=len(PAYLOAD), sha256=SHA256), origin="test")
    results = [finish(p) for p in [start(tmp_path, "lookup", cache, "-") for _ in range(4)]]
    assert all(r.returncode == 0 for r in results) and entry_is_good(cache)
