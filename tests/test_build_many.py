"""Building several targets at once: the builds run one after another past failures and end with
a table of every result. Which targets a command picks is tests/test_target_selection.py."""

import gzip
from pathlib import Path

import pytest

from wasmforge.building.build import BuildResult, BuildSettings
from wasmforge.building.build_many import build_each, format_outcomes
from wasmforge.core.errors import BuildError, ToolchainError
from wasmforge.model.manifest import Manifest, record_outputs
from wasmforge.model.plan import BuildPlan
from wasmforge.model.workspace import Workspace

from .conftest import BROWSER_TARGET, NODE_TARGET, ROOT, WASI_TARGET


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def fake_builder(tmp_path: Path, failing: set[str]):
    """Stands in for build_target: fails the named targets, writes a small artifact for the rest."""
    built = []

    def builder(ws: Workspace, plan: BuildPlan, settings: BuildSettings) -> BuildResult:
        target = plan.target
        built.append(target.id)
        if target.id in failing:
            raise BuildError(f"docker build of {target.id} failed: boom")
        dist = tmp_path / target.id
        dist.mkdir()
        (dist / "python.wasm").write_bytes(b"\0asm" + bytes(1000))
        manifest = Manifest(target={"id": target.id}, source_date_epoch=0, toolchain={}, recipe_digest="",
                            inputs=(), outputs=record_outputs(dist))
        return BuildResult(plan=plan, dist=dist, manifest=manifest, durations={})

    return builder, built


def test_a_failed_target_does_not_stop_the_next_and_every_result_is_reported(ws, tmp_path):
    targets = ws.matrix.select([BROWSER_TARGET, NODE_TARGET, WASI_TARGET])
    builder, built = fake_builder(tmp_path, failing={NODE_TARGET})
    outcomes = build_each(ws, targets, BuildSettings(), builder)
    assert built == [BROWSER_TARGET, NODE_TARGET, WASI_TARGET]
    assert [o.ok for o in outcomes] == [True, False, True]
    gz = len(gzip.compress(b"\0asm" + bytes(1000), 9, mtime=0))
    assert (outcomes[0].size_raw, outcomes[0].size_gzip) == (1004, gz)

    table = format_outcomes(outcomes).splitlines()
    assert table[0].split() == ["target", "result", "time", "size", "raw", "/", "gzip", "(bytes)"]
    rows = {line.split()[0]: line.split() for line in table[2:5]}
    assert rows[BROWSER_TARGET][1] == "ok" and rows[BROWSER_TARGET][3:] == ["1,004", "/", f"{gz:,}"]
    assert rows[NODE_TARGET][1] == "FAILED" and rows[NODE_TARGET][3] == "-"
    assert table[5] == "2 of 3 built"
    assert table[6] == f"{NODE_TARGET}: docker build of {NODE_TARGET} failed: boom"


def test_errors_other_than_wasmforge_errors_are_not_swallowed(ws, tmp_path):
    def broken(ws, plan, settings):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_each(ws, ws.matrix.select(["*"]), BuildSettings(), broken)


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
