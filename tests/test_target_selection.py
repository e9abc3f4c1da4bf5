"""Choosing targets: names, aliases and globs select matrix targets before anything builds, and an
unknown or excluded name stops the command with one line naming the valid targets or the reason.
(Resolving one name against a hand-edited matrix is in tests/test_matrix.py.)"""

import pytest

from wasmforge.core.errors import ExcludedTargetError, UnknownTargetError
from wasmforge.model.workspace import Workspace

from .conftest import (
    BROWSER_EMSCRIPTEN6_TARGET, BROWSER_PTHREADS_TARGET, BROWSER_TARGET, NODE_DEBUG_TARGET, NODE_EMSCRIPTEN6_TARGET,
    NODE_PTHREADS_TARGET, NODE_TARGET, ROOT, WASI_TARGET,
)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def ids(targets) -> list[str]:
    return [t.id for t in targets]


def test_a_glob_selects_target_ids_in_matrix_order(ws):
    assert ids(ws.matrix.select(["cpython3.13-emscripten3*"])) == [BROWSER_TARGET, BROWSER_PTHREADS_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET, NODE_DEBUG_TARGET]
    assert ids(ws.matrix.select(["*-node*"])) == [NODE_TARGET, NODE_PTHREADS_TARGET, NODE_DEBUG_TARGET, NODE_EMSCRIPTEN6_TARGET]
    assert ids(ws.matrix.select(["*"])) == ws.matrix.target_ids()


def test_a_glob_matches_aliases_too(ws):
    assert ids(ws.matrix.select(["emscripten-*"])) == [BROWSER_TARGET, BROWSER_PTHREADS_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET, NODE_DEBUG_TARGET]
    assert ids(ws.matrix.select(["wa?i"])) == [WASI_TARGET]


def test_names_keep_the_order_asked_and_each_target_builds_once(ws):
    selected = ws.matrix.select(["wasi", "emscripten-browser", BROWSER_TARGET, "cpython3.13-*"])
    assert ids(selected) == [WASI_TARGET, BROWSER_TARGET, BROWSER_PTHREADS_TARGET, NODE_TARGET, NODE_PTHREADS_TARGET, NODE_DEBUG_TARGET,
                             BROWSER_EMSCRIPTEN6_TARGET, NODE_EMSCRIPTEN6_TARGET]


def test_a_glob_matching_nothing_is_an_error_listing_the_valid_targets(ws):
    with pytest.raises(UnknownTargetError, match=r"no target matches 'cpython3.12-\*'; valid targets: .*emscripten-node"):
        ws.matrix.select(["cpython3.12-*"])


def test_one_excluded_name_stops_the_whole_selection(ws):
    with pytest.raises(ExcludedTargetError, match="dynamic linking with pthreads is experimental"):
        ws.matrix.select(["emscripten-node", f"{BROWSER_TARGET}-pthreads+dynamic-linking"])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (f"{BROWSER_TARGET}-pthreads+dynamic-linking", "emscripten's dynamic linking with pthreads is experimental"),
        (f"{NODE_TARGET}-pthreads+dynamic-linking", "emscripten's dynamic linking with pthreads is experimental"),
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


def test_an_unknown_target_on_the_command_line_lists_the_valid_ones(invoke_cli):
    result = invoke_cli(["build", "--target", "emscripten-browzer"], cwd=ROOT)
    assert result.returncode == UnknownTargetError.exit_code
    assert "unknown target 'emscripten-browzer'" in result.stderr
    assert "emscripten-browser" in result.stderr and BROWSER_TARGET in result.stderr
