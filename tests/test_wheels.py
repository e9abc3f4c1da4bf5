"""Wheels with C extension modules for an emscripten artifact: sdists pinned in wheels.lock.json,
built in the toolchain image with the network off, byte-reproducible, tagged with the artifact's
platform, and installed and imported under Node; a tampered sdist and a wheel for another
platform or Python are refused with one line."""

import ast
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wasmforge.building import wheel_archive, wheel_build, wheel_install
from wasmforge.core.errors import IntegrityError, WheelError
from wasmforge.model.wheel_lock import load_lock
from wasmforge.model.wheel_tags import ArtifactTags, artifact_tags, check_wheel_fits
from wasmforge.model.workspace import Workspace
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.publisher_state import PublisherState
from wasmforge.releasing.stores import open_writable_store
from wasmforge.releasing.wheel_release import WheelSet

from .conftest import NEEDS_NODE, NODE_TARGET, ROOT, WASI_TARGET, built_dist, run_invoke
from .publish_support import static_mirror  # noqa: F401 (a fixture)
from .wheel_support import OUR_TAG, fake_wheel

NODE = shutil.which("node") or shutil.which("nodejs")
NODE_TAGS = ArtifactTags(target_id=NODE_TARGET, platform="emscripten-3.1.69-wasm32", python="cp313", abi="cp313")
# --- tags ----------------------------------------------------------------------------------------


def test_an_emscripten_target_s_wheels_carry_its_sysconfig_platform_and_cpython_abi():
    target = Workspace.load(root=ROOT).matrix.resolve("emscripten-node")
    assert artifact_tags(target).wheel_tag == OUR_TAG


def test_a_wasi_target_gets_no_wheels_with_extension_modules():
    target = Workspace.load(root=ROOT).matrix.resolve(WASI_TARGET)
    with pytest.raises(WheelError, match="emscripten targets only"):
        artifact_tags(target)


@pytest.mark.parametrize("name", [f"demo-1.0-{OUR_TAG}.whl", "demo-1.0-py3-none-any.whl", "demo-1.0-cp312-abi3-emscripten_3_1_69_wasm32.whl"])
def test_a_wheel_for_the_artifact_or_for_any_platform_fits(name):
    check_wheel_fits(name, NODE_TAGS)


@pytest.mark.parametrize("name, problem", [
    ("demo-1.0-cp313-cp313-linux_x86_64.whl", "built for platform linux_x86_64, but .* loads emscripten_3_1_69_wasm32"),
    ("demo-1.0-cp313-cp313-emscripten_6_0_5_wasm32.whl", "built for platform emscripten_6_0_5_wasm32"),
    ("demo-1.0-cp312-cp312-emscripten_3_1_69_wasm32.whl", "built for Python/ABI cp312-cp312, but .* is cp313-cp313"),
    ("demo-1.0-cp313-cp313d-emscripten_3_1_69_wasm32.whl", "built for Python/ABI cp313-cp313d"),
    ("demo-1.0-cp314-abi3-emscripten_3_1_69_wasm32.whl", "built for Python/ABI cp314-abi3"),
    ("demo.whl", "not a wheel file name"),
])
def test_a_wheel_for_another_platform_or_python_is_refused_naming_the_file(name, problem):
    with pytest.raises(WheelError, match=problem) as caught:
        check_wheel_fits(name, NODE_TAGS)
    assert str(caught.value).startswith(f"{name}: ") and "\n" not in str(caught.value)


# --- reproducible archives -----------------------------------------------------------------------


