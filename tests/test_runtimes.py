"""The runtimes that run an artifact's interpreter on the host: Node.js runs python.js, wasmtime
runs python.wasm, and each flavor has one.

Each runtime is driven with a stand-in artifact (a small script for node, a small WASI module for
wasmtime) to pin down what every runtime owes regrtest and the smoke test: the job's files where
the interpreter looks for them, its scratch files read back, output in order, the exit code, and a
crash or a hang told apart from an exit. CPython's own suite on each runtime, in the real
artifacts, is tests/test_regrtest.py."""

import shutil
import tarfile
from pathlib import Path

import pytest

from wasmforge.model.workspace import Workspace
from wasmforge.verifying import regrtest
from wasmforge.verifying.runtimes import PythonJob, runtime_for
from wasmforge.verifying.runtimes.host import Mount, Mounts, OutputLog
from wasmforge.verifying.runtimes.node import NodeRuntime, crash_report, host_args

from .conftest import ROOT

NODE = shutil.which("node") or shutil.which("nodejs")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/install-host-deps.sh installs nodejs)")
try:
    import wasmtime
except ImportError:  # pragma: no cover - the test extra installs it
    wasmtime = None
needs_wasmtime = pytest.mark.skipif(wasmtime is None, reason="the wasmtime package is not installed (pip install -e '.[test]')")

# ------------------------------------------------------------------------------------------------
# Guest paths on the host


def test_a_guest_path_lands_in_the_host_directory_of_its_mount(tmp_path):
    mounts = Mounts(mounts=(Mount(guest="/usr/local", host=tmp_path / "prefix"), Mount(guest="/tmp", host=tmp_path / "tmp")))
    assert mounts.host_path("/usr/local/lib/python3.13/test/test_os.py") == tmp_path / "prefix/lib/python3.13/test/test_os.py"
    assert mounts.host_path("/tmp") == tmp_path / "tmp"
    assert mounts.host_path("/usr/localx/a") is None, "a mount covers its own directory only"
    assert mounts.host_path("/tmp/../etc/passwd") is None
    assert mounts.host_path("relative/path") is None
    with pytest.raises(ValueError, match="outside the runtime's mounts"):
        mounts.write({"/etc/wasmforge": b"no"})


def test_node_sees_host_paths_so_only_arguments_naming_job_paths_are_rewritten(tmp_path):
    mounts = Mounts(mounts=(Mount(guest="/usr/local", host=tmp_path / "prefix"), Mount(guest="/tmp", host=tmp_path / "tmp")))
    args = ("-m", "test", "--junit-xml", "/tmp/junit.xml", "--ignorefile", "/tmp/ignore.txt", "test_os", "/srv/other")
    assert host_args(args, mounts) == [
        "-m", "test", "--junit-xml", str(tmp_path / "tmp/junit.xml"), "--ignorefile", str(tmp_path / "tmp/ignore.txt"),
        "test_os", "/srv/other",
    ]


def test_output_is_kept_in_arrival_order_and_passed_on_in_whole_lines():
    lines: list[tuple[str, str]] = []
    output = OutputLog(lambda stream, text: lines.append((stream, text)))
    output.feed("stdout", b"[1/2] test_a\n[1/2] test_a pa")
    output.feed("stderr", "caf\xc3".encode("latin-1"))
    output.feed("stdout", b"ssed\n")
    output.feed("stderr", b"\xa9 warning\nlast")
    output.finish()
    assert output.text() == "[1/2] test_a\n[1/2] test_a passed\ncafé warning\nlast"
    assert lines == [("stdout", "[1/2] test_a\n"), ("stdout", "[1/2] test_a passed\n"), ("stderr", "café warning\n"), ("stderr", "last")]


def test_every_flavor_has_a_runtime():
    ws = Workspace.load(root=ROOT)
    assert runtime_for(ws.matrix.resolve("emscripten-node")).name == "node"
    assert runtime_for(ws.matrix.resolve("wasi")).name == "wasmtime"
    assert runtime_for(ws.matrix.resolve("emscripten-browser")).name == "chromium"


