"""The browser build's stdlib arrives on demand: python.data preloads the core that start-up needs,
every other top-level module is its own pack (packs/<name>.zip), fetched when first imported — by
the import itself in a Web Worker, by `await Module.loadPackages(...)` or
`Module.loadPackagesFromImports(code)` on a page's main thread. Nothing is left out.

The split is checked on small sources here; the real artifact in Chromium, the worker and the main
thread both, and under Node, where every stdlib module still imports."""

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "recipes" / "cpython"))
import stdlib_packs  # noqa: E402  (a recipe script, run by the build Python in the build)


def members_of(tmp_path: Path, sources: dict[str, str]) -> list[stdlib_packs.Member]:
    members = []
    for name, text in sources.items():
        path = tmp_path / "Lib" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        members.append(stdlib_packs.Member(name[: -len(".py")] + ".pyc", path))
    return members


START_UP = {
    "encodings/__init__.py": "import codecs\nfrom . import aliases\n",
    "encodings/aliases.py": "",
    "encodings/utf_8.py": "import codecs\n",
    "encodings/idna.py": "import re, stringprep\n",
    "codecs.py": "",
    "sitecustomize.py": "import _wasmforge_packs\n",
    "_wasmforge_packs.py": "import zipimport\nfrom _wasmforge_pack_index import EXTENSIONS, PACKS\n",
    "_wasmforge_pack_index.py": "PACKS = EXTENSIONS = frozenset()\n",
    "zipimport.py": "",
    "traceback.py": "import linecache\n",
    "linecache.py": "",
}


def test_the_core_is_what_start_up_imports_and_every_other_top_level_name_is_a_pack(tmp_path):
    members = members_of(tmp_path, {
        **START_UP,
        "re/__init__.py": "import enum\nfrom . import _parser\n",
        "re/_parser.py": "",
        "enum.py": "import types\ndef late():\n    import json\nif False:\n    import argparse\nif TYPE_CHECKING:\n    import argparse\n",
        "types.py": "",
        "stringprep.py": "",
        "json/__init__.py": "from .decoder import JSONDecoder\n",
        "json/decoder.py": "import re\n",
        "json/__main__.py": "import argparse\n",
        "json/tool.py": "import argparse\n",
        "argparse.py": "",
    })
    split = stdlib_packs.split(members)
    assert sorted({m.top for m in split.core}) == ["_wasmforge_pack_index", "_wasmforge_packs", "codecs", "encodings",
                                                  "linecache", "sitecustomize", "traceback", "zipimport"]
    packs = {pack.name: pack for pack in split.packs}
    assert sorted(packs) == ["argparse", "enum", "json", "re", "stringprep", "types"]
    # A pack's imports are what `import <name>` runs at module level (not what only type checkers
    # read, under `if TYPE_CHECKING:`): enum's function-level
    # `import json` is fetched when it runs, and json.tool's argparse (a submodule the package does
    # not import) or __main__'s (run with -m) when those are imported.
    assert packs["json"].imports == ("re",) and packs["re"].imports == ("enum",) and packs["enum"].imports == ("types",)
    # Start-up itself needs no pack (encodings.idna's re comes when idna is imported).
    assert split.core_imports == ()
    every = sorted(m.name for m in split.core) + sorted(m.name for pack in split.packs for m in pack.members)
    assert sorted(every) == sorted(m.name for m in members), "each member is in the core or in exactly one pack"


def test_what_an_extension_module_imports_from_c_comes_with_the_module_importing_it(tmp_path):
    members = members_of(tmp_path, {
        **START_UP,
        "decimal.py": "try:\n    from _decimal import *\nexcept ImportError:\n    from _pydecimal import *\n",
        "numbers.py": "",
        "collections/__init__.py": "",
        "collections/abc.py": "",
    })
    packs = {pack.name: pack for pack in stdlib_packs.split(members).packs}
    assert packs["decimal"].imports == ("collections", "numbers")


SIDE_MODULE = "_decimal.cpython-313-wasm32-emscripten.so"


def test_a_side_module_is_an_extension_pack_that_the_packs_importing_it_bring(tmp_path):
    members = members_of(tmp_path, {
        **START_UP,
        "decimal.py": "try:\n    from _decimal import *\nexcept ImportError:\n    from _pydecimal import *\n",
        "numbers.py": "",
        "collections/__init__.py": "",
        "collections/abc.py": "",
    })
    split = stdlib_packs.split(members, (SIDE_MODULE,))
    packs = {pack.name: pack for pack in split.packs}
    assert packs["decimal"].imports == ("_decimal", "collections", "numbers")
    assert split.extensions == (stdlib_packs.ExtensionPack("_decimal", SIDE_MODULE, ("collections", "numbers")),)
    index = stdlib_packs.index_json(split, {name: name.encode() for name in [*packs, "_decimal"]},
                                    "/usr/local/lib/python3.13/lib-dynload")
    assert index["dynload_dir"] == "/usr/local/lib/python3.13/lib-dynload"
    assert index["packs"]["_decimal"] == {
        "file": "_decimal.wasm", "library": SIDE_MODULE, "kind": "extension", "size": 8, "imports": ["collections", "numbers"],
        "sha256": hashlib.sha256(b"_decimal").hexdigest(),
    }
    assert index["packs"]["decimal"]["kind"] == "zip"
    namespace: dict[str, object] = {}
    exec(compile(stdlib_packs.index_module_source(split), "_wasmforge_pack_index.py", "exec"), namespace)
    assert namespace["EXTENSIONS"] == frozenset({"_decimal"}) and "_decimal" not in namespace["PACKS"]


