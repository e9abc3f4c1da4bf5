"""Helpers for the publish/pull tests: dist folders with real manifests, keys, and real servers.

The servers are real: Python's http.server as a static mirror, and Debian's docker-registry
(distribution) as the OCI registry, each on a free loopback port for the length of a test.
"""

import http.server
import json
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from wasmforge.releasing.freshness import SeenVersions
from wasmforge.model.manifest import InputRecord, Manifest, record_outputs, write_manifest
from wasmforge.releasing.publish import PublishRequest, PublishResult, publish
from wasmforge.releasing.publisher_state import PublisherState
from wasmforge.releasing.pull import PullRequest, PullResult, pull
from wasmforge.releasing.release_index import INDEX, INDEX_SIGNATURE
from wasmforge.releasing.signing import PublicKey, SigningKey, generate_keypair, load_public_key, load_signing_key
from wasmforge.releasing.stores import open_store, open_writable_store

from .conftest import BROWSER_TARGET, ROOT

SCHEMA = ROOT / "schemas" / "index.schema.json"
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
REGISTRY = Path("/usr/bin/docker-registry")
LOCK_DIGEST = "4" * 64
SOURCE_SHA256 = "5" * 64


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    signing: SigningKey
    verifying: PublicKey


def make_keys(directory: Path) -> Keys:
    pair = generate_keypair(directory)
    return Keys(pair.private, pair.public, load_signing_key(pair.private), load_public_key(pair.public))


def load_keys(directory: Path) -> Keys:
    """The key pair `invoke keygen` left in `directory` (a copy of a key is another publisher)."""
    private, public = directory / "release.key.pem", directory / "release.pub.pem"
    return Keys(private, public, load_signing_key(private), load_public_key(public))


def make_dist(root: Path, seed: int = 1, target_id: str = BROWSER_TARGET, nested: bool = False) -> Path:
    """A dist folder as `invoke build` leaves it; python.data spans several 1 MiB read chunks.
    `nested` lays it out as the node flavor does: the stdlib in lib/, with a dot-file landmark."""
    dist = root / target_id
    dist.mkdir(parents=True)
    rng = random.Random(seed)
    (dist / "python.js").write_text(f"// loader {seed}\nvar Module = Module || {{}};\n")
    (dist / "python.wasm").write_bytes(b"\0asm\x01\0\0\0" + rng.randbytes(200_000))
    if nested:
        (dist / "lib" / "python3.13" / "lib-dynload").mkdir(parents=True)
        (dist / "lib" / "python313.zip").write_bytes(rng.randbytes(1_500_000))
        (dist / "lib" / "python3.13" / "os.py").write_text("# landmark\n")
        (dist / "lib" / "python3.13" / "lib-dynload" / ".empty").write_bytes(b"")
    else:
        (dist / "python.data").write_bytes(rng.randbytes(2_500_000))
    manifest = Manifest(
        target={
            "id": target_id, "python": "3.13.5", "sdk": "emscripten", "sdk_version": "3.1.69",
            "flavor": "browser", "flags": ["dynamic-linking"],
        },
        source_date_epoch=1764028800,
        toolchain={"name": "emscripten-3.1.69", "lock_digest": LOCK_DIGEST, "image": "wasmforge-toolchain:test"},
        recipe_digest="6" * 64,
        inputs=(InputRecord(component="cpython", version="3.13.5", file="Python-3.13.5.tar.xz", size=22_000_000, sha256=SOURCE_SHA256),),
        outputs=record_outputs(dist),
    )
    write_manifest(dist, manifest)
    return dist


def publish_dist(store_url: str, dist: Path, keys: Keys, version: str = "v1", now: datetime = NOW,
                 expires_in: timedelta = timedelta(days=30), target_id: str = BROWSER_TARGET,
                 recover_from: int | None = None, serve_urls: tuple[str, ...] = ()) -> PublishResult:
    """Publish as the holder of `keys`, whose publisher state lives next to the key."""
    request = PublishRequest(target_id=target_id, dist=dist, version=version, key=keys.signing, schema=SCHEMA,
                             now=now, state=publisher_state(keys), expires_in=expires_in, recover_from=recover_from,
                             serve_urls=serve_urls)
    return publish(open_writable_store(store_url), request)


def publisher_state(keys: Keys) -> PublisherState:
    return PublisherState(keys.private.parent / "publish-state.json", lock_timeout=10)


def pull_release(store_url: str, dest: Path, key: PublicKey, state: Path, version: str = "latest",
                 now: datetime = NOW, target_id: str = BROWSER_TARGET, force: bool = False, **options: Any) -> PullResult:
    """`options` are further PullRequest fields (limits, max_lifetime, accept_new_store)."""
    request = PullRequest(target_id=target_id, version=version, dest=dest, public_key=key,
                          seen=SeenVersions(state), schema=SCHEMA, now=now, force=force, **options)
    return pull(open_store(store_url), request)


def resign_index(store: Path, keys: Keys, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite a directory store's index with `change` applied, validly signed: a hostile publisher."""
    document = json.loads((store / INDEX).read_text())
    change(document)
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    (store / INDEX).write_bytes(data)
    (store / INDEX_SIGNATURE).write_bytes(keys.signing.sign(data))


def assert_nothing_written(dest: Path) -> None:
    """No destination and nothing beside it but the empty lock file (kept on purpose: see core/locks.py)."""
    assert not dest.exists()
    leftovers = [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")] if dest.parent.exists() else []
    assert [name for name in leftovers if name != f".{dest.name}.lock"] == []


@pytest.fixture
def static_mirror(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Serve directories over HTTP on loopback; call it with a directory, get its base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(directory: Path) -> str:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real distribution registry on 127.0.0.1 with filesystem storage; yields HOST:PORT."""
    if not REGISTRY.is_file():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: wasmforge-tests\n"
    )
    log_path = root / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(REGISTRY), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/v2/", process, log_path)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not answer on {url} within 20 s: {log_path.read_text()[-2000:]}")


def oci_url(registry: str) -> str:
    """A fresh repository per test, so tests sharing one registry never see each other's index."""
    return f"oci://{registry}/wasmforge/t{uuid.uuid4().hex[:12]}"
