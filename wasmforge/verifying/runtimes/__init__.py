"""Where an artifact's interpreter runs: one runtime per flavor, behind one small Protocol.

The matrix names each flavor's runtime (`flavors.<name>.runtime` in matrix.json); RUNTIMES maps
that name to a factory. Code that runs Python in an artifact (regression tests, benchmarks) asks
`runtime_for(target)` and never branches on the flavor itself: the nightly's smoke test, `serve`
and `bench` ask the runtime too. A new flavor plugs in with one
module that implements `Runtime` and one entry in RUNTIMES.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from wasmforge.core.errors import RuntimeUnavailableError
from wasmforge.model.matrix import Target

# Called with (stream, text) as output arrives, stream being "stdout" or "stderr".
OutputSink = Callable[[str, str], None]


@dataclass(frozen=True, kw_only=True)
class PythonJob:
    """One interpreter run: argv after `python`, files to add to its file system, files to read back.

    Paths are the guest's: the interpreter's prefix is /usr/local (where the build installs it;
    its stdlib directory /usr/local/lib/pythonX.Y is on the default sys.path), and scratch files
    go under /tmp. Every runtime gives each run those two directories of its own, and nothing a
    run writes reaches dist/ (see host.py for the runtimes that run on this host).
    """

    args: tuple[str, ...]
    # Guest path -> content, written before the interpreter starts (e.g. CPython's Lib/test).
    files: dict[str, bytes] = field(default_factory=dict)
    # Guest paths whose text is returned after exit (e.g. a JUnit report the run wrote).
    collect: tuple[str, ...] = ()
    timeout_seconds: float = 600.0
    # A run that prints nothing for this long is taken as hung (None: only timeout_seconds counts).
    idle_timeout_seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class PythonRun:
    exit_code: int | None  # None: the runtime crashed or timed out before main returned
    output: str  # stdout and stderr interleaved as they arrived
    collected: dict[str, str]
    seconds: float
    crash: str | None = None


class Runtime(Protocol):
    name: str
    # True where the artifact is loaded by a web page (the browser flavor): `invoke serve` serves
    # it with the REPL page and `invoke bench` measures its download and start in a browser.
    loads_in_a_page: bool

    def check(self) -> None:
        """Raise RuntimeUnavailableError saying how to install what this runtime needs."""
        ...

    def run_python(self, dist: Path, job: PythonJob, on_output: OutputSink | None = None) -> PythonRun:
        """Run the interpreter of the artifact in `dist` once, as `job` says."""
        ...


def _chromium() -> Runtime:
    from .chromium import ChromiumRuntime

    return ChromiumRuntime()


def _node() -> Runtime:
    from .node import NodeRuntime

    return NodeRuntime()


def _wasmtime() -> Runtime:
    from .wasmtime import WasmtimeRuntime

    return WasmtimeRuntime()


RUNTIMES: dict[str, Callable[[], Runtime]] = {
    "chromium": _chromium,
    "node": _node,
    "wasmtime": _wasmtime,
}


def runtime_for(target: Target) -> Runtime:
    name = target.flavor.runtime
    factory = RUNTIMES.get(name)
    if factory is None:
        known = ", ".join(sorted(RUNTIMES))
        raise RuntimeUnavailableError(
            f"{target.id}: flavor '{target.flavor.name}' runs on '{name}', which wasmforge cannot drive yet (known runtimes: {known})"
        )
    return factory()
