"""The node flavor's runtime: the host's Node.js (Debian's nodejs) running `python.js`.

The artifact is linked with NODERAWFS, so the interpreter's file system is the host's: there are no
mounts to give it. Each run therefore gets a private copy of the artifact in a temporary directory;
CPython's getpath takes the copy's directory as its prefix, so the copy stands in for the guest's
/usr/local (job files under /usr/local/lib/python3.13 land in the copy's lib/python3.13, which is
on the default sys.path after the stdlib zip), and a scratch directory beside it stands in for
/tmp. Arguments that name a path under those guest directories are rewritten to the host path the
interpreter will see; nothing else is.

stderr is joined to stdout at the file descriptor (one pipe) so the output keeps the order the
interpreter wrote it in; the sink therefore sees all of it as "stdout".
"""

import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from wasmforge.core.errors import RuntimeUnavailableError
from . import OutputSink, PythonJob, PythonRun
from .host import GUEST_PREFIX, GUEST_TMP, Mount, Mounts, OutputLog, give_up_reason

# Node ends its report of an uncaught JavaScript exception (a wasm trap such as "RuntimeError:
# memory access out of bounds", an emscripten abort, "RangeError: Maximum call stack size
# exceeded") with its own version on a line of its own; a Python program cannot print that on
# its way out through emscripten's exit.
NODE_UNCAUGHT_TRAILER = re.compile(r"^Node\.js v\d+\.\d+\.\d+$")
JS_ERROR_LINE = re.compile(r"^(?:\w*Error|Aborted\(|\w+: )")


def node_executable() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise RuntimeUnavailableError("Node is not installed: run `bash scripts/install-host-deps.sh` (Debian's nodejs)")
    return found


def host_args(args: tuple[str, ...], mounts: Mounts) -> list[str]:
    """The job's arguments as the interpreter must see them: a whole argument that is a path under
    a mounted guest directory becomes the host path; every other argument is left alone."""
    rewritten: list[str] = []
    for arg in args:
        host = mounts.host_path(arg) if arg.startswith("/") else None
        rewritten.append(str(host) if host is not None else arg)
    return rewritten


def crash_report(exit_code: int, output: str) -> str | None:
    """What ended the interpreter if it did not exit on its own: a signal, or an uncaught
    JavaScript exception (node's report names it). None for an ordinary exit, whatever its code."""
    if exit_code < 0:
        return f"node was killed by signal {-exit_code}"
    lines = output.rstrip().splitlines()
    if not lines or not NODE_UNCAUGHT_TRAILER.match(lines[-1].strip()):
        return None
    # The exception is the last unindented "Name: message" line (its stack frames are indented);
    # Python's own traceback may come before it, when the trap happens on the way out.
    errors = [line for line in lines if JS_ERROR_LINE.match(line)]
    return errors[-1].strip() if errors else f"node exited {exit_code} on an uncaught exception"


class NodeRuntime:
    name = "node"
    loads_in_a_page = False

    def check(self) -> None:
        node_executable()

    def run_python(self, dist: Path, job: PythonJob, on_output: OutputSink | None = None) -> PythonRun:
        node = node_executable()
        if not (dist / "python.js").is_file():
            raise RuntimeUnavailableError(f"{dist}: no python.js; is this a node flavor artifact?")
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="wf-node-") as temp:
            prefix, scratch = Path(temp) / "prefix", Path(temp) / "tmp"
            shutil.copytree(dist, prefix)
            scratch.mkdir()
            mounts = Mounts(mounts=(Mount(guest=GUEST_PREFIX, host=prefix), Mount(guest=GUEST_TMP, host=scratch)))
            mounts.write(job.files)
            command = [node, str(prefix / "python.js"), *host_args(job.args, mounts)]
            output = OutputLog(on_output)
            exit_code, stopped = _run(command, scratch, job, output, start)
            collected = mounts.collect(job.collect)
        seconds = time.monotonic() - start
        text = output.text()
        if stopped is not None:
            return PythonRun(exit_code=None, output=text, collected=collected, seconds=seconds, crash=stopped)
        crash = crash_report(exit_code, text)
        if crash is not None:
            return PythonRun(exit_code=None, output=text, collected=collected, seconds=seconds, crash=crash)
        return PythonRun(exit_code=exit_code, output=text, collected=collected, seconds=seconds)


def _run(command: list[str], cwd: Path, job: PythonJob, output: OutputLog, start: float) -> tuple[int, str | None]:
    """Run node to the end, or stop it (and say why) when it runs too long or falls silent."""
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    reader = threading.Thread(target=_pump, args=(process.stdout, output), daemon=True)
    reader.start()
    stopped: str | None = None
    while process.poll() is None:
        stopped = give_up_reason(job, start, output)
        if stopped is not None:
            process.kill()
            break
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
    exit_code = process.wait()
    reader.join()
    output.finish()
    return exit_code, stopped


def _pump(stream: IO[bytes], output: OutputLog) -> None:
    with stream:
        for line in iter(stream.readline, b""):
            output.feed("stdout", line)
