"""Toolchain locks: every .deb of the image pinned by version and sha256; the image tag is the
lock's digest, so a changed lock can never reuse an old image."""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from wasmforge.core.errors import ToolchainError
from wasmforge.building.toolchain_image import deb_filename
from wasmforge.model.toolchains import load_lock, load_spec

from .conftest import ROOT

TOOLCHAINS = ROOT / "recipes" / "toolchains"


@pytest.mark.parametrize("spec_path", sorted(p for p in TOOLCHAINS.glob("*.json") if not p.name.endswith(".lock.json")))
def test_every_spec_has_a_lock_pinning_every_package(spec_path: Path):
    spec = load_spec(spec_path)
    lock = load_lock(spec.lock_path)
    assert lock.toolchain == spec.name and lock.suite == spec.suite
    names = {p.name for p in lock.packages}
    for requested in spec.packages:
        assert requested.split("=")[0] in names
        if "=" in requested:
            assert lock.version_of(requested.split("=")[0]) == requested.split("=")[1]
    for package in lock.packages:
        assert len(package.sha256) == 64 and package.size > 0
        assert package.filename == deb_filename(package.name, package.version, package.architecture)


def test_the_emscripten_lock_holds_the_versions_the_build_facts_name():
    lock = load_lock(TOOLCHAINS / "emscripten-3.1.69.lock.json")
    assert lock.version_of("emscripten") == "3.1.69+dfsg-3"
    assert lock.version_of("clang-19", ) is not None and lock.version_of("binaryen") is not None
    assert lock.version_of("nodejs") is not None


def test_the_image_tag_follows_the_lock_digest():
    lock = load_lock(TOOLCHAINS / "emscripten-3.1.69.lock.json")
    assert lock.image_tag == f"wasmforge-toolchain:emscripten-3.1.69-{lock.digest[:16]}"
    bumped = replace(lock, packages=(replace(lock.packages[0], version=lock.packages[0].version + "+1"),) + lock.packages[1:])
    assert bumped.digest != lock.digest and bumped.image_tag != lock.image_tag


def test_epochs_are_percent_encoded_in_deb_file_names():
    assert deb_filename("clang-19", "1:19.1.7-3+b1", "amd64") == "clang-19_1%3a19.1.7-3+b1_amd64.deb"


def test_a_missing_or_malformed_lock_is_a_clear_error(tmp_path):
    with pytest.raises(ToolchainError, match="toolchain lock missing; run `invoke lock-toolchain`"):
        load_lock(tmp_path / "nope.lock.json")
    bad = tmp_path / "bad.lock.json"
    bad.write_text(json.dumps({"toolchain": "x"}))
    with pytest.raises(ToolchainError, match="malformed toolchain lock"):
        load_lock(bad)


@pytest.mark.docker
def test_the_imported_image_carries_the_lock_digest_and_the_locked_emscripten():
    lock = load_lock(TOOLCHAINS / "emscripten-3.1.69.lock.json")
    inspect = subprocess.run(["docker", "image", "inspect", lock.image_tag, "--format", "{{json .Config.Labels}}"],
                             capture_output=True, text=True)
    if inspect.returncode != 0:
        pytest.skip("toolchain image not built yet (invoke toolchain)")
    assert json.loads(inspect.stdout)["org.wasmforge.lock-digest"] == lock.digest
    versions = subprocess.run(["docker", "run", "--rm", "--network", "none", lock.image_tag,
                               "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"], capture_output=True, text=True, check=True)
    installed = dict(line.split(" ", 1) for line in versions.stdout.splitlines())
    assert installed == {p.name: p.version for p in lock.packages}
