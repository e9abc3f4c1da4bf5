"""Run-time speed for `invoke bench`: a small pyperformance-style workload, timed inside Python.

Cold start says how soon Python answers; this says how fast it then runs. Each kernel is pure
Python (calls, floats, strings, dicts) or the C code behind a stdlib module (json, re), timed with
time.perf_counter() inside the interpreter, so that neither start-up nor the loading of packs
counts. A build option that shrinks python.wasm (-Os, -Oz) is judged by these numbers too.
"""

import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.errors import BenchError

SPEED_MARK = "wf-speed"
KERNELS = ("calls", "floats", "strings", "dicts", "json_and_re")
SPEED_TIMEOUT_SECONDS = 300.0

# The kernels, defined and timed by one piece of code that the workload runs with exec() once per
# pass: each exec is a fresh entry into the interpreter's eval loop, which is what matters below.
_KERNELS_SOURCE = """
import json, re, time

def calls():
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    return fib(25)

def floats():
    total = 0
    for y in range(96):
        for x in range(128):
            c = complex(-2.0 + 2.5 * x / 128, -1.0 + 2.0 * y / 96)
            z = 0j
            for n in range(60):
                z = z * z + c
                if abs(z) > 2.0:
                    break
            total += n
    return total

def strings():
    words = [f"word{i % 97}-{i}" for i in range(80000)]
    text = " ".join(w.upper().replace("-", "_") for w in words)
    return len(text.split()) + sum(len(w.partition("_")[2]) for w in text.lower().split())

def dicts():
    counts = {}
    for i in range(240000):
        key = (i * 7919) % 1009
        counts[key] = counts.get(key, 0) + i
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0]

def json_and_re():
    document = {"rows": [{"id": i, "name": f"n{i}", "tags": ["a", "b"], "score": i / 3} for i in range(12000)]}
    text = json.dumps(document)
    back = json.loads(text)
    return len(back["rows"]) + len(re.findall(r'"n(\\d+)"', text))

for kernel in [KERNELS]:
    start = time.perf_counter()
    kernel()
    print("SPEED_MARK", PHASE, kernel.__name__, f"{time.perf_counter() - start:.6f}")
""".replace("KERNELS", ", ".join(KERNELS)).replace("SPEED_MARK", SPEED_MARK)
# "first": right after start-up, as a short program runs. "steady": each kernel's best time over
# STEADY_PASSES more passes, each after a pause. Why both: V8 runs a wasm function on its baseline
# compiler (Liftoff) until it is hot, optimises it in the background, and has no on-stack
# replacement for wasm, so a call already running (the eval loop of a long program) stays on
# baseline code; a new call once the optimised code is ready gets it. How soon that is depends on
# the machine's load, hence several passes. Pyodide's long start-up has made the eval loop hot
# before user code runs.
PHASES = ("first", "steady")
STEADY_PASSES = 5
STEADY_PAUSE_SECONDS = 0.5
SPEED_CODE = (
    "import time\n"
    f"source = {_KERNELS_SOURCE!r}\n"
    f"exec(source, {{'PHASE': {PHASES[0]!r}}})\n"
    f"for _ in range({STEADY_PASSES}):\n"
    f"    time.sleep({STEADY_PAUSE_SECONDS})\n"
    f"    exec(source, {{'PHASE': {PHASES[1]!r}}})\n"
)
_LINE = re.compile(rf"^{SPEED_MARK} ({'|'.join(PHASES)}) (\w+) ([0-9.]+)$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True)
class SpeedRun:
    """One process's seconds per kernel, in each phase."""

    seconds: dict[str, dict[str, float]]  # phase -> kernel -> seconds

    def total(self, phase: str) -> float:
        return sum(self.seconds[phase].values())


@dataclass(frozen=True, kw_only=True)
class PhaseSample:
    """One phase over runs: the median total, each kernel's median, and every run's total."""

    total: float
    kernels: dict[str, float]
    totals: list[float]


@dataclass(frozen=True, kw_only=True)
class SpeedSample:
    first: PhaseSample
    steady: PhaseSample

    def phase(self, name: str) -> PhaseSample:
        return {"first": self.first, "steady": self.steady}[name]


def parse_speed_output(label: str, output: str) -> SpeedRun:
    seconds: dict[str, dict[str, float]] = {phase: {} for phase in PHASES}
    for phase, name, value in _LINE.findall(output):
        # "first" is printed once per kernel; of the steady passes the best counts.
        seconds[phase][name] = min(float(value), seconds[phase].get(name, float("inf")))
    missing = [f"{phase} {name}" for phase in PHASES for name in KERNELS if name not in seconds[phase]]
    if missing:
        raise BenchError(f"{label}: the speed workload printed no time for {', '.join(missing)}: {output.strip()[-300:]!r}")
    return SpeedRun(seconds=seconds)


def run_speed(label: str, command: list[str], cwd: Path) -> SpeedRun:
    """One new process running SPEED_CODE (command runs the code it is given)."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=SPEED_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{label}: the speed workload did not finish in {SPEED_TIMEOUT_SECONDS:.0f} s") from None
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise BenchError(f"{label}: the speed workload failed (exit {result.returncode}): {tail}")
    return parse_speed_output(label, result.stdout)


def summarise(runs: list[SpeedRun]) -> SpeedSample:
    def phase(name: str) -> PhaseSample:
        return PhaseSample(
            total=statistics.median(run.total(name) for run in runs),
            kernels={kernel: statistics.median(run.seconds[name][kernel] for run in runs) for kernel in KERNELS},
            totals=[run.total(name) for run in runs],
        )
    return SpeedSample(first=phase("first"), steady=phase("steady"))