def test_a_side_module_brings_the_side_modules_it_imports_from_c(tmp_path):
    files = tuple(f"{name}.cpython-313-wasm32-emscripten.so" for name in ("_codecs_hk", "_codecs_tw", "_multibytecodec"))
    split = stdlib_packs.split(members_of(tmp_path, START_UP), files)
    imports = {pack.name: pack.imports for pack in split.extensions}
    assert imports == {"_codecs_hk": ("_codecs_tw", "_multibytecodec"), "_codecs_tw": ("_multibytecodec",), "_multibytecodec": ()}


def test_relative_imports_resolve_inside_their_package(tmp_path):
    members = members_of(tmp_path, {
        "pkg/__init__.py": "from . import sub\nfrom .sub import thing\n",
        "pkg/sub.py": "from .. import other\nfrom ..other import x\n",
        "other.py": "",
    })
    imports = {m.module: stdlib_packs.module_level_imports(m) for m in members}
    assert {"pkg.sub", "pkg.sub.thing"} <= imports["pkg"]
    assert {"other", "other.x"} <= imports["pkg.sub"]


def test_a_stdlib_without_its_start_up_modules_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="start-up modules missing from the zip: sitecustomize"):
        stdlib_packs.split(members_of(tmp_path, {k: v for k, v in START_UP.items() if k != "sitecustomize.py"}))


def test_the_index_names_every_pack_with_its_size_hash_and_imports(tmp_path):
    members = members_of(tmp_path, {**START_UP, "json/__init__.py": "import re\n", "re.py": ""})
    split = stdlib_packs.split(members)
    index = stdlib_packs.index_json(split, {"json": b"j" * 10, "re": b"r" * 5})
    assert index["packs"]["json"]["file"] == "json.zip" and index["packs"]["json"]["size"] == 10
    assert index["packs"]["json"]["imports"] == ["re"] and len(index["packs"]["re"]["sha256"]) == 64
    source = stdlib_packs.index_module_source(split)
    namespace: dict[str, object] = {}
    exec(compile(source, "_wasmforge_pack_index.py", "exec"), namespace)
    assert namespace["PACKS"] == frozenset({"json", "re"})


# ------------------------------------------------------------------------------------------------
# The real artifact

IMPORT_EVERY_PACK = r"""
import json, sys
packs = json.load(open("/usr/local/lib/wasmforge-packs/index.json"))["packs"]
failed = {}
for name in sorted(packs):
    try:
        __import__(name)
    except BaseException as error:
        failed[name] = f"{type(error).__name__}: {error}"
print("WF-IMPORTED", len(packs) - len(failed), "of", len(packs))
print("WF-FAILED", json.dumps(failed, sort_keys=True))
"""


@pytest.fixture(scope="module")
def browser_dist() -> Path:
    from .conftest import built_dist

    return built_dist()


@pytest.mark.docker
def test_start_up_needs_no_pack_and_every_pack_is_an_output_with_its_hash(browser_dist):
    index = json.loads((browser_dist / "packs" / "index.json").read_text())
    sums = dict(line.split("  ", 1)[::-1] for line in (browser_dist / "SHA256SUMS").read_text().splitlines())
    assert len(index["packs"]) > 100 and {"json", "sqlite3", "asyncio", "decimal"} <= set(index["packs"])
    for name, pack in index["packs"].items():
        assert sums[f"packs/{pack['file']}"] == pack["sha256"], name
        if pack["kind"] == "extension":
            continue
        with zipfile.ZipFile(browser_dist / "packs" / pack["file"]) as archive:
            assert {member.split("/", 1)[0].removesuffix(".pyc") for member in archive.namelist()} == {name}
    assert {"encodings", "sitecustomize", "_wasmforge_packs"} <= set(index["core"])
    assert not set(index["core"]) & set(index["packs"])


