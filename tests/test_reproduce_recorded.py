"""`invoke reproduce --target T` rebuilds T from scratch and compares its manifest with the build
recorded in build-sizes.json; it refuses, before building anything, a record it cannot compare."""

import json

import pytest

from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace

from .conftest import NODE_TARGET, ROOT


def recorded(project_copy, target_id: str, **changes) -> None:
    path = project_copy / "build-sizes.json"
    data = json.loads(path.read_text())
    plan = plan_for(Workspace.load(root=ROOT), Workspace.load(root=ROOT).matrix.resolve(target_id))
    entry = {"raw": 1, "gzip": 1, "manifest_sha256": "a" * 64, "initial_gzip": None,
             "recipe_digest": plan.recipe_digest, "lock_digest": plan.toolchain_lock.digest}
    data[target_id] = {**entry, **changes}
    path.write_text(json.dumps(data))


def test_a_target_with_no_recorded_build_is_refused_naming_the_file_and_what_to_do(project_copy, invoke_cli):
    path = project_copy / "build-sizes.json"
    data = json.loads(path.read_text())
    data.pop(NODE_TARGET, None)
    path.write_text(json.dumps(data))
    result = invoke_cli(["reproduce", "--target", "emscripten-node"], cwd=project_copy)
    assert result.returncode == 11, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: build-sizes.json: no build of {NODE_TARGET} is recorded; build it (`invoke build --target {NODE_TARGET}`) "
        f"and reproduce that with --manifest dist/{NODE_TARGET}/manifest.json"
    )


def test_a_build_recorded_from_other_recipes_is_refused(project_copy, invoke_cli):
    recorded(project_copy, NODE_TARGET, recipe_digest="0" * 64)
    result = invoke_cli(["reproduce", "--target", NODE_TARGET], cwd=project_copy)
    assert result.returncode == 11
    assert f"build-sizes.json: {NODE_TARGET} was recorded from other recipes (recipe digest 0000000000000000" in result.stderr
    assert "check out the commit that recorded it" in result.stderr


def test_a_build_recorded_with_another_toolchain_lock_is_refused(project_copy, invoke_cli):
    recorded(project_copy, NODE_TARGET, lock_digest="1" * 64)
    result = invoke_cli(["reproduce", "--target", NODE_TARGET], cwd=project_copy)
    assert result.returncode == 11
    assert f"build-sizes.json: {NODE_TARGET} was recorded with toolchain lock 1111111111111111" in result.stderr


@pytest.mark.parametrize("args", [["reproduce"], ["reproduce", "--jobs", "4"]])
def test_reproduce_without_a_manifest_version_or_target_says_what_to_give(project_copy, invoke_cli, args):
    result = invoke_cli(args, cwd=project_copy)
    assert result.returncode == 2
    assert "give --manifest PATH, --target T (the build recorded in build-sizes.json), or --version V --target T" in result.stderr
