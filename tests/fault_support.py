"""Real processes for the fault-injection tests: the `invoke` CLI started as a user would, with
WASMFORGE_FAULT making it kill -9 or stop itself at a named point (wasmforge/core/faults.py).

Each test gets its own cache folder (so its pull and publisher state), store and keys under
tmp_path, so tests run side by side on the xdist workers without sharing a file.
"""

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import ROOT

# Every child a test starts, so that one left stopped or running by a failing test is killed.
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def no_stray_processes() -> Iterator[None]:
    """Autouse in every module that imports it: kill what the test started and left behind."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    STARTED.append(process)
    return process


@dataclass(frozen=True)
class Cli:
    """The CLI of one machine: its own cache (pull state, publisher state) and environment."""

    cache: Path

    def env(self, fault: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WASMFORGE_")}
        env["WASMFORGE_CACHE"] = str(self.cache)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        if fault is not None:
            env["WASMFORGE_FAULT"] = fault
        env.update(extra)
        return env

    def start(self, *args: str, fault: str | None = None, **extra: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args]
        return spawn(command, self.env(fault, **extra))

    def run(self, *args: str, fault: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        process = self.start(*args, fault=fault, **extra)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL


def wait_until_stopped(process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Block until the child has SIGSTOPped itself at its fault point (it still holds its locks)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            return
        if pid:
            raise AssertionError(f"process ended before its fault point (status {status}): {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("process did not reach its fault point")


def wait_for_stderr(process: subprocess.Popen[str], text: str, timeout: float = 120) -> str:
    """Read the child's stderr until `text` appears (a process blocked on a lock says so when it
    starts waiting), and return what was read; `communicate()` gets the rest. Waiting for the
    message, not for a fixed time, keeps the race tests right on a loaded machine."""
    import select
    import time

    assert process.stderr is not None
    fd = process.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {text!r} on stderr within {timeout:g} s; got: {seen.decode(errors='replace')[-2000:]}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stderr closed before {text!r}: {seen.decode(errors='replace')[-2000:]}")
            seen += chunk
    return seen.decode(errors="replace")


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line a failing command prints (and no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def siblings(dest: Path) -> list[str]:
    """What sits beside `dest` under its hidden names (staging, parked copies), lock file aside."""
    return sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.") and p.name != f".{dest.name}.lock")