def side_modules() -> list[str]:
    lines = (ROOT / "recipes" / "cpython" / "side-modules.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.docker
def test_the_side_modules_are_out_of_python_wasm_and_each_is_an_extension_pack(browser_dist):
    index = json.loads((browser_dist / "packs" / "index.json").read_text())
    python_wasm = (browser_dist / "python.wasm").read_bytes()
    assert index["dynload_dir"] == "/usr/local/lib/python3.13/lib-dynload"
    for name in side_modules():
        pack = index["packs"][name]
        assert (pack["kind"], pack["file"], pack["library"]) == ("extension", f"{name}.wasm", f"{name}.cpython-313-wasm32-emscripten.so")
        side_module = (browser_dist / "packs" / pack["file"]).read_bytes()
        # A side module: wasm whose first section is emscripten's dylink.0, exporting its PyInit_.
        assert side_module[:4] == b"\0asm" and b"dylink.0" in side_module[8:24] and f"PyInit_{name}".encode() in side_module
        # The main module exports every symbol it has: a module linked into it would be named there.
        assert f"PyInit_{name}".encode() not in python_wasm, name
    assert b"PyInit_zlib" in python_wasm and b"PyInit__ctypes" in python_wasm
    # The packs importing a side module at module level bring it (what a page's main thread loads).
    for pack, side_module in (("sqlite3", "_sqlite3"), ("decimal", "_decimal"), ("lzma", "_lzma"), ("stringprep", "unicodedata")):
        assert side_module in index["packs"][pack]["imports"], pack


@pytest.mark.docker
def test_under_node_every_pack_imports_from_its_file(browser_dist):
    import subprocess

    from wasmforge.verifying.runtimes.node import node_executable

    result = subprocess.run([node_executable(), str(browser_dist / "python.js"), "-c", IMPORT_EVERY_PACK],
                            capture_output=True, text=True, timeout=600, cwd=browser_dist)
    assert "WF-FAILED" in result.stdout, result.stderr[-2000:]
    failed = json.loads(result.stdout.split("WF-FAILED", 1)[1].strip().splitlines()[0])
    # A module may fail for what the platform lacks (no subprocesses, no terminal); never because
    # its pack could not be read.
    assert not {name: why for name, why in failed.items() if "stdlib pack" in why or name in why.split("'")[1:2]}, failed
    assert len(failed) < 10, failed


@pytest.mark.docker
@pytest.mark.browser
def test_in_a_worker_an_import_fetches_its_pack(browser_dist):
    from wasmforge.verifying.runtimes import PythonJob
    from wasmforge.verifying.runtimes.chromium import ChromiumRuntime

    code = ("import json, sqlite3, unicodedata; print('WF', json.__file__, sqlite3.connect(':memory:').execute('select 6*7').fetchone(), "
            "unicodedata.name('\\u00e9'), unicodedata.__file__, 'abc'.encode('gb18030'))")
    run = ChromiumRuntime().run_python(browser_dist, PythonJob(args=("-c", code), timeout_seconds=180))
    assert run.exit_code == 0, (run.output, run.crash)
    assert "WF /usr/local/lib/wasmforge-packs/json.zip/json/__init__.pyc (42,)" in run.output
    # Side modules too: unicodedata by an import, the CJK codecs by the codec registry's.
    assert ("LATIN SMALL LETTER E WITH ACUTE /usr/local/lib/python3.13/lib-dynload/unicodedata.cpython-313-wasm32-emscripten.so b'abc'"
            in run.output)


MAIN_THREAD_CODE = ("import json, sys\nfrom decimal import Decimal\n"
                    "print('WF', json.dumps([str(Decimal(1) / 8)]), '_pydecimal' in sys.modules, sys.modules['_decimal'].__file__)")


@pytest.mark.docker
@pytest.mark.browser
def test_on_the_main_thread_packs_are_loaded_before_the_code_runs_or_named_by_the_error(browser_dist):
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM, CHROMIUM_ARGS, run_page, serve

    unloaded = run_page(MAIN_THREAD_CODE).replace("if (Module.loadPackagesFromImports)", "if (false)")
    side_module_unloaded = run_page("import unicodedata").replace("if (Module.loadPackagesFromImports)", "if (false)")
    pages = {"/loaded.html": run_page(MAIN_THREAD_CODE), "/unloaded.html": unloaded, "/side-module-unloaded.html": side_module_unloaded}
    with serve(browser_dist, pages) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/loaded.html")
            page.wait_for_function("() => document.getElementById('out').textContent.includes('WF')", timeout=120_000)
            # decimal's pack brings the _decimal side module: the C implementation runs, not _pydecimal.
            assert "WF [\"0.125\"] False /usr/local/lib/python3.13/lib-dynload/_decimal.cpython-313-wasm32-emscripten.so" in page.inner_text("#out")
            loaded = page.evaluate("() => window.wasmforgeLoaded")
            assert {"json", "decimal", "_decimal"} <= set(loaded) and "sqlite3" not in loaded
            page = browser.new_page()
            page.goto(f"{base}/unloaded.html")
            page.wait_for_function("() => document.getElementById('out').textContent.includes('Error')", timeout=120_000)
            text = page.inner_text("#out")
            assert "/usr/local/lib/wasmforge-packs/json.zip, which is not loaded" in text and "Module.loadPackages(['json'])" in text
            page = browser.new_page()
            page.goto(f"{base}/side-module-unloaded.html")
            page.wait_for_function("() => document.getElementById('out').textContent.includes('Error')", timeout=120_000)
            text = page.inner_text("#out")
            assert "'unicodedata' here yet: it is a side module" in text and "Module.loadPackages(['unicodedata'])" in text
        finally:
            browser.close()
