"""A target's build plan (`plan_for`): its components in build order, the stage each becomes, the
recipe files the build reads and the recipe digest over them, and SOURCE_DATE_EPOCH, worked out
once from the matrix and the recipes. Specified on the real project tree, without Docker; edits go
to a copy of it."""

import dataclasses
import json
from pathlib import Path

import pytest

from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace
from wasmforge.rendering.dockerfile import render_dockerfile

from .conftest import BROWSER_TARGET, NODE_TARGET, ROOT, WASI_TARGET


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def digest(project: Path, target_id: str) -> str:
    ws = Workspace.load(root=project)
    return plan_for(ws, ws.matrix.resolve(target_id)).recipe_digest


def edit_recipe(project: Path, name: str, change) -> None:
    path = project / "recipes" / name / "recipe.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def append_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line + "\n")


# ------------------------------------------------------------------------------------------------
# Components and stages


def test_components_are_built_dependencies_first_with_cpython_last_as_the_main_stage(ws):
    for target in ws.matrix.targets:
        plan = plan_for(ws, target)
        names = [stage.name for stage in plan.stages]
        for index, stage in enumerate(plan.stages):
            for dependency in stage.component.recipe.dependencies_for(target):
                assert dependency in names[:index], f"{target.id}: {dependency} is built before {stage.name}"
        assert plan.main is plan.stages[-1] and plan.main.name == "cpython" and plan.main.main
        assert plan.libraries == plan.stages[:-1] and not any(stage.main for stage in plan.libraries)
        assert plan.components == tuple(stage.component for stage in plan.stages)


def test_libffi_is_an_emscripten_only_dependency_so_the_wasi_plan_has_none(ws):
    def stage_names(target_id: str) -> list[str]:
        return [stage.name for stage in plan_for(ws, ws.matrix.resolve(target_id)).stages]

    assert stage_names(BROWSER_TARGET) == ["bzip2", "libffi", "mpdecimal", "sqlite", "xz", "zlib", "cpython"]
    assert stage_names(WASI_TARGET) == ["bzip2", "mpdecimal", "sqlite", "xz", "zlib", "cpython"]


def test_libraries_copy_in_no_prefix_and_the_main_stage_copies_every_library_prefix(ws):
    for target in ws.matrix.targets:
        plan = plan_for(ws, target)
        assert all(stage.prefix_inputs == () for stage in plan.libraries), target.id
        assert plan.main.prefix_inputs == tuple(stage.name for stage in plan.libraries), target.id


def test_each_stage_runs_with_the_epoch_its_name_and_source_and_only_the_main_stage_gets_flavor_and_flags(ws):
    for target in ws.matrix.targets:
        plan = plan_for(ws, target)
        for stage in plan.stages:
            env = plan.stage_env(stage)
            assert env["SOURCE_DATE_EPOCH"] == str(target.source_date_epoch)
            assert env["WF_NAME"] == stage.name
            assert env["WF_SOURCE"] == f"/wf/sources/{stage.component.source.file}"
        main = plan.stage_env(plan.main)
        assert (main["WF_FLAVOR"], main["WF_FLAGS"]) == (target.flavor.name, " ".join(target.flags)), target.id
        for stage in plan.libraries:
            assert "WF_FLAVOR" not in plan.stage_env(stage) and "WF_FLAGS" not in plan.stage_env(stage), stage.name


def test_the_browser_and_node_builds_share_their_library_stages_but_sqlite(ws):
    """So node reuses the browser build's library layers (README); SQLite is compiled for size
    (-Oz) in the browser flavor only, which a page downloads."""
    browser, node = (plan_for(ws, ws.matrix.resolve(t)) for t in (BROWSER_TARGET, NODE_TARGET))
    assert [s.name for s in browser.libraries] == [s.name for s in node.libraries]
    for ours, theirs in zip(browser.libraries, node.libraries):
        if ours.name == "sqlite":
            assert "-Oz" in browser.stage_env(ours)["WF_CFLAGS"].split()
            assert "-Oz" not in node.stage_env(theirs)["WF_CFLAGS"].split()
            continue
        assert browser.stage_env(ours) == node.stage_env(theirs), ours.name
    assert browser.stage_env(browser.main) != node.stage_env(node.main)


# ------------------------------------------------------------------------------------------------
# SOURCE_DATE_EPOCH


