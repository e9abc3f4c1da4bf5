"""The bench's run-time speed workload (speed.py): five kernels timed inside Python, once right
after start-up ("first") and at their best over later passes ("steady"). Checked here with the
host's own Python running the very code the bench gives Node; tests/test_bench.py runs it in the
artifact and in Pyodide."""

import sys
from pathlib import Path

import pytest

from wasmforge.core.errors import BenchError
from wasmforge.verifying import speed


def test_the_workload_times_every_kernel_in_both_phases():
    run = speed.run_speed("host", [sys.executable, "-c", speed.SPEED_CODE], Path.cwd())
    for phase in speed.PHASES:
        assert set(run.seconds[phase]) == set(speed.KERNELS)
        assert all(seconds > 0 for seconds in run.seconds[phase].values())


def test_of_the_steady_passes_the_best_time_counts():
    lines = [f"wf-speed first {name} 0.5" for name in speed.KERNELS]
    lines += [f"wf-speed steady {name} {seconds}" for seconds in (0.3, 0.1, 0.2) for name in speed.KERNELS]
    run = speed.parse_speed_output("x", "\n".join(lines))
    assert run.total("first") == pytest.approx(2.5) and run.total("steady") == pytest.approx(0.5)


def test_medians_are_taken_per_phase_and_per_kernel():
    runs = [speed.SpeedRun(seconds={phase: {name: value for name in speed.KERNELS} for phase in speed.PHASES})
            for value in (1.0, 3.0, 2.0)]
    sample = speed.summarise(runs)
    assert sample.first.total == 10.0 and sample.steady.kernels["calls"] == 2.0
    assert sample.first.totals == [5.0, 15.0, 10.0]


def test_a_workload_that_stops_short_names_what_is_missing():
    with pytest.raises(BenchError, match=r"^pyodide: the speed workload printed no time for .*steady calls"):
        speed.parse_speed_output("pyodide", "wf-speed first calls 0.1\n")


def test_a_workload_that_fails_says_so_with_its_exit_code():
    with pytest.raises(BenchError, match=r"^host: the speed workload failed \(exit 3\): boom"):
        speed.run_speed("host", [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], Path.cwd())
