"""Building several targets at once: each is prepared on its own, the prepared ones build in one
`docker buildx bake` run, and a table reports every result. Which targets a command picks is
tests/test_target_selection.py; what BuildKit does with a run is tests/test_buildkit.py."""

import json

import pytest

from wasmforge.building.build_many import Outcome, format_outcomes
from wasmforge.core.errors import ToolchainError
from wasmforge.model.workspace import Workspace

from .conftest import BROWSER_TARGET, NODE_TARGET, ROOT, WASI_TARGET, built_dist


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def test_the_table_has_a_row_per_target_then_the_count_then_each_error(ws):
    browser, node, wasi = (ws.matrix.resolve(name) for name in (BROWSER_TARGET, NODE_TARGET, WASI_TARGET))
    outcomes = [
        Outcome(target=browser, seconds=61.0, size_raw=1004, size_gzip=52),
        Outcome(target=node, seconds=2.5, error=f"docker buildx bake of {NODE_TARGET} failed: boom"),
        Outcome(target=wasi, seconds=3725.0, size_raw=2_000_000, size_gzip=1_000_000),
    ]
    table = format_outcomes(outcomes).splitlines()
    assert table[0].split() == ["target", "result", "time", "size", "raw", "/", "gzip", "(bytes)"]
    rows = {line.split()[0]: line.split() for line in table[2:5]}
    assert rows[BROWSER_TARGET][1:] == ["ok", "1m01s", "1,004", "/", "52"]
    assert rows[NODE_TARGET][1:] == ["FAILED", "2.5s", "-"]
    assert rows[WASI_TARGET][1:] == ["ok", "62m05s", "2,000,000", "/", "1,000,000"]
    assert table[5:] == ["2 of 3 built", f"{NODE_TARGET}: docker buildx bake of {NODE_TARGET} failed: boom"]


def test_cli_build_of_several_targets_reports_each_failure_and_exits_non_zero(invoke_cli, project_copy):
    # Without their toolchain locks both targets fail at once, before Docker is involved.
    for lock in ("emscripten-3.1.69", "wasi-clang-19"):
        (project_copy / "recipes" / "toolchains" / f"{lock}.lock.json").unlink()
    result = invoke_cli(["build", "--target", "wasi", "--target", "emscripten-browser"], cwd=project_copy)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[2:4]] == [[WASI_TARGET, "FAILED"], [BROWSER_TARGET, "FAILED"]]
    assert lines[4] == "0 of 2 built"
    assert "wasi-clang-19.lock.json: toolchain lock missing" in lines[5]
    assert ToolchainError.__name__ not in result.stdout


@pytest.mark.docker
def test_a_target_that_cannot_be_prepared_does_not_stop_the_others(invoke_cli, project_copy):
    # The browser entry's layers are the main job's (same recipes): its bake run is a cache hit.
    expected = json.loads((built_dist(BROWSER_TARGET) / "manifest.json").read_text())
    (project_copy / "recipes" / "toolchains" / "wasi-clang-19.lock.json").unlink()
    result = invoke_cli(["build", "--target", "wasi", "--target", "emscripten-browser"], cwd=project_copy)
    assert result.returncode == 1, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[2:4]}
    assert rows == {WASI_TARGET: "FAILED", BROWSER_TARGET: "ok"}
    assert "1 of 2 built" in result.stdout
    assert json.loads((project_copy / "dist" / BROWSER_TARGET / "manifest.json").read_text()) == expected
    assert "one BuildKit run for 1 target(s)" in result.stderr


@pytest.mark.docker
def test_a_failing_step_fails_every_target_of_the_run_and_writes_no_dist(invoke_cli, project_copy):
    # zlib is in both entries; the stages before it come from the main job's cache.
    (project_copy / "recipes" / "zlib" / "build.sh").write_text("echo 'zlib: made to fail' >&2\nexit 3\n")
    result = invoke_cli(["build", "--target", "emscripten-browser", "--target", "emscripten-node"], cwd=project_copy)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[2:4]] == [[BROWSER_TARGET, "FAILED"], [NODE_TARGET, "FAILED"]]
    assert lines[4] == "0 of 2 built"
    for line in lines[5:7]:
        assert "docker buildx bake of" in line and "exit code: 3" in line, line
        assert str(project_copy / "build" / "bake.log") in line
    assert not (project_copy / "dist").exists()
