"""Recipes: dependencies and files can depend on the target (per SDK, flavor or flag), and a
target's recipe digest and build context hold only what that target's build reads."""

import json
from pathlib import Path

import pytest

from wasmforge.core.errors import RecipeError
from wasmforge.model.workspace import Workspace
from wasmforge.model.plan import plan_for

from .conftest import BROWSER_TARGET, NODE_TARGET, WASI_TARGET


def edit_recipe(project: Path, name: str, change) -> None:
    path = project / "recipes" / name / "recipe.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def component_names(ws: Workspace, target_id: str) -> list[str]:
    return [c.name for c in ws.book.components_for(ws.matrix.resolve(target_id))]


def test_libffi_is_an_emscripten_only_dependency_of_cpython(project_copy):
    ws = Workspace.load(root=project_copy)
    assert component_names(ws, BROWSER_TARGET) == ["bzip2", "libffi", "mpdecimal", "sqlite", "xz", "zlib", "cpython"]
    assert component_names(ws, WASI_TARGET) == ["bzip2", "mpdecimal", "sqlite", "xz", "zlib", "cpython"]


def test_a_dependency_that_does_not_support_the_sdk_is_refused_naming_it(project_copy):
    edit_recipe(project_copy, "cpython", lambda data: data["dependencies"].append("libffi"))
    ws = Workspace.load(root=project_copy)
    with pytest.raises(RecipeError, match=r"recipes/libffi/recipe.json: \$.sdks: does not support wasi"):
        ws.book.components_for(ws.matrix.resolve(WASI_TARGET))


def test_a_selector_file_goes_only_to_the_targets_under_that_selector(project_copy):
    ws = Workspace.load(root=project_copy)

    def cpython_files(target_id: str) -> set[str]:
        files = plan_for(ws, ws.matrix.resolve(target_id)).recipe_files
        return {p.name for p in files if p.parent.name == "cpython"}

    assert cpython_files(BROWSER_TARGET) == {"build-python.sh", "build.sh", "normalize_stdlib_zip.py"}
    assert cpython_files(NODE_TARGET) == cpython_files(BROWSER_TARGET) | {"node-stdio.pre.js"}
    assert cpython_files(WASI_TARGET) == {"build-python.sh", "build.sh", "stdlib_tar.py"}


def test_node_only_changes_leave_the_browser_digest_alone(project_copy):
    before = Workspace.load(root=project_copy)
    browser, node = (plan_for(before, before.matrix.resolve(t)).recipe_digest for t in (BROWSER_TARGET, NODE_TARGET))

    pre_js = project_copy / "recipes" / "cpython" / "node-stdio.pre.js"
    pre_js.write_text(pre_js.read_text() + "// changed\n")
    edit_recipe(project_copy, "cpython", lambda data: data["options"]["flavor:node"].update(ldflags=["-sEXTRA"]))
    edit_recipe(project_copy, "zlib", lambda data: data["options"].update({"flavor:node": {"cflags": ["-Oz"]}}))
    after = Workspace.load(root=project_copy)
    assert plan_for(after, after.matrix.resolve(BROWSER_TARGET)).recipe_digest == browser
    assert plan_for(after, after.matrix.resolve(NODE_TARGET)).recipe_digest != node


def test_a_change_every_target_builds_with_changes_every_digest(project_copy):
    before = Workspace.load(root=project_copy)
    targets = (BROWSER_TARGET, NODE_TARGET, WASI_TARGET)
    digests = [plan_for(before, before.matrix.resolve(t)).recipe_digest for t in targets]
    edit_recipe(project_copy, "zlib", lambda data: data["options"]["common"].update(cflags=["-Os"]))
    after = Workspace.load(root=project_copy)
    for target, digest in zip(targets, digests):
        assert plan_for(after, after.matrix.resolve(target)).recipe_digest != digest, target


def test_mirrors_and_notes_do_not_count_as_build_inputs(project_copy):
    before = Workspace.load(root=project_copy)
    digest = plan_for(before, before.matrix.resolve(BROWSER_TARGET)).recipe_digest

    def reword(data):
        data["description"] += " (reworded)"
        data["versions"]["1.3.1"]["note"] = "another note"
        data["versions"]["1.3.1"]["mirrors"].insert(0, {"url": "https://mirror.invalid/zlib.tar.gz"})

    edit_recipe(project_copy, "zlib", reword)
    after = Workspace.load(root=project_copy)
    assert plan_for(after, after.matrix.resolve(BROWSER_TARGET)).recipe_digest == digest


def test_a_declared_selector_file_must_exist(project_copy):
    edit_recipe(project_copy, "cpython", lambda data: data["options"]["flavor:node"].update(files=["missing.pre.js"]))
    ws = Workspace.load(root=project_copy)
    with pytest.raises(RecipeError, match=r"\$.options\['flavor:node'\].files\[0\]: missing.pre.js does not exist"):
        ws.book.get("cpython")


def test_a_step_script_cannot_be_a_selector_file(project_copy):
    edit_recipe(project_copy, "cpython", lambda data: data["options"]["flavor:node"].update(files=["build.sh"]))
    ws = Workspace.load(root=project_copy)
    with pytest.raises(RecipeError, match="build.sh is used by every target"):
        ws.book.get("cpython")
