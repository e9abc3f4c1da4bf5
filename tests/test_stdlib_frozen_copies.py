"""The browser artifact ships each stdlib module once. CPython freezes its start-up modules (os,
site, codecs, io, importlib's bootstrap, …) into python.wasm and, with frozen modules on (the
default outside a source tree), imports them from there: their copies in the stdlib zip are never
read. The browser build leaves those copies out of the core and the packs; which modules are
frozen is read from the build Python (the same sources), which must run with frozen modules on.
The frozen modules themselves are compiled without column positions, as the stdlib zip is.

Checked on small sources here, and on the real artifact under Node."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_stdlib_packs import START_UP, members_of, stdlib_packs

SCRIPT = ROOT / "recipes" / "cpython" / "normalize_stdlib_zip.py"


def test_modules_frozen_into_the_interpreter_are_left_out_and_importing_them_needs_no_pack(tmp_path):
    members = members_of(tmp_path, {
        **START_UP,
        "os.py": "import abc, stat\n",
        "abc.py": "",
        "stat.py": "",
        "shutil.py": "import os, fnmatch\n",
        "fnmatch.py": "import os\n",
        "importlib/__init__.py": "",
        "importlib/util.py": "import types\n",
        "importlib/resources.py": "",
        "types.py": "",
        "inspect.py": "import importlib.util\n",
    })
    frozen = frozenset({"codecs", "zipimport", "os", "abc", "stat", "importlib.util", "site"})
    split = stdlib_packs.split(members, frozen=frozen)
    assert split.frozen == ("abc", "codecs", "importlib.util", "os", "stat", "zipimport")
    kept = {m.module for m in split.core} | {m.module for pack in split.packs for m in pack.members}
    assert not kept & frozen, "python.wasm holds them; the interpreter never reads a zip copy"
    packs = {pack.name: pack for pack in split.packs}
    assert packs["shutil"].imports == ("fnmatch",) and packs["fnmatch"].imports == ()
    # A package keeps its members that are not frozen; a frozen submodule's own imports are python.wasm's.
    assert [m.module for m in packs["importlib"].members] == ["importlib", "importlib.resources"]
    assert "types" in packs and packs["importlib"].imports == ()
    # importlib.util is frozen, but importing it imports the package importlib first: its pack.
    assert packs["inspect"].imports == ("importlib",)
    assert stdlib_packs.index_json(split, {name: b"" for name in packs})["frozen"] == list(split.frozen)


def test_the_build_python_without_frozen_modules_is_refused_before_anything_is_written(tmp_path):
    stdlib_zip = tmp_path / "python313.zip"
    with zipfile.ZipFile(stdlib_zip, "w") as archive:
        archive.writestr("os.pyc", b"stale")
    result = subprocess.run(
        [sys.executable, "-X", "frozen_modules=off", str(SCRIPT), "--zip", str(stdlib_zip), "--srcdir", str(tmp_path),
         "--builddir", str(tmp_path), "--packs", str(tmp_path / "packs")],
        capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
        cwd=ROOT / "recipes" / "cpython")
    assert result.returncode == 1
    assert result.stderr.startswith("normalize_stdlib_zip: --packs needs the interpreter run with -X frozen_modules=on")
    assert not (tmp_path / "packs").exists()
    with zipfile.ZipFile(stdlib_zip) as archive:
        assert archive.read("os.pyc") == b"stale"


# ------------------------------------------------------------------------------------------------
# The real artifact

FROZEN_PROGRAM = """
import glob, json, os, sys, zipfile
names = ["os", "site", "codecs", "io", "abc", "stat", "posixpath", "runpy", "importlib.util", "zipimport", "__hello__"]
import __hello__, importlib.util, runpy
print("WF-ORIGINS", json.dumps({name: sys.modules[name].__spec__.origin for name in names}))
print("WF-FROZEN-COLUMNS", sorted({str(column) for _, _, column, _ in os.makedirs.__code__.co_positions()}))
zips = [path for path in sys.path if path.endswith(".zip")] + sorted(glob.glob("/usr/local/lib/wasmforge-packs/*.zip"))
members = {name for path in zips for name in zipfile.ZipFile(path).namelist()}
print("WF-ZIPS", len(zips), "WF-MEMBERS", json.dumps(sorted(members)))
"""


@pytest.mark.docker
def test_in_the_browser_artifact_frozen_modules_come_from_python_wasm_without_columns_and_no_zip_holds_a_copy():
    from wasmforge.verifying.runtimes.node import node_executable

    from .conftest import built_dist

    dist = built_dist()
    index = json.loads((dist / "packs" / "index.json").read_text())
    assert {"os", "site", "codecs", "io", "importlib._bootstrap", "importlib.util", "runpy"} <= set(index["frozen"])
    result = subprocess.run([node_executable(), str(dist / "python.js"), "-c", FROZEN_PROGRAM],
                            capture_output=True, text=True, timeout=600, cwd=dist)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    origins = json.loads(result.stdout.split("WF-ORIGINS", 1)[1].splitlines()[0])
    assert set(origins.values()) == {"frozen"}, origins
    # Compiled by the build Python without column positions, as the stdlib zip is.
    assert "WF-FROZEN-COLUMNS ['None']" in result.stdout, result.stdout
    zips = int(result.stdout.split("WF-ZIPS", 1)[1].split()[0])
    assert zips == 1 + sum(pack["kind"] == "zip" for pack in index["packs"].values()), "the core and every zip pack"
    members = set(json.loads(result.stdout.split("WF-MEMBERS", 1)[1].splitlines()[0]))
    copies = {name for name in members if name.removesuffix(".pyc").removesuffix("/__init__").replace("/", ".") in index["frozen"]}
    assert copies == set(), "every frozen module once, in python.wasm"
    assert {"importlib/__init__.pyc", "importlib/resources/__init__.pyc", "json/__init__.pyc"} <= members, "nothing else left out"
