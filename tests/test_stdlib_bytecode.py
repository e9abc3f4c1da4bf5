"""The browser build's stdlib bytecode has line numbers but no column positions: a traceback through
a module in a zip has no source line to draw carets under, and the positions are about a quarter
of each compressed .pyc. normalize_stdlib_zip.py says so with --no-column-positions and refuses an
interpreter that compiles otherwise, so the environment cannot change a build's bytes.

Checked with the script on a small zip here (the host Python compiles), and on the real artifact."""

import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPT = ROOT / "recipes" / "cpython" / "normalize_stdlib_zip.py"
MODULE = "def divide(a, b):\n    return a / b\n"


def normalize(tmp_path: Path, *options: str, python_flags: tuple[str, ...] = (), env: dict[str, str] | None = None):
    srcdir, builddir = tmp_path / "src", tmp_path / "build"
    (srcdir / "Lib").mkdir(parents=True, exist_ok=True)
    builddir.mkdir(exist_ok=True)
    (srcdir / "Lib" / "arith.py").write_text(MODULE)
    stdlib_zip = tmp_path / "python313.zip"
    with zipfile.ZipFile(stdlib_zip, "w") as archive:
        archive.writestr("arith.pyc", b"stale")
    clean_env = {key: value for key, value in os.environ.items() if key != "PYTHONNODEBUGRANGES"}
    result = subprocess.run(
        [sys.executable, *python_flags, str(SCRIPT), "--zip", str(stdlib_zip), "--srcdir", str(srcdir),
         "--builddir", str(builddir), *options],
        capture_output=True, text=True, env={**clean_env, "SOURCE_DATE_EPOCH": "1700000000", **(env or {})},
        cwd=ROOT / "recipes" / "cpython")
    return result, stdlib_zip


def code_in(stdlib_zip: Path):
    with zipfile.ZipFile(stdlib_zip) as archive:
        pyc = archive.read("arith.pyc")
    return marshal.loads(pyc[16:])


def columns_of(code) -> set:
    divide = next(const for const in code.co_consts if hasattr(const, "co_positions"))
    return {column for _, _, column, _ in divide.co_positions()}


def test_without_column_positions_the_bytecode_keeps_its_lines_only(tmp_path):
    result, stdlib_zip = normalize(tmp_path, "--no-column-positions", python_flags=("-X", "no_debug_ranges"))
    assert result.returncode == 0, result.stderr
    code = code_in(stdlib_zip)
    assert columns_of(code) == {None}
    divide = next(const for const in code.co_consts if hasattr(const, "co_positions"))
    assert {line for _, _, line in divide.co_lines() if line is not None} == {1, 2}
    assert code.co_filename == "/usr/local/lib/python313.zip/arith.py"


def test_by_default_the_bytecode_keeps_its_column_positions(tmp_path):
    result, stdlib_zip = normalize(tmp_path)
    assert result.returncode == 0, result.stderr
    assert None not in columns_of(code_in(stdlib_zip))


def test_the_option_without_the_interpreter_flag_is_refused_and_the_zip_left_alone(tmp_path):
    result, stdlib_zip = normalize(tmp_path, "--no-column-positions")
    assert result.returncode == 1
    assert result.stderr.strip() == "normalize_stdlib_zip: --no-column-positions needs the interpreter run with -X no_debug_ranges"
    with zipfile.ZipFile(stdlib_zip) as archive:
        assert archive.read("arith.pyc") == b"stale"


def test_an_environment_that_drops_columns_is_refused_when_the_build_did_not_ask(tmp_path):
    result, _ = normalize(tmp_path, env={"PYTHONNODEBUGRANGES": "1"})
    assert result.returncode == 1
    assert "compiles without column positions (PYTHONNODEBUGRANGES or -X no_debug_ranges)" in result.stderr
    assert "--no-column-positions was not given" in result.stderr


TRACEBACK_PROGRAM = """
import json, traceback
try:
    json.loads("{")
except ValueError:
    text = traceback.format_exc()
print("WF-COLUMNS", {column for _, _, column, _ in json.decoder.JSONDecoder.raw_decode.__code__.co_positions()})
print("WF-TRACEBACK-LINES", [line.strip() for line in text.splitlines() if "json/decoder.py" in line])
"""


@pytest.mark.docker
def test_in_the_browser_artifact_a_pack_has_no_columns_and_its_tracebacks_name_lines():
    from wasmforge.verifying.runtimes.node import node_executable

    from .conftest import built_dist

    dist = built_dist()
    result = subprocess.run([node_executable(), str(dist / "python.js"), "-c", TRACEBACK_PROGRAM],
                            capture_output=True, text=True, timeout=600, cwd=dist)
    assert "WF-COLUMNS {None}" in result.stdout, result.stdout + result.stderr[-2000:]
    lines = result.stdout.split("WF-TRACEBACK-LINES", 1)[1]
    assert 'packs/json.zip/json/decoder.py", line ' in lines, lines
