"""The emscripten-browser artifact works in a real browser: headless Chromium loads dist/<target>/
from a loopback HTTP server and runs real work with every extension module the build promises."""

import json
import shutil
from pathlib import Path

import pytest


from .browser import CHROMIUM, run_in_chromium
from .conftest import BROWSER_EMSCRIPTEN6_TARGET, BROWSER_TARGET, built_dist, experimental

pytestmark = [pytest.mark.docker, pytest.mark.browser]

SMOKE = r"""
import zlib, bz2, lzma, sqlite3, ctypes, decimal, json, sys
data = b"wasmforge " * 1000
print("platform", sys.platform, sys.version_info[:2])
print("emscripten", ".".join(map(str, sys._emscripten_info.emscripten_version)))
print("zlib", zlib.decompress(zlib.compress(data, 9)) == data, zlib.crc32(b"wasmforge"))
print("bz2", bz2.decompress(bz2.compress(data)) == data, len(bz2.compress(data)) < len(data))
print("lzma", lzma.decompress(lzma.compress(data, preset=6)) == data)
db = sqlite3.connect(":memory:")
db.execute("create table t (n integer)")
db.executemany("insert into t values (?)", [(n,) for n in range(1, 101)])
print("sqlite3", db.execute("select sum(n), max(n) from t").fetchone(), sqlite3.sqlite_version)
twice = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda n: n * 2)
print("ctypes", twice(21), ctypes.sizeof(ctypes.c_void_p), ctypes.c_double(2.5).value)
decimal.getcontext().prec = 30
print("decimal", decimal.Decimal(1) / decimal.Decimal(7))
print("json", json.dumps({"b": [1, 2.5], "a": None}, sort_keys=True))
print("WF-DONE")
"""


# Each browser target with the emscripten it is built with (sys._emscripten_info reports it).
EMSCRIPTEN_VERSIONS = {BROWSER_TARGET: "3.1.69", BROWSER_EMSCRIPTEN6_TARGET: "6.0.5"}


@pytest.fixture(scope="module", params=[BROWSER_TARGET, experimental(BROWSER_EMSCRIPTEN6_TARGET)])
def browser_dist(request) -> Path:
    return built_dist(request.param)


def test_the_build_wrote_the_artifacts_a_manifest_and_checksums(browser_dist):
    names = sorted(p.name for p in browser_dist.iterdir())
    for expected in ("python.js", "python.wasm", "python.data", "manifest.json", "SHA256SUMS"):
        assert expected in names
    manifest = json.loads((browser_dist / "manifest.json").read_text())
    assert manifest["target"]["id"] == browser_dist.name
    assert {i["component"] for i in manifest["inputs"]} == {"zlib", "bzip2", "xz", "sqlite", "libffi", "mpdecimal", "cpython"}
    assert len(manifest["toolchain"]["lock_digest"]) == 64 and len(manifest["recipe_digest"]) == 64
    import hashlib
    for output in manifest["outputs"]:
        data = (browser_dist / output["name"]).read_bytes()
        assert len(data) == output["size"] and hashlib.sha256(data).hexdigest() == output["sha256"]
    sums = (browser_dist / "SHA256SUMS").read_text().splitlines()
    assert f"{manifest['outputs'][0]['sha256']}  {manifest['outputs'][0]['name']}" in sums


@pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_headless_chromium_runs_real_work_with_every_extension_module(browser_dist):
    output = run_in_chromium(browser_dist, SMOKE, "WF-DONE")
    lines = dict(line.split(" ", 1) for line in output.splitlines() if " " in line and not line.startswith("["))
    assert lines["platform"] == "emscripten (3, 13)", output
    assert lines["emscripten"] == EMSCRIPTEN_VERSIONS[browser_dist.name], output
    assert lines["zlib"] == "True 843480468", output
    assert lines["bz2"] == "True True", output
    assert lines["lzma"] == "True", output
    assert lines["sqlite3"].startswith("(5050, 100) 3.46.1"), output
    assert lines["ctypes"] == "42 4 2.5", output
    assert lines["decimal"] == "0.142857142857142857142857142857", output
    assert lines["json"] == '{"a": null, "b": [1, 2.5]}', output
