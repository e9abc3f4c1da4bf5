"""The WASI cross-build environment: libpython and the static libraries of the interpreter's own
link, with the flags that link used, so that a host program can embed CPython. A tiny C host is
compiled and linked with the WASI toolchain image (network off) from nothing but the environment,
and runs `print(1+1)` under wasmtime with the artifact's stdlib."""

import json
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from wasmforge import commands
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace

from .conftest import NEEDS_WASI, ROOT, WASI_TARGET, built_dist
from .wasi_support import Wasi

pytestmark = [pytest.mark.docker, NEEDS_WASI]

HOST = textwrap.dedent("""\
    #include <Python.h>
    #include <stdio.h>

    int main(void) {
        /* The host speaks first: what runs is this program, with CPython inside it. */
        printf("host: embedding Python %s\\n", PY_VERSION);
        fflush(stdout);
        PyConfig config;
        PyConfig_InitIsolatedConfig(&config);
        /* getpath looks for the stdlib from the program's path, as for python.wasm. */
        PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "/usr/local/bin/python3.13");
        if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&config);
        if (PyStatus_Exception(status)) Py_ExitStatusException(status);
        int failed = PyRun_SimpleString("print(1+1)");
        return Py_FinalizeEx() < 0 || failed ? 1 : 0;
    }
    """)


@pytest.fixture(scope="module")
def environment() -> tuple[Path, dict]:
    ws = Workspace.load(root=ROOT)
    built_dist(WASI_TARGET)
    made = commands.ensure_xbuildenv(ws, ws.matrix.resolve(WASI_TARGET))
    return made.path, made.info


def test_it_holds_libpython_and_every_static_library_its_link_names(environment):
    path, info = environment
    assert info["platform"] == "wasi-wasm32" and "wheel_tag" not in info and "side_module" not in info
    with tarfile.open(path) as archive:
        names = {member.name.split("/", 1)[1] for member in archive.getmembers() if member.isfile()}
    embed = info["embed"]
    assert "lib/libpython3.13.a" in names and "include/python3.13/Python.h" in names
    archives = [word for word in embed["libs"] if word.endswith(".a")]
    assert archives[0] == "lib/libpython3.13.a" and set(archives) <= names
    assert {"lib/libz.a", "lib/libbz2.a", "lib/liblzma.a", "lib/libsqlite3.a", "lib/libmpdec.a"} <= names
    assert not any("/wf/" in word for word in embed["cflags"] + embed["ldflags"] + embed["libs"]), "no build paths"


def test_a_host_program_linked_from_the_environment_embeds_cpython_under_wasmtime(environment, tmp_path):
    path, info = environment
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path, filter="data")
    top = tmp_path / f"xbuildenv-{WASI_TARGET}"
    (top / "host.c").write_text(HOST)
    embed = info["embed"]
    compile_and_link = " && ".join([
        " ".join([embed["cc"], *embed["cflags"], "-c", "host.c", "-o", "host.o"]),
        " ".join([embed["cc"], *embed["ldflags"], "-o", "host.wasm", "host.o", *embed["libs"]]),
    ])
    ws = Workspace.load(root=ROOT)
    toolchain = plan_for(ws, ws.matrix.resolve(WASI_TARGET)).toolchain_lock.image_tag
    built = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{top}:/env", "-w", "/env", toolchain,
         "/bin/sh", "-ec", compile_and_link],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr

    prefix = tmp_path / "prefix"
    with tarfile.open(built_dist(WASI_TARGET) / "python-stdlib.tar.gz") as archive:
        archive.extractall(prefix, filter="data")
    work = tmp_path / "work"
    work.mkdir()
    result = Wasi(top / "host.wasm", prefix).run([], work)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"host: embedding Python {json.loads((top / 'xbuildenv.json').read_text())['python_version']}\n2\n"
