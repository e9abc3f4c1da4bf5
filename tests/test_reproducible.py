"""Artifacts are a pure function of their inputs: reproduce refuses what it cannot rebuild, and a
deliberately changed input is caught with a diffoscope report."""

import json
import shutil
from pathlib import Path

import pytest

from wasmforge.core.errors import ReproducibilityError
from wasmforge.building.reproduce import reproduce
from wasmforge.model.workspace import Workspace

from .conftest import BROWSER_TARGET, NEEDS_WASI, ROOT, WASI_TARGET, built_dist

# Every test here reads a real build's manifest.
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built_manifest() -> Path:
    return built_dist(BROWSER_TARGET) / "manifest.json"


def test_reproduce_refuses_a_manifest_built_with_another_toolchain_lock(built_manifest, tmp_path):
    data = json.loads(built_manifest.read_text())
    data["toolchain"]["lock_digest"] = "0" * 64
    other = tmp_path / "manifest.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ReproducibilityError, match="needs toolchain lock emscripten-3.1.69 with digest 0{64}"):
        reproduce(Workspace.load(root=ROOT), other)


def test_reproduce_refuses_a_manifest_with_an_input_no_recipe_pins(built_manifest, tmp_path):
    data = json.loads(built_manifest.read_text())
    data["inputs"][0]["sha256"] = "f" * 64
    other = tmp_path / "manifest.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ReproducibilityError, match="is not pinned by any recipe here"):
        reproduce(Workspace.load(root=ROOT), other)


# The rebuild from scratch under varied conditions (no layer cache, -j1, umask 077, another time
# zone and locale, another context path) is tests/test_nightly.py: it reproduces the published
# nightly of emscripten-browser, whose inputs equal dist/'s, from the store. One full rebuild
# proves both promises; a second would only double CI's longest step.


@pytest.fixture(scope="module")
def wasi_manifest() -> Path:
    """The WASI build: the quickest full build in the matrix, so the deliberate difference is cheap."""
    return built_dist(WASI_TARGET) / "manifest.json"


@NEEDS_WASI
def test_a_changed_source_date_epoch_is_reported_with_a_diffoscope_report(wasi_manifest, tmp_path, invoke_cli):
    workdir = tmp_path / "rebuild"
    result = invoke_cli(
        ["reproduce", "--manifest", str(wasi_manifest), "--source-date-epoch", "1700000000", "--workdir", str(workdir)],
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows["python.wasm"] == "DIFFERS", result.stdout
    assert "NOT reproduced" in result.stderr
    reports = [Path(line.split("diff report: ", 1)[1]) for line in result.stderr.splitlines() if line.startswith("diff report: ")]
    if shutil.which("diffoscope") is None:
        pytest.fail("diffoscope must be installed (scripts/install-host-deps.sh installs it)")
    assert any(p.suffix == ".html" for p in reports) and any(p.suffix == ".txt" for p in reports)
    text = next(p for p in reports if p.name == "diffoscope-python.wasm.txt").read_text(errors="replace")
    assert "python.wasm" in text and len(text.splitlines()) > 3
