"""Rendering: docker/ is a pure function of matrix.json and recipes/, and --check catches drift."""

import json

from .conftest import BROWSER_TARGET, ROOT


def test_render_check_passes_on_the_committed_tree(invoke_cli):
    result = invoke_cli(["render", "--check"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "are current" in result.stdout


def test_render_check_names_an_edited_dockerfile(invoke_cli, project_copy):
    dockerfile = project_copy / "docker" / BROWSER_TARGET / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("-O2", "-O3"))
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1
    assert f"docker/{BROWSER_TARGET}/Dockerfile" in result.stderr


def test_render_check_names_an_orphaned_file_and_render_removes_it(invoke_cli, project_copy):
    orphan = project_copy / "docker" / "cpython3.12-emscripten3.1.0-browser" / "Dockerfile"
    orphan.parent.mkdir()
    orphan.write_text("FROM scratch\n")
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1 and "cpython3.12-emscripten3.1.0-browser" in result.stderr
    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    assert not orphan.exists()
    assert invoke_cli(["render", "--check"], cwd=project_copy).returncode == 0


def test_a_recipe_flag_change_reaches_the_dockerfile(invoke_cli, project_copy):
    recipe_path = project_copy / "recipes" / "zlib" / "recipe.json"
    recipe = json.loads(recipe_path.read_text())
    recipe["options"]["common"]["cflags"] = ["-Oz"]
    recipe_path.write_text(json.dumps(recipe))
    assert invoke_cli(["render", "--check"], cwd=project_copy).returncode == 1
    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    dockerfile = (project_copy / "docker" / BROWSER_TARGET / "Dockerfile").read_text()
    zlib_stage = dockerfile.split("FROM base AS zlib")[1].split("FROM base AS")[0]
    assert 'WF_CFLAGS="-Oz -fPIC"' in zlib_stage


def test_the_dockerfile_builds_every_component_networkless_from_the_locked_toolchain():
    dockerfile = (ROOT / "docker" / BROWSER_TARGET / "Dockerfile").read_text()
    lock = json.loads((ROOT / "recipes" / "toolchains" / "emscripten-3.1.69.lock.json").read_text())
    assert "ARG TOOLCHAIN_IMAGE=wasmforge-toolchain:emscripten-3.1.69-" in dockerfile
    assert "FROM ${TOOLCHAIN_IMAGE} AS base" in dockerfile
    for name in ("zlib", "bzip2", "xz", "sqlite", "libffi", "mpdecimal", "cpython"):
        assert f"FROM base AS {name}" in dockerfile
    assert "SOURCE_DATE_EPOCH=" in dockerfile
    assert "-sUSE_" not in dockerfile, "emscripten ports download at build time"
    assert any(p["name"] == "emscripten" and p["version"] == "3.1.69+dfsg-3" for p in lock["packages"])
