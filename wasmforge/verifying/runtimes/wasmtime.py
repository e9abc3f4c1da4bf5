"""The WASI flavor's runtime: wasmtime, through the `wasmtime` package's Python API (the `test`
extra), as tests/test_wasi_flavor.py runs the artifact.

Each run extracts python-stdlib.tar.gz (an install prefix) into a private directory and maps it
in as /usr/local, the interpreter's compiled-in prefix, read-write so that job files under
/usr/local/lib/python3.13 sit beside the stdlib on the default sys.path; a second private
directory is mapped in as /tmp. Nothing else of the host is visible to the guest.

The guest's stdout and stderr are both opened on one named pipe that this process reads, so
the output keeps the order the guest wrote it in (the sink sees all of it as "stdout"); wasmtime's
stdout/stderr callbacks would do the same, but the callback it keeps past the run crashes the
Python process as it exits. A run that must be given up (too long, or silent) is stopped with
wasmtime's epoch interruption: the guest traps at its next check, which ends the call.
"""

import errno
import os
import select
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmforge.core.errors import RuntimeUnavailableError
from . import OutputSink, PythonJob, PythonRun
from .host import GUEST_PREFIX, GUEST_TMP, Mount, Mounts, OutputLog, give_up_reason

# The native stack wasmtime allows the guest's frames (CPython's own C stack is in linear memory,
# sized at link time): the package's largest, since a larger one fails "max_wasm_stack size cannot
# exceed the async_stack_size" (2 MiB). The run happens on a thread with a native stack well above it.
MAX_WASM_STACK = 2 << 20
RUNNER_THREAD_STACK = 64 << 20
# getpath starts from argv[0]: a guest path under the prefix makes /usr/local the prefix. The
# module is put there too, as an install would, because sys.executable is read by some of the
# stdlib (platform.libc_ver opens it).
GUEST_EXECUTABLE = f"{GUEST_PREFIX}/bin/python3"


def check_wasmtime() -> None:
    try:
        import wasmtime  # noqa: F401
    except ImportError:
        raise RuntimeUnavailableError("the wasmtime package is missing: `pip install -e '.[test]'`") from None


@dataclass(kw_only=True)
class Outcome:
    exit_code: int | None = None
    trap: str | None = None


