"""Fetching: mirrors are tried in order, every byte is verified, and nothing bad is kept."""

import hashlib
import http.server
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from wasmforge.core.cache import ContentCache, Pin
from wasmforge.core.errors import FetchError, IntegrityError
from wasmforge.building import fetch as fetch_module
from wasmforge.building.fetch import fetch_sources
from wasmforge.model.recipes import RecipeOptions, Component, DebianMirror, Mirror, Recipe, Source, Step

from .conftest import ROOT

PAYLOAD = b"pinned source bytes\n" * 1000


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on loopback serving a fresh directory."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def component(mirrors: list[str], data: bytes = PAYLOAD, name: str = "demo") -> Component:
    source = Source(file=f"{name}-1.0.tar.gz", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    mirrors=tuple(Mirror(url=url) for url in mirrors), note=None)
    recipe = Recipe(name=name, description="", homepage="https://example.invalid/", license="MIT", default_version="1.0",
                    versions={"1.0": source}, sdks=("emscripten",), dependencies=(), steps=(Step(name="build", script="build.sh"),),
                    options={}, directory=ROOT / "recipes" / name)
    return Component(recipe=recipe, version="1.0", source=source, options=RecipeOptions())


def test_the_first_mirror_that_serves_the_pinned_bytes_wins(http_dir, tmp_path):
    base, served = http_dir
    (served / "good.tar.gz").write_bytes(PAYLOAD)
    cache = ContentCache(tmp_path / "cache")
    demo = component([f"{base}/missing.tar.gz", f"{base}/good.tar.gz"])
    [fetched] = fetch_sources([demo], cache, toolchain_image=None)
    assert fetched.path == cache.path_for(demo.source.sha256)
    assert fetched.path.read_bytes() == PAYLOAD


def test_a_mirror_serving_other_bytes_is_refused_and_nothing_is_kept(http_dir, tmp_path):
    base, served = http_dir
    tampered = bytearray(PAYLOAD)
    tampered[100] ^= 1
    (served / "evil.tar.gz").write_bytes(bytes(tampered))
    cache = ContentCache(tmp_path / "cache")
    demo = component([f"{base}/evil.tar.gz"])
    with pytest.raises(IntegrityError) as caught:
        fetch_sources([demo], cache, toolchain_image=None)
    message = str(caught.value)
    assert demo.source.file in message and demo.source.sha256 in message
    assert hashlib.sha256(bytes(tampered)).hexdigest() in message
    assert not cache.path_for(demo.source.sha256).exists()
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_a_mirror_serving_too_many_bytes_is_cut_off(http_dir, tmp_path):
    base, served = http_dir
    (served / "big.tar.gz").write_bytes(PAYLOAD + b"extra")
    cache = ContentCache(tmp_path / "cache")
    with pytest.raises(IntegrityError, match="more than the pinned"):
        fetch_sources([component([f"{base}/big.tar.gz"])], cache, toolchain_image=None)
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_no_reachable_mirror_is_an_error_listing_what_was_tried(tmp_path):
    cache = ContentCache(tmp_path / "cache")
    with pytest.raises(FetchError, match="no mirror could serve it.*127.0.0.1:9"):
        fetch_sources([component(["http://127.0.0.1:9/demo.tar.gz"])], cache, toolchain_image=None)


def test_a_tampered_cache_entry_is_reported_with_both_hashes_and_removed(tmp_path):
    cache = ContentCache(tmp_path / "cache")
    pin = Pin(name="demo-1.0.tar.gz", size=len(PAYLOAD), sha256=hashlib.sha256(PAYLOAD).hexdigest())
    entry = cache.path_for(pin.sha256)
    entry.parent.mkdir(parents=True)
    tampered = bytearray(PAYLOAD)
    tampered[0] ^= 0xFF
    entry.write_bytes(bytes(tampered))
    with pytest.raises(IntegrityError) as caught:
        cache.lookup(pin)
    message = str(caught.value)
    assert pin.name in message and pin.sha256 in message and hashlib.sha256(bytes(tampered)).hexdigest() in message
    assert not entry.exists()


def test_a_cached_file_is_used_without_any_mirror(tmp_path):
    cache = ContentCache(tmp_path / "cache")
    demo = component(["http://127.0.0.1:9/unreachable.tar.gz"])
    source_file = tmp_path / "incoming"
    source_file.write_bytes(PAYLOAD)
    cache.add(source_file, demo.source.pin(), origin="test")
    [fetched] = fetch_sources([demo], cache, toolchain_image=None)
    assert fetched.path.read_bytes() == PAYLOAD


