"""docker-bake.hcl: the matrix as one `docker buildx bake` definition, read back by buildx itself.

`docker buildx bake --print` resolves the file (variables, functions, groups) without building,
so these tests see what a build would be asked to do.
"""

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from wasmforge.core.errors import RenderError
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace
from wasmforge.rendering import bake

from .conftest import ROOT

DIGEST = "sha256:" + "ab" * 32


def buildx_available() -> bool:
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "buildx", "version"], capture_output=True).returncode == 0


needs_buildx = pytest.mark.skipif(
    not buildx_available(), reason="docker buildx is not installed (scripts/install-docker-buildx.sh installs it)"
)


def bake_print(*names: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict[str, Any]:
    result = subprocess.run(
        ["docker", "buildx", "bake", "-f", bake.BAKE_FILE, "--print", *names],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


@pytest.fixture(scope="module")
def plans(ws: Workspace) -> list:
    return [plan_for(ws, target) for target in ws.matrix.targets]


# --- rendering and --check ---------------------------------------------------------------------


def test_render_check_names_a_stale_or_missing_bake_file_and_render_restores_it(invoke_cli, project_copy):
    for name in (bake.BAKE_FILE, ".github"):
        source = ROOT / name
        shutil.copytree(source, project_copy / name) if source.is_dir() else shutil.copy2(source, project_copy / name)
    assert invoke_cli(["render", "--check"], cwd=project_copy).returncode == 0

    bake_file = project_copy / bake.BAKE_FILE
    bake_file.write_text(bake_file.read_text().replace('network = "none"', 'network = "host"', 1))
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1 and bake.BAKE_FILE in result.stderr

    bake_file.unlink()
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1 and bake.BAKE_FILE in result.stderr

    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    assert bake_file.read_text() == (ROOT / bake.BAKE_FILE).read_text()


def test_a_recipe_change_reaches_the_library_targets(invoke_cli, project_copy):
    shutil.copy2(ROOT / bake.BAKE_FILE, project_copy / bake.BAKE_FILE)
    old = {library.bake_name for library in bake.library_stages(_plans(project_copy)) if library.component == "zlib"}
    recipe_path = project_copy / "recipes" / "zlib" / "recipe.json"
    recipe = json.loads(recipe_path.read_text())
    recipe["options"]["common"]["cflags"] = ["-Oz"]
    recipe_path.write_text(json.dumps(recipe))
    new = {library.bake_name for library in bake.library_stages(_plans(project_copy)) if library.component == "zlib"}
    assert old.isdisjoint(new), "every zlib stage changed, so every zlib library target must get a new name"
    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    text = (project_copy / bake.BAKE_FILE).read_text()
    assert all(f'target "{name}"' in text for name in new) and not any(name in text for name in old)


def _plans(root: Path) -> list:
    workspace = Workspace.load(root=root)
    return [plan_for(workspace, target) for target in workspace.matrix.targets]


# --- what buildx reads from it -------------------------------------------------------------------


@needs_buildx
def test_one_networkless_target_per_entry_exports_its_artifacts_stage_as_files(ws: Workspace) -> None:
    printed = bake_print("all")
    targets = printed["target"]
    assert sorted(targets) == sorted(bake.bake_name(t.id, "test") for t in ws.matrix.targets)
    for entry in ws.matrix.targets:
        target = targets[bake.bake_name(entry.id, "test")]
        # buildx before 0.14 drops `network` without a word (and its builds have a network).
        assert target.get("network") == "none", f"{entry.id}: buildx ignored network=none; install buildx >= 0.14"
        assert target["context"] == f"build/{entry.id}/context"
        assert target["dockerfile"] == "Dockerfile"
        assert target["target"] == "artifacts"
        assert target["output"] == [{"type": "local", "dest": f"build/bake-out/{entry.id}"}]


def test_the_artifacts_stage_holds_only_the_outputs_and_the_build_image_stage_is_the_build_tree() -> None:
    for dockerfile in sorted((ROOT / "docker").glob("*/Dockerfile")):
        stages = dockerfile.read_text().split("\nFROM ")
        assert stages[-2].startswith("scratch AS artifacts\nCOPY --from=cpython /wf/out/ /\n"), dockerfile
        assert stages[-1].startswith("cpython AS build-image"), dockerfile


@needs_buildx
def test_groups_follow_the_matrix(ws: Workspace) -> None:
    groups = bake_print("all")["group"]
    names = lambda targets: sorted(bake.bake_name(t.id, "test") for t in targets)  # noqa: E731
    entries = ws.matrix.targets
    assert sorted(bake_print("supported")["target"]) == names([t for t in entries if t.support == "supported"])
    assert sorted(bake_print("experimental")["target"]) == names([t for t in entries if t.support == "experimental"])
    assert sorted(bake_print()["target"]) == names([t for t in entries if t.support == "supported"]), "default = supported"
    assert sorted(bake_print("sdk-emscripten-3_1_69")["target"]) == names([t for t in entries if t.sdk.name == "emscripten-3.1.69"])
    assert sorted(bake_print("flavor-node")["target"]) == names([t for t in entries if t.flavor.name == "node"])
    for alias, target_id in ws.matrix.aliases.items():
        assert sorted(bake_print(alias)["target"]) == [bake.bake_name(target_id, "test")]
    assert "all" in groups


@needs_buildx
def test_jobs_and_source_date_epoch_are_bake_variables(ws: Workspace) -> None:
    entry = ws.matrix.resolve("emscripten-browser")
    browser = bake.bake_name(entry.id, "test")
    toolchain = plan_for(ws, entry).toolchain_lock.image_tag
    assert bake_print("emscripten-browser")["target"][browser]["args"] == {
        "WF_JOBS": "2", "SOURCE_DATE_EPOCH": str(entry.source_date_epoch), "TOOLCHAIN_IMAGE": toolchain,
    }
    night = bake_print("emscripten-browser", env={"WF_JOBS": "7", "SOURCE_DATE_EPOCH": "1767225600"})
    assert night["target"][browser]["args"] == {"WF_JOBS": "7", "SOURCE_DATE_EPOCH": "1767225600", "TOOLCHAIN_IMAGE": toolchain}
    moved = bake_print("emscripten-browser", env={"CONTEXT_DIR": "/ctx", "OUTPUT_DIR": "/out"})["target"][browser]
    assert moved["context"] == f"/ctx/{entry.id}/context"
    assert moved["output"][0]["dest"] == f"/out/{entry.id}"


@needs_buildx
def test_the_toolchain_image_comes_from_a_registry_pinned_by_digest_only_when_one_is_named(ws: Workspace, plans: list) -> None:
    local = bake_print("all")["target"]
    remote = bake_print("all", env={"TOOLCHAIN_REGISTRY": "127.0.0.1:5000", "TOOLCHAIN_DIGEST_EMSCRIPTEN_3_1_69": DIGEST})["target"]
    for plan in plans:
        tag, name = plan.toolchain_lock.image_tag, bake.bake_name(plan.target.id, "test")
        dockerfile = (ROOT / "docker" / plan.target.id / "Dockerfile").read_text()
        # A build argument, not a named context: BuildKit 0.8 (Docker 20.10's) has no named contexts.
        assert f"ARG TOOLCHAIN_IMAGE={tag}\nFROM ${{TOOLCHAIN_IMAGE}} AS base\n" in dockerfile
        assert local[name]["args"]["TOOLCHAIN_IMAGE"] == tag, "the docker driver uses the engine's image"
        pinned = f"@{DIGEST}" if plan.toolchain_lock.toolchain == "emscripten-3.1.69" else ""
        assert remote[name]["args"]["TOOLCHAIN_IMAGE"] == f"127.0.0.1:5000/{tag}{pinned}"


@needs_buildx
def test_an_invoke_build_run_moves_contexts_and_outputs_and_adds_a_build_image_target(ws: Workspace, tmp_path: Path) -> None:
    plans = [plan_for(ws, ws.matrix.resolve(name)) for name in ("emscripten-browser", "wasi")]
    runs = [
        bake.BakeRun(plan=plan, context=tmp_path / plan.target.id, export=tmp_path / "out" / plan.target.id,
                     image_tag=f"wasmforge-build:{plan.target.id}", jobs=5,
                     toolchain_image=plan.toolchain_lock.image_tag)
        for plan in plans
    ]
    (tmp_path / bake.BAKE_FILE).write_text(bake.render_bake(ws.matrix, plans))
    (tmp_path / "run.json").write_text(json.dumps(bake.run_overrides(runs)))
    result = subprocess.run(
        ["docker", "buildx", "bake", "-f", bake.BAKE_FILE, "-f", "run.json", "--print", *bake.run_targets(runs)],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "WF_JOBS": "9"},
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["target"]
    assert len(printed) == 4
    for run in runs:
        name = bake.bake_name(run.plan.target.id, "test")
        files, image = printed[name], printed[name + "-image"]
        assert files["context"] == image["context"] == str(run.context)
        assert files["output"] == [{"type": "local", "dest": str(run.export)}]
        assert files["args"]["WF_JOBS"] == image["args"]["WF_JOBS"] == "5", "the run's -j, not the environment's"
        assert files["network"] == image["network"] == "none"
        assert (image["target"], image["tags"], image["output"]) == ("build-image", [run.image_tag], [{"type": "docker"}])


# --- shared library stages -----------------------------------------------------------------------


def test_entries_of_one_sdk_with_the_same_flags_share_every_library_stage_their_options_agree_on(ws: Workspace, plans: list) -> None:
    libraries = bake.library_stages(plans)
    containing = lambda target_id: {lib.key for lib in libraries if target_id in lib.target_ids}  # noqa: E731
    browser, node = ws.matrix.resolve("emscripten-browser").id, ws.matrix.resolve("emscripten-node").id
    browser_pthreads = ws.matrix.resolve("emscripten-browser-pthreads").id
    node_pthreads = ws.matrix.resolve("emscripten-node-pthreads").id
    assert len(containing(browser)) == len(containing(node)) == 6
    # SQLite is compiled for size in the browser flavor only (recipes/sqlite/recipe.json).
    own = {lib.component for lib in libraries if lib.key in containing(browser) ^ containing(node)}
    assert own == {"sqlite"} and len(containing(browser) & containing(node)) == 5
    assert len(containing(browser_pthreads) & containing(node_pthreads)) == 5
    assert containing(browser).isdisjoint(containing(browser_pthreads)), "-pthread libraries are other stages"
    assert containing(browser).isdisjoint(containing("cpython3.13-emscripten6.0.5-browser")), "another SDK shares nothing"
    assert len(libraries) < sum(len(plan.libraries) for plan in plans)
    assert len({lib.key for lib in libraries}) == len(libraries)


@needs_buildx
def test_the_libraries_group_builds_each_shared_stage_once_into_the_cache_only(plans: list) -> None:
    printed = bake_print("libraries")["target"]
    libraries = bake.library_stages(plans)
    assert sorted(printed) == sorted(lib.bake_name for lib in libraries)
    for library in libraries:
        target = printed[library.bake_name]
        assert target["target"] == library.component and target["network"] == "none"
        assert target["output"] == [{"type": "cacheonly"}]
        # Same arguments as the entries, or BuildKit would see another stage and build it again.
        assert set(target["args"]) == {"WF_JOBS", "SOURCE_DATE_EPOCH", "TOOLCHAIN_IMAGE"}


def test_an_alias_that_is_also_a_group_name_is_a_one_line_error(ws: Workspace, plans: list) -> None:
    clashing = replace(ws.matrix, aliases={**ws.matrix.aliases, "supported": ws.matrix.targets[0].id})
    with pytest.raises(RenderError, match=r"matrix\.json: \$\.aliases\['supported'\] is also the name of a bake group"):
        bake.render_bake(clashing, plans)
