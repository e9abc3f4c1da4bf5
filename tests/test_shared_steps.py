"""A recipe's first step can be shared: CPython's native build Python is the same program for every
target of a toolchain, so it runs in a Dockerfile stage that sees only CPython's source and the
step's own files, and the node build takes the browser build's layer instead of compiling it again."""

import json
import re
from pathlib import Path

import pytest

from wasmforge.core.errors import RecipeError
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace
from wasmforge.rendering.dockerfile import render_dockerfile

from .conftest import BROWSER_TARGET, NODE_DEBUG_TARGET, NODE_TARGET, ROOT, WASI_TARGET


def stage_text(dockerfile: str, name: str) -> str:
    match = re.search(rf"^FROM \S+ AS {re.escape(name)}\n(.*?)(?=\n\n|\Z)", dockerfile, re.S | re.M)
    assert match, f"no stage {name}"
    return match.group(0)


def dockerfile_of(ws: Workspace, target_id: str) -> str:
    return render_dockerfile(plan_for(ws, ws.matrix.resolve(target_id)))


def test_the_build_python_stage_is_the_same_text_for_every_target_of_a_toolchain():
    ws = Workspace.load(root=ROOT)
    stages = {target_id: stage_text(dockerfile_of(ws, target_id), "cpython-build-python")
              for target_id in (BROWSER_TARGET, NODE_TARGET, NODE_DEBUG_TARGET)}
    assert len(set(stages.values())) == 1, "the flavor and flags must not reach the shared stage"
    shared = stages[BROWSER_TARGET]
    assert "WF_FLAVOR" not in shared and "WF_CFLAGS" not in shared and "WF_CONFIGURE_ARGS" not in shared
    assert "COPY recipes/cpython/ " not in shared, "the whole recipe directory differs between targets"
    assert "COPY recipes/cpython/build-python.sh recipes/cpython/wasm_asyncio.py" in shared
    # The cross build continues in the shared stage's tree, with the whole recipe and the libraries.
    cpython = stage_text(dockerfile_of(ws, NODE_TARGET), "cpython")
    assert cpython.startswith("FROM cpython-build-python AS cpython\n")
    assert "WF_FLAVOR=node" in cpython and cpython.rstrip().endswith("RUN bash /wf/recipes/cpython/build.sh")


def test_a_wasi_build_shares_the_step_within_its_own_toolchain_only():
    ws = Workspace.load(root=ROOT)
    wasi = dockerfile_of(ws, WASI_TARGET)
    assert "FROM base AS cpython-build-python" in wasi
    assert re.search(r"^ARG TOOLCHAIN_IMAGE=wasmforge-toolchain:wasi-\S+\nFROM \$\{TOOLCHAIN_IMAGE\} AS base$", wasi, re.M), "its base is the WASI toolchain image"


def edit_steps(project: Path, change) -> None:
    path = project / "recipes" / "cpython" / "recipe.json"
    data = json.loads(path.read_text())
    change(data["steps"])
    path.write_text(json.dumps(data, indent=2))


def test_only_the_first_of_several_steps_can_be_shared(project_copy):
    edit_steps(project_copy, lambda steps: steps[1].update(shared=True))
    with pytest.raises(RecipeError, match=r"cpython/recipe.json: \$.steps\[1\].shared: only the first of several steps can be shared"):
        Workspace.load(root=project_copy).book.get("cpython")


def test_a_file_a_shared_step_names_must_exist(project_copy):
    edit_steps(project_copy, lambda steps: steps[0]["files"].append("missing.patch"))
    with pytest.raises(RecipeError, match=r"\$.steps\[0\].files\[2\]: missing.patch does not exist"):
        Workspace.load(root=project_copy).book.get("cpython")


def test_a_shared_step_cannot_read_a_file_only_some_targets_get(project_copy):
    edit_steps(project_copy, lambda steps: steps[0]["files"].append("node-stdio.pre.js"))
    with pytest.raises(RecipeError, match=r"\$.options\['flavor:node'\].files\[\d\]: node-stdio.pre.js is read by the shared step, which every target runs: list it under 'common'"):
        Workspace.load(root=project_copy).book.get("cpython")