def test_cli_fetch_and_build_refuse_a_tampered_cached_source(invoke_cli, tmp_path):
    """The real CLI against a copy of the real cache in which one byte of CPython's tarball changed."""
    from wasmforge.model.workspace import Workspace

    ws = Workspace.load(root=ROOT)
    target = ws.matrix.resolve("emscripten-browser")
    components = ws.book.components_for(target)
    real = [ws.cache.lookup(c.source.pin()) for c in components]
    if any(path is None for path in real):
        pytest.skip("the source cache is not populated: run `invoke fetch` first")
    cache_copy = tmp_path / "cache"
    for path in real:
        assert path is not None
        destination = cache_copy / "sha256" / path.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    cpython = next(c for c in components if c.name == "cpython")
    victim = cache_copy / "sha256" / cpython.source.sha256
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    bad_sha = hashlib.sha256(bytes(data)).hexdigest()
    env = {**__import__("os").environ, "WASMFORGE_CACHE": str(cache_copy)}
    for task in ("fetch", "build"):
        if task == "build":
            victim.write_bytes(bytes(data))
        result = invoke_cli([task, "--target", "emscripten-browser"], cwd=ROOT, env=env)
        assert result.returncode == IntegrityError.exit_code, result.stderr
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(error_lines) == 1
        assert cpython.source.file in error_lines[0]
        assert cpython.source.sha256 in error_lines[0] and bad_sha in error_lines[0]


def debian_component(name: str, suite: str, data: bytes) -> Component:
    source = Source(file=f"{name}_1.0.orig.tar.gz", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    mirrors=(Mirror(debian=DebianMirror(package=name, suite=suite, toolchain=None)),), note=None)
    recipe = Recipe(name=name, description="", homepage="https://example.invalid/", license="MIT", default_version="1.0",
                    versions={"1.0": source}, sdks=("emscripten",), dependencies=(), steps=(Step(name="build", script="build.sh"),),
                    options={}, directory=ROOT / "recipes" / name)
    return Component(recipe=recipe, version="1.0", source=source, options=RecipeOptions())


def test_debian_mirrors_of_another_suite_get_a_deb_src_line_and_each_package_is_tried(tmp_path, monkeypatch):
    """The container script (run here by a stand-in for `docker run`): a suite the image has no
    deb-src line for gets one derived from the image's, and every package is asked for even
    when apt-get fails on an earlier one."""
    packages = {"older": (b"from trixie\n", "trixie"), "newer": (b"from sid\n", "sid")}
    scripts: list[str] = []

    def container(argv, **kwargs):
        scripts.append(argv[-1])
        out = Path(argv[argv.index("-v") + 1].split(":")[0])
        for name, (data, _) in packages.items():
            (out / f"{name}_1.0.orig.tar.gz").write_bytes(data)
        return subprocess.CompletedProcess(argv, 0, "", "")

    run = subprocess.run
    monkeypatch.setattr(fetch_module.subprocess, "run", container)
    cache = ContentCache(tmp_path / "cache")
    fetched = fetch_sources([debian_component(name, suite, data) for name, (data, suite) in packages.items()], cache, "image")
    assert sorted(f.path.read_bytes() for f in fetched) == [b"from sid\n", b"from trixie\n"]
    [script] = scripts
    assert "apt-get source --download-only -qq newer/sid || true; apt-get source --download-only -qq older/trixie || true" in script
    assert "Check-Valid-Until=false" in script

    # The part that adds deb-src lines, run against a stand-in of the image's apt directory.
    apt = tmp_path / "apt"
    apt.mkdir()
    (apt / "wasmforge-src.list").write_text("deb-src http://archive.invalid/debian trixie main\n")
    add_suites = script.split(" && apt-get")[0]
    add_suites = add_suites.replace(fetch_module.IMAGE_SOURCES_LIST, str(apt / "wasmforge-src.list"))
    add_suites = add_suites.replace("/etc/apt/sources.list.d/", f"{apt}/")
    run(["sh", "-ec", add_suites], check=True)
    assert (apt / "wasmforge-src-sid.list").read_text() == "deb-src http://archive.invalid/debian sid main\n"
    assert not (apt / "wasmforge-src-trixie.list").exists(), "the image's own suite is not added twice"