# ------------------------------------------------------------------------------------------------
# Node, with a stand-in python.js

NODE_TRAP_REPORT = """\
[12/53] test_pickle
/tmp/wf-node-x/prefix/python.js:8
      throw ex;
      ^

RuntimeError: memory access out of bounds
    at python.wasm._PyEval_EvalFrameDefault (wasm://wasm/python.wasm-03a1c2e6:wasm-function[3024]:0x1a2b3c)

Node.js v20.20.2
"""


def test_node_reports_an_uncaught_wasm_trap_as_a_crash_and_a_python_error_as_an_exit():
    assert crash_report(1, NODE_TRAP_REPORT) == "RuntimeError: memory access out of bounds"
    python_then_js = "RecursionError: maximum recursion depth exceeded\nwasm://wasm/027d0d42:1\n\n\nRangeError: Maximum call stack size exceeded\n\nNode.js v20.20.2\n"
    assert crash_report(1, python_then_js) == "RangeError: Maximum call stack size exceeded"
    python_traceback = "Traceback (most recent call last):\n  File \"<string>\", line 1\nRuntimeError: boom\n"
    assert crash_report(1, python_traceback) is None
    assert crash_report(2, "== Tests result: FAILURE ==\n") is None
    assert crash_report(-9, "") == "node was killed by signal 9"


STAND_IN_PYTHON_JS = r"""
const fs = require("fs");
const [mode, ...rest] = process.argv.slice(2);
if (mode === "copy") {
  // Like `python -c` reading a job file and writing a scratch file.
  fs.writeFileSync(rest[1], fs.readFileSync(rest[0], "utf8").toUpperCase());
  console.log("dir " + __dirname);
  console.error("cwd " + process.cwd());
  console.log("done");
  process.exit(3);
}
if (mode === "trap") {
  console.log("[1/1] test_deep");
  throw new WebAssembly.RuntimeError("memory access out of bounds");
}
if (mode === "hang") {
  console.log("[1/1] test_hang");
  setInterval(() => {}, 1000);
}
"""


@pytest.fixture
def node_stand_in(tmp_path) -> Path:
    dist = tmp_path / "dist"
    (dist / "lib" / "python3.13").mkdir(parents=True)
    (dist / "python.js").write_text(STAND_IN_PYTHON_JS)
    return dist


@needs_node
def test_node_puts_job_files_in_a_private_copy_of_the_artifact_and_reads_scratch_files_back(node_stand_in):
    job = PythonJob(args=("copy", "/usr/local/lib/python3.13/test/data.txt", "/tmp/out.txt"),
                    files={"/usr/local/lib/python3.13/test/data.txt": b"from the job"}, collect=("/tmp/out.txt", "/tmp/absent"))
    seen: list[str] = []
    run = NodeRuntime().run_python(node_stand_in, job, lambda stream, text: seen.append(text))
    assert (run.exit_code, run.crash) == (3, None), run.output
    assert run.collected == {"/tmp/out.txt": "FROM THE JOB"}
    lines = run.output.splitlines()
    assert lines[0].startswith("dir /") and not lines[0].startswith(f"dir {node_stand_in}"), "python.js runs from a copy"
    assert lines[1].startswith("cwd /") and lines[1].endswith("/tmp"), "stderr joins stdout in order; the cwd is the run's /tmp"
    assert lines[2] == "done" and seen == [line + "\n" for line in lines]
    assert sorted(p.name for p in node_stand_in.rglob("*")) == ["lib", "python.js", "python3.13"], "dist/ is left alone"


@needs_node
def test_node_tells_a_trap_and_a_hang_from_an_exit(node_stand_in):
    trap = NodeRuntime().run_python(node_stand_in, PythonJob(args=("trap",)))
    assert trap.exit_code is None and trap.crash == "RuntimeError: memory access out of bounds"
    assert regrtest.parse_log(trap.output).running == "test_deep"
    hang = NodeRuntime().run_python(node_stand_in, PythonJob(args=("hang",), timeout_seconds=60, idle_timeout_seconds=2))
    assert hang.exit_code is None and hang.crash == "no output for 2s (hung)" and hang.seconds < 30


