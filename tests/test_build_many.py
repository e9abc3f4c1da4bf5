"""Several targets at once: names, aliases and globs select targets before anything builds; the
builds run one after another past failures and end with a table of every result."""

import gzip
from pathlib import Path

import pytest

from wasmforge.building.build import BuildResult, BuildSettings
from wasmforge.building.build_many import build_each, format_outcomes
from wasmforge.core.errors import BuildError, ExcludedTargetError, ToolchainError, UnknownTargetError
from wasmforge.model.manifest import Manifest, record_outputs
from wasmforge.model.plan import BuildPlan
from wasmforge.model.workspace import Workspace

from .conftest import (
    BROWSER_EMSCRIPTEN6_TARGET, BROWSER_TARGET, NODE_PTHREADS_TARGET, NODE_TARGET, ROOT, WASI_TARGET,
)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def ids(targets) -> list[str]:
    return [t.id for t in targets]


def test_a_glob_selects_target_ids_in_matrix_order(ws):
    assert ids(ws.matrix.select(["cpython3.13-emscripten3*"])) == [BROWSER_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET]
    assert ids(ws.matrix.select(["*-node*"])) == [NODE_TARGET, NODE_PTHREADS_TARGET]
    assert ids(ws.matrix.select(["*"])) == ws.matrix.target_ids()


def test_a_glob_matches_aliases_too(ws):
    assert ids(ws.matrix.select(["emscripten-*"])) == [BROWSER_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET]
    assert ids(ws.matrix.select(["wa?i"])) == [WASI_TARGET]


def test_names_keep_the_order_asked_and_each_target_builds_once(ws):
    selected = ws.matrix.select(["wasi", "emscripten-browser", BROWSER_TARGET, "cpython3.13-*"])
    assert ids(selected) == [WASI_TARGET, BROWSER_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET, BROWSER_EMSCRIPTEN6_TARGET]


def test_a_glob_matching_nothing_is_an_error_listing_the_valid_targets(ws):
    with pytest.raises(UnknownTargetError, match=r"no target matches 'cpython3.12-\*'; valid targets: .*emscripten-node"):
        ws.matrix.select(["cpython3.12-*"])


def test_one_excluded_name_stops_the_whole_selection(ws):
    with pytest.raises(ExcludedTargetError, match="SharedArrayBuffer"):
        ws.matrix.select(["emscripten-node", f"{BROWSER_TARGET}-pthreads"])


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


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (f"{BROWSER_TARGET}-pthreads", "pthreads need SharedArrayBuffer"),
        (f"{NODE_TARGET}-pthreads+dynamic-linking", "emscripten's dynamic linking with pthreads is experimental"),
        ("cpython3.13-emscripten6.0.5-node", "it builds, but every run dies in emscripten 6.0.5's NODERAWFS fstat on a standard stream"),
        ("cpython3.14-emscripten3.1.69-browser", "CPython 3.14 is built and tested upstream with emscripten 4.0"),
        ("cpython3.14-emscripten3.1.69-node", "CPython 3.14 is built and tested upstream with emscripten 4.0"),
        ("cpython3.14-emscripten6.0.5-browser", "not built yet: the pinned CPython 3.14.10 source could not be fetched"),
        ("cpython3.14-wasi19.1.7-wasi", "not built yet: the pinned CPython 3.14.10 source could not be fetched"),
    ],
)
def test_cli_build_of_an_excluded_combination_fails_with_its_reason_and_builds_nothing(invoke_cli, project_copy, name, reason):
    result = invoke_cli(["build", "--target", "emscripten-node", "--target", name], cwd=project_copy)
    assert result.returncode == ExcludedTargetError.exit_code
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: target '{name}' is excluded by matrix.json: {reason}")
    assert not (project_copy / "build").exists() and not (project_copy / "dist").exists(), "nothing was built"


def test_cli_build_of_a_combination_the_matrix_does_not_declare_fails_naming_the_valid_targets(invoke_cli, project_copy):
    # No entry of Debian unstable's emscripten has the debug flag, and no exclusion names the pair.
    result = invoke_cli(["build", "--target", "cpython3.13-emscripten6.0.5-browser-debug"], cwd=project_copy)
    assert result.returncode == UnknownTargetError.exit_code
    [line] = result.stderr.splitlines()
    assert line.startswith("error: unknown target 'cpython3.13-emscripten6.0.5-browser-debug'")
    assert BROWSER_EMSCRIPTEN6_TARGET in line
    assert not (project_copy / "build").exists() and not (project_copy / "dist").exists(), "nothing was built"


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
