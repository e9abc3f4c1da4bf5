"""Recipes: dependencies and files can depend on the target (per SDK, flavor or flag), and a
target gets only the files its build reads. What a target's plan makes of its recipes (the
components in build order, libffi for emscripten only, the recipe digest) is tests/test_plan.py."""

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

    every_target = {"build-python.sh", "build.sh", "asyncio-socketless-loop.patch", "wasm_asyncio.py"}
    emscripten = every_target | {"normalize_stdlib_zip.py", "stdlib_packs.py"}
    assert cpython_files(BROWSER_TARGET) == emscripten | {
        "browser-packs.pre.js", "browser_packs_finder.py", "browser_packs_sitecustomize.py",
        "browser-webloop.pre.js", "browser_webloop.py", "side-modules.txt",
    }
    assert cpython_files(NODE_TARGET) == emscripten | {"node-stdio.pre.js"}
    assert cpython_files(WASI_TARGET) == every_target | {"stdlib_tar.py"}


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