# ------------------------------------------------------------------------------------------------
# wasmtime, with a stand-in python.wasm

WASI_PRINTS_AND_EXITS_3 = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "[1/1] test_a\\n")
  (data (i32.const 96) "test_a failed\\n")
  (func $write (param $fd i32) (param $at i32) (param $length i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $length))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (call $write (i32.const 1) (i32.const 64) (i32.const 13))
    (call $write (i32.const 2) (i32.const 96) (i32.const 14))
    (call $proc_exit (i32.const 3))))
"""
WASI_TRAPS = '(module (memory (export "memory") 1) (func (export "_start") unreachable))'
WASI_SPINS = '(module (memory (export "memory") 1) (func (export "_start") (loop $forever (br $forever))))'


def wasi_stand_in(directory: Path, wat: str) -> Path:
    directory.mkdir()
    (directory / "python.wasm").write_bytes(wasmtime.wat2wasm(wat))
    stdlib = directory / "lib" / "python3.13" / "os.py"
    stdlib.parent.mkdir(parents=True)
    stdlib.write_text("# the stdlib\n")
    with tarfile.open(directory / "python-stdlib.tar.gz", "w:gz") as archive:
        archive.add(directory / "lib", arcname="lib")
    return directory


@needs_wasmtime
def test_wasmtime_passes_stdout_and_stderr_on_in_order_and_returns_the_exit_code(tmp_path):
    from wasmforge.verifying.runtimes.wasmtime import WasmtimeRuntime

    dist = wasi_stand_in(tmp_path / "dist", WASI_PRINTS_AND_EXITS_3)
    seen: list[tuple[str, str]] = []
    run = WasmtimeRuntime().run_python(dist, PythonJob(args=("-m", "test"), files={"/tmp/ignore.txt": b"x"}),
                                       lambda stream, text: seen.append((stream, text)))
    assert (run.exit_code, run.crash) == (3, None)
    assert run.output == "[1/1] test_a\ntest_a failed\n"
    assert seen == [("stdout", "[1/1] test_a\n"), ("stdout", "test_a failed\n")], "one pipe for both: the order is the guest's"


@needs_wasmtime
def test_wasmtime_tells_a_trap_and_a_hang_from_an_exit(tmp_path):
    from wasmforge.verifying.runtimes.wasmtime import WasmtimeRuntime

    runtime = WasmtimeRuntime()
    trap = runtime.run_python(wasi_stand_in(tmp_path / "trap", WASI_TRAPS), PythonJob(args=()))
    assert trap.exit_code is None and "unreachable" in (trap.crash or "")
    hang = runtime.run_python(wasi_stand_in(tmp_path / "spin", WASI_SPINS), PythonJob(args=(), timeout_seconds=3))
    assert hang.exit_code is None and hang.crash == "no exit after 3s (timed out)" and hang.seconds < 30


def test_a_wasmtime_trap_is_summed_up_by_its_cause():
    from wasmforge.verifying.runtimes.wasmtime import trap_summary

    message = "error while executing at wasm backtrace:\n    0: <unknown>!<wasm function 11309>\n\nCaused by:\n    wasm trap: call stack exhausted\n"
    assert trap_summary(message).splitlines()[:2] == ["wasm trap: call stack exhausted", "error while executing at wasm backtrace:"]
    assert trap_summary("wasm trap: wasm `unreachable` instruction executed") == "wasm trap: wasm `unreachable` instruction executed"


@needs_wasmtime
def test_wasmtime_refuses_a_job_file_outside_the_guest_prefix_and_tmp(tmp_path):
    from wasmforge.verifying.runtimes.wasmtime import WasmtimeRuntime

    dist = wasi_stand_in(tmp_path / "dist", WASI_PRINTS_AND_EXITS_3)
    with pytest.raises(ValueError, match="outside the runtime's mounts"):
        WasmtimeRuntime().run_python(dist, PythonJob(args=(), files={"/home/x.py": b""}))