def test_a_source_date_epoch_override_changes_the_plan_and_not_the_matrix_target(ws):
    target = ws.matrix.resolve(BROWSER_TARGET)
    matrix_epoch = target.source_date_epoch
    assert plan_for(ws, target).source_date_epoch == matrix_epoch

    plan = plan_for(ws, target, source_date_epoch=1700000000)
    assert plan.source_date_epoch == 1700000000
    assert plan.base_env["SOURCE_DATE_EPOCH"] == "1700000000"
    assert all(plan.stage_env(stage)["SOURCE_DATE_EPOCH"] == "1700000000" for stage in plan.stages)
    assert plan.target is target and target.source_date_epoch == matrix_epoch
    assert ws.matrix.resolve(BROWSER_TARGET).source_date_epoch == matrix_epoch


def test_the_plan_is_frozen(ws):
    plan = plan_for(ws, ws.matrix.resolve(BROWSER_TARGET))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.source_date_epoch = 0  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# Recipe files and the recipe digest


def test_recipe_files_are_the_shared_scripts_then_every_script_the_components_run_and_no_tests(ws):
    assert any(p.is_file() for p in (ROOT / "recipes" / "cpython" / "tests").iterdir()), "the check below means something"
    for target in ws.matrix.targets:
        plan = plan_for(ws, target)
        names = [p.relative_to(plan.recipes_dir).as_posix() for p in plan.recipe_files]
        shared = ws.book.shared_files()
        assert shared and list(plan.recipe_files[:len(shared)]) == shared
        assert all(name.startswith("lib/") for name in names[:len(shared)])
        assert not any(name.startswith("lib/") for name in names[len(shared):])
        assert all(len(Path(name).parts) == 2 for name in names), "no file of a subdirectory such as tests/"
        for component in plan.components:
            for step in component.recipe.steps:
                assert f"{component.name}/{step.script}" in names, target.id


def test_a_script_a_target_runs_changes_its_digest(project_copy):
    targets = (BROWSER_TARGET, NODE_TARGET, WASI_TARGET)
    for script in ("zlib/build.sh", "lib/common.sh"):
        before = {target: digest(project_copy, target) for target in targets}
        append_line(project_copy / "recipes" / script, "# changed")
        for target in targets:
            assert digest(project_copy, target) != before[target], f"{script} changed, {target}'s digest did not"


def test_expected_test_results_are_not_build_inputs(project_copy):
    before = digest(project_copy, BROWSER_TARGET)
    append_line(project_copy / "recipes" / "cpython" / "tests" / "regrtest-emscripten-browser.json", "")
    assert digest(project_copy, BROWSER_TARGET) == before


def test_node_only_changes_leave_the_browser_digest_alone(project_copy):
    browser, node = digest(project_copy, BROWSER_TARGET), digest(project_copy, NODE_TARGET)
    append_line(project_copy / "recipes" / "cpython" / "node-stdio.pre.js", "// changed")
    edit_recipe(project_copy, "cpython", lambda data: data["options"]["flavor:node"].update(ldflags=["-sEXTRA"]))
    edit_recipe(project_copy, "zlib", lambda data: data["options"].update({"flavor:node": {"cflags": ["-Oz"]}}))
    assert digest(project_copy, BROWSER_TARGET) == browser
    assert digest(project_copy, NODE_TARGET) != node


def test_a_change_every_target_builds_with_changes_every_digest(project_copy):
    targets = (BROWSER_TARGET, NODE_TARGET, WASI_TARGET)
    before = [digest(project_copy, t) for t in targets]
    edit_recipe(project_copy, "zlib", lambda data: data["options"]["common"].update(cflags=["-Os"]))
    for target, old in zip(targets, before):
        assert digest(project_copy, target) != old, target


def test_mirrors_and_notes_do_not_count_as_build_inputs(project_copy):
    before = digest(project_copy, BROWSER_TARGET)

    def reword(data):
        data["description"] += " (reworded)"
        data["versions"]["1.3.1"]["note"] = "another note"
        data["versions"]["1.3.1"]["mirrors"].insert(0, {"url": "https://mirror.invalid/zlib.tar.gz"})

    edit_recipe(project_copy, "zlib", reword)
    assert digest(project_copy, BROWSER_TARGET) == before


# ------------------------------------------------------------------------------------------------
# What the renderers make of it


def test_the_plan_renders_the_committed_dockerfile(ws):
    for target in ws.matrix.targets:
        committed = (ROOT / "docker" / target.id / "Dockerfile").read_text()
        assert render_dockerfile(plan_for(ws, target)) == committed, target.id
