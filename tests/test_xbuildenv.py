"""The cross-build environment of an emscripten artifact: one deterministic tar.gz made from the
target's build image, holding the headers, the build's _sysconfigdata and Makefile and the flags
a side module needs, and refused when the image is not the build of dist/<target-id>/."""

import json
import shutil
import subprocess
import tarfile

import pytest

from wasmforge.building import xbuildenv
from wasmforge.core.errors import XbuildenvError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.workspace import Workspace

from .conftest import NEEDS_NODE, NODE_TARGET, ROOT, built_dist

NODE = shutil.which("node") or shutil.which("nodejs")


def test_the_archive_is_a_function_of_its_files_and_the_epoch(tmp_path):
    files = {"include/python3.13/Python.h": b"#pragma once\n", "xbuildenv.json": b"{}\n", "sysconfig/Makefile": b"CC=emcc\n"}
    xbuildenv.write_archive(tmp_path / "one.tar.gz", "xbuildenv-demo", files, 1764028800)
    xbuildenv.write_archive(tmp_path / "two.tar.gz", "xbuildenv-demo", dict(reversed(files.items())), 1764028800)
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "one.tar.gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == [
        "xbuildenv-demo", "xbuildenv-demo/include", "xbuildenv-demo/include/python3.13", "xbuildenv-demo/sysconfig",
        "xbuildenv-demo/include/python3.13/Python.h", "xbuildenv-demo/sysconfig/Makefile", "xbuildenv-demo/xbuildenv.json",
    ]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(1764028800, 0, 0, "", "")}
    assert {m.mode for m in members if m.isfile()} == {0o644} and {m.mode for m in members if m.isdir()} == {0o755}


def test_side_module_flags_are_the_build_s_compile_flags_and_a_side_module_link():
    variables = {"CC": "emcc", "CFLAGS": "-O3 -Wall -ffile-prefix-map=/wf/build/cpython=/wasmforge/src/cpython", "CCSHARED": "-fPIC",
                 "EXT_SUFFIX": ".cpython-313-wasm32-emscripten.so"}
    assert xbuildenv.side_module_flags(variables, "include/python3.13") == {
        "cc": "emcc",
        "cflags": ["-O3", "-Wall", "-fPIC", "-Iinclude/python3.13"],
        "ldflags": ["-shared", "-sSIDE_MODULE=1", "-sWASM_BIGINT"],
        "ext_suffix": ".cpython-313-wasm32-emscripten.so",
    }


def test_a_target_without_dynamic_linking_gets_no_cross_build_environment(tmp_path):
    target = Workspace.load(root=ROOT).matrix.resolve("emscripten-node-pthreads")
    with pytest.raises(XbuildenvError, match="has no dynamic-linking flag"):
        xbuildenv.make_xbuildenv(target, tmp_path, tmp_path / "x.tar.gz")


# --- from a real build ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_environment(tmp_path_factory) -> xbuildenv.Xbuildenv:
    dist = built_dist(NODE_TARGET)
    target = Workspace.load(root=ROOT).matrix.resolve(NODE_TARGET)
    return xbuildenv.make_xbuildenv(target, dist, tmp_path_factory.mktemp("xbuildenv") / f"xbuildenv-{NODE_TARGET}.tar.gz")


@pytest.mark.docker
@NEEDS_NODE
def test_made_twice_from_the_build_image_it_is_the_same_bytes(node_environment, tmp_path):
    target = Workspace.load(root=ROOT).matrix.resolve(NODE_TARGET)
    again = xbuildenv.make_xbuildenv(target, built_dist(NODE_TARGET), tmp_path / "again.tar.gz")
    assert sha256_file(again.path) == sha256_file(node_environment.path)


@pytest.mark.docker
@NEEDS_NODE
def test_it_holds_the_headers_the_build_s_sysconfig_and_describes_the_artifact(node_environment):
    with tarfile.open(node_environment.path) as archive:
        names = set(archive.getnames())
    top = f"xbuildenv-{NODE_TARGET}"
    assert {f"{top}/include/python3.13/Python.h", f"{top}/include/python3.13/pyconfig.h",
            f"{top}/include/python3.13/cpython/object.h", f"{top}/sysconfig/Makefile",
            f"{top}/sysconfig/_sysconfigdata__emscripten_wasm32-emscripten.py", f"{top}/xbuildenv.json"} <= names
    info = node_environment.info
    manifest = built_dist(NODE_TARGET) / "manifest.json"
    assert info["artifact"]["manifest_sha256"] == sha256_file(manifest)
    assert info["toolchain"]["lock_digest"] == json.loads(manifest.read_text())["toolchain"]["lock_digest"]
    assert (info["python_version"], info["sdk"]) == ("3.13.5", {"kind": "emscripten", "version": "3.1.69"})
    assert info["wheel_tag"] == {"python": "cp313", "abi": "cp313", "platform": "emscripten_3_1_69_wasm32"}
    assert info["makefile_vars"]["INCLUDEPY"] == "/usr/local/include/python3.13"
    assert info["side_module"]["ldflags"] == ["-shared", "-sSIDE_MODULE=1", "-sWASM_BIGINT"]


@pytest.mark.docker
@NEEDS_NODE
@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_its_platform_and_extension_suffix_are_what_the_interpreter_itself_says(node_environment, tmp_path):
    code = "import sysconfig, importlib.machinery as m; print(sysconfig.get_platform()); print(m.EXTENSION_SUFFIXES[0])"
    result = subprocess.run([NODE, str(built_dist(NODE_TARGET) / "python.js"), "-c", code], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [node_environment.info["platform"], node_environment.info["ext_suffix"]]


@pytest.mark.docker
@NEEDS_NODE
def test_an_image_that_did_not_build_the_artifact_in_dist_is_refused(node_environment, tmp_path):
    dist = tmp_path / NODE_TARGET
    shutil.copytree(built_dist(NODE_TARGET), dist)
    manifest = json.loads((dist / "manifest.json").read_text())
    next(o for o in manifest["outputs"] if o["name"] == "python.wasm")["sha256"] = "0" * 64
    (dist / "manifest.json").write_text(json.dumps(manifest))
    target = Workspace.load(root=ROOT).matrix.resolve(NODE_TARGET)
    with pytest.raises(XbuildenvError, match=rf"wasmforge-build:{NODE_TARGET} is not the build of dist/{NODE_TARGET}/ \(python.wasm differ\)"):
        xbuildenv.make_xbuildenv(target, dist, tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()
