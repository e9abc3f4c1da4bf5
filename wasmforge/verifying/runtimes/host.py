"""What the runtimes that run the interpreter on this host (node, wasmtime) share: a private run
directory standing in for the guest's /usr/local and /tmp, output gathered as it arrives, and the
two reasons to give up on a run (too long in all, or silent for too long).

A job names its files by guest path (see PythonJob). Here each guest directory the job may use is
backed by a host directory made for that one run, so runs never see each other's files and
nothing is written into dist/.
"""

import codecs
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import OutputSink, PythonJob

# The prefix the build installs to (recipes/cpython/build.sh, --prefix /usr/local): the
# interpreter's stdlib directory is GUEST_PREFIX/lib/pythonX.Y. GUEST_TMP holds a job's scratch
# files (a JUnit report, an ignore file).
GUEST_PREFIX = "/usr/local"
GUEST_TMP = "/tmp"


@dataclass(frozen=True, kw_only=True)
class Mount:
    guest: str  # an absolute guest directory, no trailing slash
    host: Path


@dataclass(frozen=True, kw_only=True)
class Mounts:
    """Guest directories and the host directories that back them for one run."""

    mounts: tuple[Mount, ...]

    def host_path(self, guest: str) -> Path | None:
        """The host file behind a guest path, or None when no mount holds it."""
        path = PurePosixPath(guest)
        if not path.is_absolute() or ".." in path.parts:
            return None
        for mount in self.mounts:
            base = PurePosixPath(mount.guest)
            if path == base or base in path.parents:
                return mount.host.joinpath(*path.relative_to(base).parts)
        return None

    def write(self, files: dict[str, bytes]) -> None:
        for guest, data in files.items():
            host = self.host_path(guest)
            if host is None:
                raise ValueError(f"{guest}: a job file outside the runtime's mounts ({self.describe()})")
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_bytes(data)

    def collect(self, guests: tuple[str, ...]) -> dict[str, str]:
        """The text of each guest file that exists after the run."""
        collected: dict[str, str] = {}
        for guest in guests:
            host = self.host_path(guest)
            if host is not None and host.is_file():
                collected[guest] = host.read_text(encoding="utf-8", errors="replace")
        return collected

    def describe(self) -> str:
        return ", ".join(f"{m.guest} -> {m.host}" for m in self.mounts)


class OutputLog:
    """The run's output as it arrives, from any thread: kept line by line in the order the lines
    were completed, passed on as each one is, and timed, so that a silent run can be told from a
    busy one."""

    def __init__(self, sink: OutputSink | None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._pending: dict[str, str] = {}
        self._decoders: dict[str, codecs.IncrementalDecoder] = {}
        self._last = time.monotonic()

    def feed(self, stream: str, data: bytes) -> None:
        with self._lock:
            self._last = time.monotonic()
            decoder = self._decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")(errors="replace"))
            self._add(stream, decoder.decode(data))

    def finish(self) -> None:
        """Flush what is left: bytes of an unfinished character, a last line without a newline."""
        with self._lock:
            for stream, decoder in self._decoders.items():
                self._add(stream, decoder.decode(b"", final=True))
            for stream, rest in self._pending.items():
                if rest:
                    self._line(stream, rest)
            self._pending.clear()

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def idle_seconds(self) -> float:
        with self._lock:
            return time.monotonic() - self._last

    def _add(self, stream: str, text: str) -> None:
        lines = (self._pending.get(stream, "") + text).split("\n")
        self._pending[stream] = lines.pop()
        for line in lines:
            self._line(stream, line + "\n")

    def _line(self, stream: str, line: str) -> None:
        # Whole lines, so that stdout and stderr interleave by line and never within one.
        self._parts.append(line)
        if self._sink is not None:
            self._sink(stream, line)


def give_up_reason(job: PythonJob, start: float, output: OutputLog) -> str | None:
    """Why a run still going should be stopped now, or None to let it go on."""
    if time.monotonic() - start > job.timeout_seconds:
        return f"no exit after {job.timeout_seconds:.0f}s (timed out)"
    if job.idle_timeout_seconds is not None and output.idle_seconds() > job.idle_timeout_seconds:
        return f"no output for {job.idle_timeout_seconds:.0f}s (hung)"
    return None
