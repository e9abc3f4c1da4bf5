"""The WASI artifact runs in wasmtime (the PyPI package, through its Python API): python.wasm plus
the stdlib archive extracted and mapped in as /usr/local, the interpreter's compiled-in prefix.
Every extension module the build promises does real work, on a host directory mapped in too."""

import json
import tarfile
from pathlib import Path

import pytest

from .conftest import NEEDS_WASI, WASI_TARGET, built_dist
from .wasi_support import GUEST_PREFIX, GUEST_WORK, Wasi

wasmtime = pytest.importorskip("wasmtime", reason="the wasmtime package is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.docker, NEEDS_WASI]


WORK = r"""
import bz2, decimal, json, lzma, sqlite3, sys, zlib
from pathlib import Path

here = Path("/work")
text = (here / "input.txt").read_text(encoding="utf-8")
data = text.encode() * 200
db = sqlite3.connect(str(here / "numbers.sqlite"))
db.execute("create table t (n integer)")
db.executemany("insert into t values (?)", [(n,) for n in range(1, 101)])
db.commit()
decimal.getcontext().prec = 30
report = {
    "platform": sys.platform,
    "prefix": sys.prefix,
    "input": text,
    "zlib": [zlib.decompress(zlib.compress(data, 9)) == data, zlib.crc32(b"wasmforge")],
    "bz2": bz2.decompress(bz2.compress(data)) == data,
    "lzma": lzma.decompress(lzma.compress(data, preset=6)) == data,
    "sqlite3": list(db.execute("select sum(n), max(n) from t").fetchone()),
    "decimal": str(decimal.Decimal(1) / decimal.Decimal(7)),
    "json": json.dumps({"b": [1, 2.5], "a": None}, sort_keys=True),
}
(here / "report.json").write_text(json.dumps(report, sort_keys=True), encoding="utf-8")
print("wrote /work/report.json")
"""


@pytest.fixture(scope="module")
def wasi_dist() -> Path:
    return built_dist(WASI_TARGET)


@pytest.fixture(scope="module")
def python_wasi(wasi_dist, tmp_path_factory) -> Wasi:
    prefix = tmp_path_factory.mktemp("prefix")
    with tarfile.open(wasi_dist / "python-stdlib.tar.gz") as archive:
        archive.extractall(prefix, filter="data")
    return Wasi(wasi_dist / "python.wasm", prefix)


def test_the_artifact_is_a_stripped_module_and_a_deterministic_stdlib_archive(wasi_dist):
    names = {output["name"] for output in json.loads((wasi_dist / "manifest.json").read_text())["outputs"]}
    assert names == {"python.wasm", "python-stdlib.tar.gz"}
    wasm = (wasi_dist / "python.wasm").read_bytes()
    assert wasm[:4] == b"\0asm" and b".debug_info" not in wasm, "DWARF is stripped"
    with tarfile.open(wasi_dist / "python-stdlib.tar.gz") as archive:
        members = archive.getmembers()
    names_in_order = [m.name for m in members]
    assert names_in_order == sorted(names_in_order)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mtime for m in members} == {json.loads((wasi_dist / "manifest.json").read_text())["source_date_epoch"]}
    assert "lib/python3.13/os.py" in names_in_order
    assert "lib/python3.13/_sysconfigdata__wasi_wasm32-wasi.py" in names_in_order
    assert "lib/python3.13/lib-dynload" in names_in_order
    assert not any(name.startswith("lib/python3.13/test/") for name in names_in_order)


def test_print_reaches_stdout_with_nothing_on_stderr(python_wasi, tmp_path):
    result = python_wasi.run(["-c", "import sys; print(sys.version)"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("3.13.5 "), result.stdout
    assert result.stderr == "", "no getpath warnings: the prefix is found from argv[0]"


def test_a_script_reads_and_writes_a_mapped_directory_and_every_extension_module_works(python_wasi, tmp_path):
    (tmp_path / "script.py").write_text(WORK)
    (tmp_path / "input.txt").write_text("wasmforge on wasi ✓")
    result = python_wasi.run([f"{GUEST_WORK}/script.py"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "wrote /work/report.json\n"
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report == {
        "platform": "wasi",
        "prefix": GUEST_PREFIX,
        "input": "wasmforge on wasi ✓",
        "zlib": [True, 843480468],
        "bz2": True,
        "lzma": True,
        "sqlite3": [5050, 100],
        "decimal": "0.142857142857142857142857142857",
        "json": '{"a": null, "b": [1, 2.5]}',
    }
    assert (tmp_path / "numbers.sqlite").read_bytes().startswith(b"SQLite format 3\x00")


def test_the_stdlib_is_read_only_to_the_guest(python_wasi, tmp_path):
    code = "open('/usr/local/lib/python3.13/wasmforge-was-here', 'w')"
    result = python_wasi.run(["-c", code], tmp_path)
    assert result.exit_code == 1 and ("PermissionError" in result.stderr or "OSError" in result.stderr), result.stderr
