"""The real browser artifacts for tests that run them: built on first use if missing."""

from pathlib import Path

from wasmforge.building.build import BuildOptions, build_target
from wasmforge.model.workspace import Workspace

from .conftest import BROWSER_TARGET, ROOT

PYODIDE_TARBALL = ROOT.parent / "shared" / "peers" / "pyodide-314.0.7.tgz"


def browser_dist(target_id: str = BROWSER_TARGET) -> Path:
    dist = ROOT / "dist" / target_id
    if not (dist / "manifest.json").is_file():
        ws = Workspace.load(root=ROOT)
        build_target(ws, ws.matrix.resolve(target_id), BuildOptions())
    return dist
