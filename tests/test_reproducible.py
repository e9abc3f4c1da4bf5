"""Artifacts are a pure function of their inputs: a rebuild from scratch under varied conditions
gives the same bytes, and a deliberately changed input is caught with a diffoscope report."""

import json
import shutil
from pathlib import Path

import pytest

from wasmforge.errors import ReproducibilityError
from wasmforge.reproduce import Variation, format_table, reproduce
from wasmforge.workspace import Workspace

from .conftest import BROWSER_TARGET, ROOT

DIST = ROOT / "dist" / BROWSER_TARGET


@pytest.fixture(scope="module")
def built_manifest() -> Path:
    manifest = DIST / "manifest.json"
    if not manifest.is_file():
        from wasmforge.build import build_target

        ws = Workspace.load(root=ROOT)
        build_target(ws, ws.matrix.resolve("emscripten-browser"))
    return manifest


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


@pytest.mark.docker
def test_a_rebuild_without_cache_under_varied_conditions_is_byte_identical(built_manifest, tmp_path):
    result = reproduce(Workspace.load(root=ROOT), built_manifest, workdir=tmp_path / "rebuild",
                       variation=Variation(jobs=1, umask=0o077, tz="Pacific/Chatham", locale="C"))
    print(format_table(result.comparisons))
    names = [c.name for c in result.comparisons]
    assert {"python.data", "python.js", "python.wasm"} <= set(names)
    assert result.ok, format_table(result.comparisons)


WASI_TARGET = "cpython3.13-wasi19.1.7-wasi"


@pytest.fixture(scope="module")
def wasi_manifest() -> Path:
    """The WASI build: the quickest full build in the matrix, so the deliberate difference is cheap."""
    manifest = ROOT / "dist" / WASI_TARGET / "manifest.json"
    if not manifest.is_file():
        from wasmforge.build import build_target

        ws = Workspace.load(root=ROOT)
        build_target(ws, ws.matrix.resolve(WASI_TARGET))
    return manifest


@pytest.mark.docker
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
