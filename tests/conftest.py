"""Shared fixtures: the real project tree, and throw-away copies of it for hostile inputs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TARGET = "cpython3.13-emscripten3.1.69-browser"


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the inputs that define builds (matrix, schemas, recipes, rendered files)."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("matrix.json", "schemas", "recipes", "docker", "nix", "tasks.py"):
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
    """Run the real CLI as a user would, from `cwd` (whose matrix.json is used)."""
    command = [sys.executable, "-m", "invoke", "--search-root", str(cwd), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture
def invoke_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_invoke
