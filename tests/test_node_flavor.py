"""The emscripten-node artifact runs under the host's Node.js (Debian's nodejs): NODERAWFS makes
the host file system the interpreter's, the standard streams work, and every extension module
the build promises does real work."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import (
    NEEDS_NODE, NODE_DEBUG_TARGET, NODE_EMSCRIPTEN6_TARGET, NODE_PTHREADS_TARGET, NODE_TARGET, built_dist, experimental,
)

NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = [
    pytest.mark.docker,
    NEEDS_NODE,
    pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/install-host-deps.sh installs nodejs)"),
]

WORK = r"""
import bz2, decimal, json, lzma, sqlite3, sys, threading, zlib
from pathlib import Path


def ctypes_work():
    try:
        import ctypes
        twice = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda n: n * 2)
        return [twice(21), ctypes.sizeof(ctypes.c_void_p)]
    except Exception as exc:
        return type(exc).__name__


def threads_work():
    totals = []
    try:
        workers = [threading.Thread(target=lambda k=k: totals.append(sum(range(k * 1000)))) for k in range(1, 5)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    except RuntimeError as exc:
        return type(exc).__name__
    return sorted(totals)


here = Path(sys.argv[1])
text = (here / "input.txt").read_text(encoding="utf-8")
data = text.encode() * 200
db = sqlite3.connect(str(here / "numbers.sqlite"))
db.execute("create table t (n integer)")
db.executemany("insert into t values (?)", [(n,) for n in range(1, 101)])
db.commit()
decimal.getcontext().prec = 30
report = {
    "platform": sys.platform,
    "input": text,
    "zlib": [zlib.decompress(zlib.compress(data, 9)) == data, zlib.crc32(b"wasmforge")],
    "bz2": bz2.decompress(bz2.compress(data)) == data,
    "lzma": lzma.decompress(lzma.compress(data, preset=6)) == data,
    "sqlite3": list(db.execute("select sum(n), max(n) from t").fetchone()),
    "ctypes": ctypes_work(),
    "threads": threads_work(),
    "decimal": str(decimal.Decimal(1) / decimal.Decimal(7)),
}
(here / "report.json").write_text(json.dumps(report, sort_keys=True), encoding="utf-8")
print("wrote", here / "report.json")
"""


# What each node target promises beyond the common modules: ctypes needs dynamic linking, and
# threads start only in the pthreads build (the two flags are excluded as a pair).
PROMISES = {
    NODE_TARGET: {"ctypes": [42, 4], "threads": "RuntimeError"},
    NODE_PTHREADS_TARGET: {"ctypes": "OSError", "threads": [499500, 1999000, 4498500, 7998000]},
    NODE_DEBUG_TARGET: {"ctypes": [42, 4], "threads": "RuntimeError"},
    NODE_EMSCRIPTEN6_TARGET: {"ctypes": [42, 4], "threads": "RuntimeError"},
}


@pytest.fixture(scope="module", params=[
    NODE_TARGET, experimental(NODE_PTHREADS_TARGET), experimental(NODE_DEBUG_TARGET), experimental(NODE_EMSCRIPTEN6_TARGET),
])
def node_dist(request) -> Path:
    return built_dist(request.param)


def run_node(dist: Path, *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(dist / "python.js"), *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_the_artifact_is_a_loader_a_module_and_the_stdlib_where_getpath_finds_it(node_dist):
    names = {output["name"] for output in json.loads((node_dist / "manifest.json").read_text())["outputs"]}
    assert {"python.js", "python.wasm", "lib/python313.zip", "lib/python3.13/os.py"} <= names
    assert "python.data" not in names, "the node flavor reads the host file system, nothing is preloaded"


def test_print_reaches_stdout_with_nothing_on_stderr(node_dist, tmp_path):
    result = run_node(node_dist, "-c", "import sys; print(sys.version)", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3.13.5 "), result.stdout
    assert result.stderr == "", "no getpath warnings: the stdlib is found next to python.js"


def test_the_standard_streams_are_real_files_and_a_piped_stdin_is_not_a_terminal(node_dist, tmp_path):
    code = "import sys; print(sys.stdin.isatty(), sys.stdout.isatty()); print(sys.stdin.read().upper(), end='')"
    result = run_node(node_dist, "-c", code, cwd=tmp_path, stdin="piped text\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False False\nPIPED TEXT\n"
    result = run_node(node_dist, cwd=tmp_path, stdin="print(6 * 7)\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "42\n", ""), "a piped script runs without a prompt"


def test_a_script_reads_and_writes_host_files_and_every_extension_module_works(node_dist, tmp_path):
    (tmp_path / "script.py").write_text(WORK)
    (tmp_path / "input.txt").write_text("wasmforge on node ✓")
    result = run_node(node_dist, str(tmp_path / "script.py"), str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report == {
        "platform": "emscripten",
        "input": "wasmforge on node ✓",
        "zlib": [True, 843480468],
        "bz2": True,
        "lzma": True,
        "sqlite3": [5050, 100],
        "decimal": "0.142857142857142857142857142857",
        **PROMISES[node_dist.name],
    }
    assert (tmp_path / "numbers.sqlite").read_bytes().startswith(b"SQLite format 3\x00")
    assert result.stdout == f"wrote {tmp_path / 'report.json'}\n"


def test_an_uncaught_exception_exits_non_zero_with_a_traceback_on_stderr(node_dist, tmp_path):
    result = run_node(node_dist, "-c", "import json; json.loads('{')", cwd=tmp_path)
    assert result.returncode == 1
    assert "json.decoder.JSONDecodeError" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("target_id", [experimental(NODE_DEBUG_TARGET)])
def test_the_debug_build_is_a_pydebug_interpreter(target_id, tmp_path):
    code = ("import sys, sysconfig; print(sys.abiflags, sysconfig.get_config_var('Py_DEBUG'), "
            "type(sys.gettotalrefcount()).__name__)")
    result = run_node(built_dist(target_id), "-c", code, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "d 1 int\n"), result.stderr