class WasmtimeRuntime:
    name = "wasmtime"
    loads_in_a_page = False

    def __init__(self) -> None:
        self._engine: Any = None
        self._modules: dict[Path, Any] = {}  # python.wasm -> its compiled module (compiling takes a while)

    def check(self) -> None:
        check_wasmtime()

    def run_python(self, dist: Path, job: PythonJob, on_output: OutputSink | None = None) -> PythonRun:
        wasm, stdlib = dist / "python.wasm", dist / "python-stdlib.tar.gz"
        for path in (wasm, stdlib):
            if not path.is_file():
                raise RuntimeUnavailableError(f"{dist}: no {path.name}; is this a WASI flavor artifact?")
        module = self._module(wasm)
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="wf-wasmtime-") as temp:
            prefix, scratch, root = Path(temp) / "prefix", Path(temp) / "tmp", Path(temp) / "root"
            for directory in (prefix, scratch, root):
                directory.mkdir()
            with tarfile.open(stdlib) as archive:
                archive.extractall(prefix, filter="data")
            mounts = Mounts(mounts=(Mount(guest=GUEST_PREFIX, host=prefix), Mount(guest=GUEST_TMP, host=scratch)))
            mounts.write({GUEST_EXECUTABLE: wasm.read_bytes(), **job.files})
            output = OutputLog(on_output)
            outcome, stopped = self._run(module, job, mounts, root, Path(temp) / "output", output, start)
            collected = mounts.collect(job.collect)
        output.finish()
        seconds = time.monotonic() - start
        crash = stopped or outcome.trap
        if crash is not None:
            return PythonRun(exit_code=None, output=output.text(), collected=collected, seconds=seconds, crash=crash)
        return PythonRun(exit_code=outcome.exit_code, output=output.text(), collected=collected, seconds=seconds)

    def _module(self, wasm: Path) -> Any:
        import wasmtime

        if self._engine is None:
            config = wasmtime.Config()
            config.max_wasm_stack = MAX_WASM_STACK
            config.epoch_interruption = True
            self._engine = wasmtime.Engine(config)
        key = wasm.resolve()
        if key not in self._modules:
            self._modules[key] = wasmtime.Module.from_file(self._engine, str(wasm))
        return self._modules[key]

    def _run(self, module: Any, job: PythonJob, mounts: Mounts, root: Path, pipe: Path, output: OutputLog,
             start: float) -> tuple[Outcome, str | None]:
        """Run the module's _start on a thread of its own, reading its output here as it comes;
        stop it if it must be given up."""
        os.mkfifo(pipe)
        # Open for reading first, without waiting for a writer: wasmtime opens the writing ends
        # when the WASI configuration is made, and would wait for a reader otherwise.
        reading = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        try:
            wasi = self._wasi_config(job, mounts, root, pipe)
            outcome = Outcome()
            previous = threading.stack_size(RUNNER_THREAD_STACK)
            try:
                runner = threading.Thread(target=self._start, args=(module, wasi, outcome), daemon=True)
                runner.start()
            finally:
                threading.stack_size(previous)
            del wasi  # the runner owns it now: its store closes the writing ends when the run ends
            stopped: str | None = None
            while runner.is_alive():
                _read_available(reading, output, wait_seconds=1.0)
                if stopped is None:
                    stopped = give_up_reason(job, start, output)
                    if stopped is not None:
                        self._engine.increment_epoch()
            runner.join()
            _read_available(reading, output, wait_seconds=0.0)
        finally:
            os.close(reading)
        return outcome, stopped

    def _wasi_config(self, job: PythonJob, mounts: Mounts, root: Path, pipe: Path) -> Any:
        import wasmtime

        wasi = wasmtime.WasiConfig()
        wasi.argv = [GUEST_EXECUTABLE, *job.args]
        for mount in mounts.mounts:
            wasi.preopen_dir(str(mount.host), mount.guest)
        # A WASI program starts in "/", which exists only if something is mapped there: an empty
        # directory, so that going back to the starting directory works (regrtest does, at its
        # end). wasi-libc resolves a path through the longest matching preopen, so /usr/local and
        # /tmp still reach their own.
        wasi.preopen_dir(str(root), "/")
        wasi.stdout_file = str(pipe)
        wasi.stderr_file = str(pipe)
        return wasi

    def _start(self, module: Any, wasi: Any, outcome: Outcome) -> None:
        import wasmtime

        store = wasmtime.Store(self._engine)
        store.set_epoch_deadline(1)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        try:
            instance = linker.instantiate(store, module)
            instance.exports(store)["_start"](store)
            outcome.exit_code = 0
        except wasmtime.ExitTrap as exit_:
            outcome.exit_code = exit_.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            outcome.trap = trap_summary(str(exc))


def trap_summary(message: str) -> str:
    """wasmtime's trap message with its cause first ("wasm trap: call stack exhausted"): the
    message starts with a long backtrace and ends with "Caused by:" and the cause."""
    text = message.strip()
    head, marker, cause = text.rpartition("Caused by:")
    if not marker or not cause.strip():
        return text or "wasm trap"
    return f"{' '.join(cause.split())}\n{head.strip()}"


def _read_available(fd: int, output: OutputLog, wait_seconds: float) -> None:
    """Pass on what the pipe holds, waiting up to wait_seconds for something to arrive."""
    ready, _, _ = select.select([fd], [], [], wait_seconds)
    while ready:
        try:
            data = os.read(fd, 1 << 16)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return
            raise
        if not data:
            return  # no writer left (or none yet)
        output.feed("stdout", data)
