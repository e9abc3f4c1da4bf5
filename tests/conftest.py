"""Shared fixtures: the real project tree, throw-away copies of it for hostile inputs, and the one
way tests get a built artifact.

The suite runs on two pytest-xdist workers (pyproject.toml's addopts). Long Docker builds are
mostly one core's work for minutes at a time (configure runs one check after another), so a second
worker keeps the other core busy. Tests that build, rebuild or run the same artifact carry the same
`xdist_group` (the marks below): one worker runs a group's tests in order, so each artifact is built
once, and the groups start first. `built_dist` also takes a lock per target, so that two
processes never build one target at once.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TARGET = "cpython3.13-emscripten3.1.69-browser"
NODE_TARGET = "cpython3.13-emscripten3.1.69-node"
# Real threads in a page (experimental): python.js in a Web Worker of a cross-origin isolated page.
BROWSER_PTHREADS_TARGET = "cpython3.13-emscripten3.1.69-browser-pthreads"
NODE_PTHREADS_TARGET = "cpython3.13-emscripten3.1.69-node-pthreads"
# CPython --with-pydebug for Node (experimental): assertions on, sys.gettotalrefcount.
NODE_DEBUG_TARGET = "cpython3.13-emscripten3.1.69-node-debug"
WASI_TARGET = "cpython3.13-wasi19.1.7-wasi"
# The same CPython with Debian unstable's emscripten: a second SDK version (experimental).
BROWSER_EMSCRIPTEN6_TARGET = "cpython3.13-emscripten6.0.5-browser"
NODE_EMSCRIPTEN6_TARGET = "cpython3.13-emscripten6.0.5-node"
# Groups of tests that need one artifact built (or rebuilt) on one worker. The node build goes
# first: it takes the main job's library and native build Python layers and compiles only its own
# CPython stage; the browser's no-cache rebuild and the WASI builds keep the other core busy.
REBUILDS_BROWSER = pytest.mark.xdist_group("rebuilds-browser")
NEEDS_WASI = pytest.mark.xdist_group("wasi")
NEEDS_NODE = pytest.mark.xdist_group("node")
GROUPS_FIRST = ("node", "wasi", "rebuilds-browser")
# The reference every benchmark compares with (the Pyodide npm package).
PYODIDE_TARBALL = ROOT.parent / "shared" / "peers" / "pyodide-314.0.7.tgz"


def experimental(target_id: str) -> Any:
    """A pytest parameter for a target whose from-scratch build would push CI past its time limit
    (the matrix's experimental targets, and the targets of a second SDK version even when
    supported), so it runs when WASMFORGE_TEST_EXPERIMENTAL=1 asks."""
    wanted = os.environ.get("WASMFORGE_TEST_EXPERIMENTAL") == "1"
    reason = f"{target_id} is experimental: set WASMFORGE_TEST_EXPERIMENTAL=1 to build and test it"
    return pytest.param(target_id, id=target_id, marks=() if wanted else pytest.mark.skip(reason=reason))


def built_dist(target_id: str = BROWSER_TARGET) -> Path:
    """dist/<target_id>/, built first (a real Docker build, or a layer-cache hit) when it has no
    manifest yet. The one way tests get an artifact."""
    dist = ROOT / "dist" / target_id
    lock_path = ROOT / "build" / f".{target_id}.test-lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dist / "manifest.json").is_file():
            from wasmforge.building.build import build_target
            from wasmforge.model.plan import plan_for
            from wasmforge.model.workspace import Workspace

            ws = Workspace.load(root=ROOT)
            build_target(ws, plan_for(ws, ws.matrix.resolve(target_id)))
    return dist


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The artifact groups first, in GROUPS_FIRST's order, so that they start at once."""
    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("xdist_group")
        name = (marker.args[0] if marker.args else marker.kwargs.get("name")) if marker else None
        return GROUPS_FIRST.index(name) if name in GROUPS_FIRST else len(GROUPS_FIRST)

    items.sort(key=rank)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the inputs that define builds (matrix, schemas, recipes, rendered files)."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("matrix.json", "build-sizes.json", "schemas", "recipes", "docker", "nix", "tasks.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        elif source.is_file():
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture
def matrix_data() -> dict[str, Any]:
    return json.loads((ROOT / "matrix.json").read_text())


def run_invoke(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as a user would, from `cwd` (whose matrix.json is used), with this
    checkout's wasmforge package even when another checkout is the one installed."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "invoke", "--search-root", str(cwd), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=environment)


@pytest.fixture
def invoke_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_invoke
