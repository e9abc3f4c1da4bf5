"""The toolchain image through a registry: `invoke toolchain --push` puts it there and prints the
digest, and a build given TOOLCHAIN_REGISTRY and that digest takes the image from the registry, as
a remote builder must, and gives the same bytes."""

import json
import os
import subprocess

import pytest

from wasmforge.model.plan import plan_for
from wasmforge.model.toolchains import digest_variable
from wasmforge.model.workspace import Workspace

from .conftest import NEEDS_WASI, ROOT, WASI_TARGET, built_dist
from .publish_support import oci_registry  # noqa: F401 (a fixture)

def wasi_toolchain() -> tuple[str, str]:
    """The WASI toolchain's image tag and digest variable."""
    ws = Workspace.load(root=ROOT)
    lock = plan_for(ws, ws.matrix.resolve(WASI_TARGET)).toolchain_lock
    return lock.image_tag, digest_variable(lock.toolchain)


def test_a_registry_with_a_scheme_is_refused_in_one_line(invoke_cli, project_copy):
    result = invoke_cli(["toolchain", "--target", "wasi", "--push", "http://127.0.0.1:5000"], cwd=project_copy)
    assert result.returncode == 8
    assert result.stderr == "error: --push: 'http://127.0.0.1:5000' is not a registry (host[:port][/path], no scheme, lower case)\n"
    assert result.stdout == ""


def test_a_build_from_a_registry_without_the_digest_is_refused_before_anything_is_built(invoke_cli, project_copy):
    env_without_digest = {**_environment(), "TOOLCHAIN_REGISTRY": "127.0.0.1:5000"}
    result = invoke_cli(["build", "--target", "wasi"], cwd=project_copy, env=env_without_digest)
    _, variable = wasi_toolchain()
    assert result.returncode == 8, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: {variable} is not set: a build from 127.0.0.1:5000 is pinned by digest "
        "(`invoke toolchain --push 127.0.0.1:5000` prints it)"
    )
    assert not (project_copy / "build").exists()


def test_a_malformed_digest_is_refused_in_one_line(invoke_cli, project_copy):
    _, variable = wasi_toolchain()
    env = {**_environment(), "TOOLCHAIN_REGISTRY": "127.0.0.1:5000", variable: "sha256:abc"}
    result = invoke_cli(["build", "--target", "wasi"], cwd=project_copy, env=env)
    assert result.returncode == 8
    assert result.stderr == f"error: {variable}: 'sha256:abc' is not a digest (sha256: and 64 hex digits)\n"


@pytest.mark.docker
@NEEDS_WASI  # beside the round trip below, which takes the WASI toolchain image away for a while
def test_pushing_to_a_registry_that_does_not_answer_is_one_line(invoke_cli, project_copy):
    result = invoke_cli(["toolchain", "--target", "wasi", "--push", "127.0.0.1:9"], cwd=project_copy)
    assert result.returncode == 8, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: push of wasmforge-toolchain:wasi-clang-19-") and "to 127.0.0.1:9 failed: " in last, last


@pytest.mark.docker
@NEEDS_WASI
def test_a_build_takes_the_toolchain_from_the_registry_by_digest_and_gives_the_same_bytes(invoke_cli, oci_registry, project_copy):  # noqa: F811
    expected = json.loads((built_dist(WASI_TARGET) / "manifest.json").read_text())
    tag, variable = wasi_toolchain()
    pushed = invoke_cli(["toolchain", "--target", "wasi", "--push", oci_registry], cwd=ROOT)
    assert pushed.returncode == 0, pushed.stderr
    printed = dict(line.split("=", 1) for line in pushed.stdout.splitlines())
    assert printed["TOOLCHAIN_REGISTRY"] == oci_registry and printed[variable].startswith("sha256:")
    reference = f"{oci_registry}/{tag}@{printed[variable]}"

    # As on a builder that never had it: the engine has no image by that tag any more.
    _docker("image", "rm", tag)
    try:
        result = invoke_cli(["build", "--target", "wasi"], cwd=project_copy, env={**_environment(), **printed})
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"toolchain from the registry: {reference}" in result.stderr
        assert _docker("image", "inspect", tag).returncode != 0, "the build must not have made the image here"
        built = json.loads((project_copy / "dist" / WASI_TARGET / "manifest.json").read_text())
        assert built["outputs"] == expected["outputs"]
    finally:
        # The image by its tag again, for the tests after this one: the pushed bytes, pulled.
        assert _docker("pull", reference).returncode == 0
        assert _docker("tag", reference, tag).returncode == 0
        _docker("image", "rm", reference)


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("TOOLCHAIN_")}


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True)