def test_normalising_makes_a_wheel_a_function_of_its_files_only(tmp_path):
    files = {"demo/__init__.py": b"from ._speedups import f\n", "demo/_speedups.cpython-313-wasm32-emscripten.so": b"\0asm"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = fake_wheel(tmp_path / "a" / f"demo-1.0-{OUR_TAG}.whl", files, record=False)
    two = fake_wheel(tmp_path / "b" / f"demo-1.0-{OUR_TAG}.whl", files, reverse=True, date=(2026, 12, 2, 13, 0, 0))
    out_one = wheel_archive.normalize_wheel(one, tmp_path / "one.whl", epoch=1764028800)
    wheel_archive.normalize_wheel(two, tmp_path / "two.whl", epoch=1764028800)
    assert (tmp_path / "one.whl").read_bytes() == (tmp_path / "two.whl").read_bytes()
    assert out_one.tags == (OUR_TAG,)
    assert out_one.extension_modules(".cpython-313-wasm32-emscripten.so") == ("demo/_speedups.cpython-313-wasm32-emscripten.so",)
    with zipfile.ZipFile(tmp_path / "one.whl") as archive:
        infos = archive.infolist()
        record = archive.read("demo-1.0.dist-info/RECORD").decode().splitlines()
    assert [i.filename for i in infos] == [
        "demo/__init__.py", "demo/_speedups.cpython-313-wasm32-emscripten.so",
        "demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/WHEEL", "demo-1.0.dist-info/RECORD",
    ]
    assert {i.date_time for i in infos} == {(2025, 11, 25, 0, 0, 0)} and {i.external_attr >> 16 for i in infos} == {0o100644}
    assert record[0] == f"demo/__init__.py,{wheel_archive.record_hash(files['demo/__init__.py'])},25"
    assert record[-1] == "demo-1.0.dist-info/RECORD,,"


# --- the lock and the sdist ----------------------------------------------------------------------


def test_the_lock_pins_the_three_tested_packages_and_their_build_requirement():
    lock = load_lock(ROOT / "wheels.lock.json")
    assert sorted(lock.sdists) == ["bitarray==3.7.2", "markupsafe==3.0.3", "msgpack==1.1.2"]
    assert lock.sdist("MarkupSafe==3.0.3").build_requires == ("setuptools==80.9.0",)
    with pytest.raises(WheelError, match=r"numpy==2\.0 is not locked .*`invoke lock-wheel numpy==2.0` pins it"):
        lock.sdist("numpy==2.0")


def test_a_lock_with_a_bad_pin_is_refused_naming_the_key(tmp_path):
    data = json.loads((ROOT / "wheels.lock.json").read_text())
    data["sdists"]["msgpack==1.1.2"]["sha256"] = "not-hex"
    (tmp_path / "wheels.lock.json").write_text(json.dumps(data))
    with pytest.raises(WheelError, match=r"wheels.lock.json: sdists/msgpack==1.1.2/sha256 must be 64 lowercase hex digits"):
        load_lock(tmp_path / "wheels.lock.json")


def test_a_tampered_sdist_is_refused_with_one_line_naming_the_file(tmp_path):
    tampered = tmp_path / "markupsafe-3.0.3.tar.gz"
    tampered.write_bytes(b"not what the lock pins")
    with pytest.raises(IntegrityError, match="refusing a tampered sdist"):
        wheel_build.resolve_sdist(str(tampered), load_lock(ROOT / "wheels.lock.json"), Workspace.load(root=ROOT).cache)
    result = run_invoke(["wheel", "--target", "emscripten-node", str(tampered)], cwd=ROOT)
    assert result.returncode == 7, result.stderr
    assert result.stderr.startswith(f"error: {tampered}: sha256 ") and result.stderr.count("\n") == 1


# --- installing ----------------------------------------------------------------------------------


def test_installing_checks_every_file_against_record_and_adds_whole_packages(tmp_path):
    files = {"demo/__init__.py": b"VALUE = 42\n"}
    wheel = fake_wheel(tmp_path / f"demo-1.0-{OUR_TAG}.whl", files)
    site = tmp_path / "prefix" / "lib" / "python3.13" / "site-packages"
    assert wheel_install.install_wheel(wheel, site, NODE_TAGS) == ["demo", "demo-1.0.dist-info"]
    assert (site / "demo" / "__init__.py").read_bytes() == b"VALUE = 42\n"
    with pytest.raises(WheelError, match="already has demo, demo-1.0.dist-info"):
        wheel_install.install_wheel(wheel, site, NODE_TAGS)


def test_a_wheel_whose_file_does_not_match_its_record_installs_nothing(tmp_path):
    wheel = fake_wheel(tmp_path / f"demo-1.0-{OUR_TAG}.whl", {"demo/__init__.py": b"VALUE = 42\n"})
    with zipfile.ZipFile(wheel) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    entries["demo/__init__.py"] = b"VALUE = 666\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    site = tmp_path / "site-packages"
    with pytest.raises(WheelError, match=r"demo/__init__.py does not match its RECORD line"):
        wheel_install.install_wheel(wheel, site, NODE_TAGS)
    assert not site.exists()


def test_install_wheel_refuses_a_linux_wheel_before_copying_anything(tmp_path):
    wheel = fake_wheel(tmp_path / "demo-1.0-cp313-cp313-linux_x86_64.whl", {"demo/__init__.py": b""}, tag="cp313-cp313-linux_x86_64")
    result = run_invoke(["install-wheel", "--target", "emscripten-node", "--dest", str(tmp_path / "app"), "--wheel", str(wheel)], cwd=ROOT)
    assert result.returncode == 27
    assert result.stderr == (f"error: {wheel.name}: built for platform linux_x86_64, but {NODE_TARGET} loads "
                             "emscripten_3_1_69_wasm32 (or any)\n")
    assert not (tmp_path / "app").exists()



def test_install_wheel_is_for_node_artifacts_only(tmp_path):
    wheel = fake_wheel(tmp_path / f"demo-1.0-{OUR_TAG}.whl", {"demo/__init__.py": b""})
    result = run_invoke(["install-wheel", "--target", "emscripten-browser", "--dest", str(tmp_path / "app"), "--wheel", str(wheel)], cwd=ROOT)
    assert result.returncode == 27
    assert result.stderr.startswith("error: cpython3.13-emscripten3.1.69-browser: install-wheel installs into node artifacts")

# --- real packages, built and run ----------------------------------------------------------------

# Each package's compiled module, and work that goes through it under Node. markupsafe and msgpack
# fall back to pure Python when their module does not load; the report says which code ran.
IMPORT_CHECK = r"""
import json, sys
import importlib.machinery
import bitarray, bitarray.util, markupsafe, msgpack
from bitarray import _bitarray
from markupsafe import _speedups
from msgpack import _cmsgpack

suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
bits = bitarray.bitarray("1101" * 4)
report = {
    "compiled": [m.__file__.endswith(suffix) for m in (_speedups, _cmsgpack, _bitarray)],
    "markupsafe": [str(markupsafe.escape("<a href='x'>&</a>")), type(markupsafe._escape_inner).__name__],
    "msgpack": [msgpack.unpackb(msgpack.packb({"n": [1, 2.5, "x"]})), msgpack.Packer.__module__],
    "bitarray": [bits.count(1), bitarray.util.ba2hex(bits), type(bits).__module__],
}
print(json.dumps(report, sort_keys=True))
"""
PACKAGES = ("markupsafe==3.0.3", "msgpack==1.1.2", "bitarray==3.7.2")


@pytest.fixture(scope="module")
def node_wheels(tmp_path_factory) -> dict[str, Path]:
    """The three locked packages built for the node artifact, as `invoke wheel` builds them."""
    from wasmforge import commands

    ws = Workspace.load(root=ROOT)
    target = ws.matrix.resolve(NODE_TARGET)
    built_dist(NODE_TARGET)
    out = tmp_path_factory.mktemp("wheels")
    request = wheel_build.WheelRequest(
        tags=artifact_tags(target), toolchain_image=_toolchain_image(ws, target), xbuildenv=commands.ensure_xbuildenv(ws, target),
        source_date_epoch=1764028800, work_root=out / "work", out_dir=out,
    )
    lock = load_lock(ROOT / "wheels.lock.json")
    return {spec: wheel_build.build_wheel(wheel_build.resolve_sdist(spec, lock, ws.cache), request, ws.cache).path for spec in PACKAGES}


def _toolchain_image(ws: Workspace, target) -> str:
    from wasmforge.building import toolchain_image

    return toolchain_image.ensure_image(ws.toolchain_spec(target), ws.toolchain_lock(target), ws.cache, ws.workdir)


@pytest.mark.docker
@NEEDS_NODE
def test_each_package_becomes_one_wheel_tagged_for_the_artifact_with_its_extension_module(node_wheels):
    assert sorted(path.name for path in node_wheels.values()) == [
        f"bitarray-3.7.2-{OUR_TAG}.whl", f"markupsafe-3.0.3-{OUR_TAG}.whl", f"msgpack-1.1.2-{OUR_TAG}.whl",
    ]
    with zipfile.ZipFile(node_wheels["markupsafe==3.0.3"]) as archive:
        assert "markupsafe/_speedups.cpython-313-wasm32-emscripten.so" in archive.namelist()
        module = archive.read("markupsafe/_speedups.cpython-313-wasm32-emscripten.so")
    assert module.startswith(b"\0asm") and b"dylink.0" in module[:64], "a wasm side module"


@pytest.mark.docker
@NEEDS_NODE
def test_the_same_wheel_built_twice_at_other_paths_and_times_is_identical(tmp_path):
    """`invoke wheel --check-reproducible`, as a user runs it."""
    result = run_invoke(["wheel", "--target", "emscripten-node", "--check-reproducible", "markupsafe==3.0.3"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "reproducible: markupsafe-3.0.3-cp313-cp313-emscripten_3_1_69_wasm32.whl built twice, both sha256 " in result.stderr + result.stdout


@pytest.mark.docker
@NEEDS_NODE
@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_installed_into_a_copy_of_the_node_artifact_the_compiled_code_is_what_runs(node_wheels, tmp_path):
    app = tmp_path / "app"
    args = [arg for path in node_wheels.values() for arg in ("--wheel", str(path))]
    result = run_invoke(["install-wheel", "--target", "emscripten-node", "--dest", str(app), *args], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (app / "lib/python3.13/site-packages/msgpack/_cmsgpack.cpython-313-wasm32-emscripten.so").is_file()
    run = subprocess.run([NODE, str(app / "python.js"), "-c", IMPORT_CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "compiled": [True, True, True],
        "markupsafe": ["&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;", "builtin_function_or_method"],
        "msgpack": [{"n": [1, 2.5, "x"]}, "msgpack._cmsgpack"],
        "bitarray": [12, "dddd", "bitarray"],
    }


@pytest.mark.docker
@NEEDS_NODE
def test_published_with_the_node_artifact_pip_finds_all_three_through_the_simple_index(node_wheels, tmp_path, static_mirror):
    """`invoke publish --wheels`, then pip on another machine: the release's PEP 503 index."""
    from .publish_support import make_keys
    from .test_publish_wheels import pip_download

    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    request = PublishRequest(
        target_id=NODE_TARGET, dist=built_dist(NODE_TARGET), version="v1", key=keys.signing, schema=ROOT / "schemas" / "index.schema.json",
        now=datetime.now(timezone.utc), state=PublisherState(tmp_path / "state.json"),
        wheels=WheelSet(paths=tuple(node_wheels.values()), tags=NODE_TAGS),
    )
    publish(open_writable_store(str(store)), request)
    index = f"{static_mirror(store)}/releases/v1/{NODE_TARGET}/simple/"
    got = pip_download(index, tmp_path / "got", "MarkupSafe", "msgpack", "bitarray")
    assert got.returncode == 0, got.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "got").iterdir()} == {w.name: w.read_bytes() for w in node_wheels.values()}


# The documented way for a page (docs/extension-modules.md): fetch each wheel into emscripten's
# file system (`FS` is a global of the classic loader), then let Python unpack it with zipfile.
WHEELS_PAGE = """<!doctype html>
<meta charset="utf-8"><title>wasmforge wheels</title>
<link rel="icon" href="data:,">
<pre id="out"></pre>
<script>
  var wasmforgeOutput = document.getElementById("out");
  var wasmforgeCode = %(code)s;
  var wasmforgeWheels = %(wheels)s;
  var Module = {
    noInitialRun: true,
    print: (text) => { wasmforgeOutput.textContent += text + "\\n"; },
    printErr: (text) => { wasmforgeOutput.textContent += "[stderr] " + text + "\\n"; },
    onRuntimeInitialized: async () => {
      FS.mkdirTree("/wheels");
      for (const url of wasmforgeWheels) {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        FS.writeFile("/wheels/" + url.split("/").pop(), bytes);
      }
      // The stdlib packs the code imports, and those the packages import in turn.
      await Module.loadPackagesFromImports(wasmforgeCode);
      await Module.loadPackages(%(stdlib)s);
      callMain(["-c", wasmforgeCode]);
    },
  };
</script>
<script src="python.js"></script>
"""
UNPACK_AND_CHECK = r"""
import json, pathlib, sys, zipfile
# sysconfig would need its own stdlib pack (_sysconfigdata) loaded first: name the directory.
site = "/usr/local/lib/python3.13/site-packages"
for wheel in sorted(pathlib.Path("/wheels").iterdir()):
    zipfile.ZipFile(wheel).extractall(site)
if site not in sys.path:
    sys.path.append(site)
""" + IMPORT_CHECK + """
print("WF-DONE")
"""


def stdlib_packs_imported(wheels: list[Path], dist: Path) -> list[str]:
    """The browser artifact's stdlib packs that the wheels' Python files import (a page's main
    thread cannot fetch a pack on import, so the page loads them first)."""
    packs = set(json.loads((dist / "packs" / "index.json").read_text())["packs"])
    names: set[str] = set()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in (n for n in archive.namelist() if n.endswith(".py")):
                for node in ast.walk(ast.parse(archive.read(name))):
                    if isinstance(node, ast.Import):
                        names.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names.add(node.module.split(".")[0])
    return sorted(names & packs)


@pytest.mark.docker
@pytest.mark.browser
@NEEDS_NODE
def test_in_headless_chromium_a_page_unpacks_the_same_wheels_and_the_compiled_code_runs(node_wheels, tmp_path):
    from .browser import run_in_chromium_page
    from .conftest import BROWSER_TARGET

    site = tmp_path / "site"
    shutil.copytree(built_dist(BROWSER_TARGET), site)
    (site / "wheels").mkdir()
    for path in node_wheels.values():
        shutil.copy(path, site / "wheels" / path.name)
    page = WHEELS_PAGE % {"code": json.dumps(UNPACK_AND_CHECK), "stdlib": json.dumps(stdlib_packs_imported(list(node_wheels.values()), site)), "wheels": json.dumps(sorted(f"wheels/{p.name}" for p in node_wheels.values()))}
    output = run_in_chromium_page(site, page, "WF-DONE")
    report = next(line for line in output.splitlines() if line.startswith("{"))
    assert json.loads(report)["compiled"] == [True, True, True], output
    assert json.loads(report)["bitarray"] == [12, "dddd", "bitarray"], output


@pytest.mark.docker
@pytest.mark.browser
@NEEDS_NODE
def test_in_a_web_worker_the_same_wheels_unpack_and_their_imports_fetch_their_own_packs(node_wheels):
    """The worker path: the wheels are written into the worker's file system before Python starts
    (as the REPL's runner writes files), and nothing is preloaded: in a worker an import fetches
    the stdlib pack it needs synchronously, so the packages' own imports just work."""
    from wasmforge.verifying.runtimes import PythonJob
    from wasmforge.verifying.runtimes.chromium import ChromiumRuntime
    from .conftest import BROWSER_TARGET

    files = {f"/wheels/{path.name}": path.read_bytes() for path in node_wheels.values()}
    run = ChromiumRuntime().run_python(built_dist(BROWSER_TARGET), PythonJob(args=("-c", UNPACK_AND_CHECK), files=files, timeout_seconds=180))
    assert run.exit_code == 0, (run.output, run.crash)
    report = json.loads(next(line for line in run.output.splitlines() if line.startswith("{")))
    assert report["compiled"] == [True, True, True], run.output
    assert report["msgpack"] == [{"n": [1, 2.5, "x"]}, "msgpack._cmsgpack"], run.output
