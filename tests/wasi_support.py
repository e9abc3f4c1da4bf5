"""Running a WASI command in wasmtime (the PyPI package's Python API) with the artifact's stdlib
mapped in as /usr/local, the interpreter's compiled-in prefix, and a work directory as /work: the
artifact's python.wasm (tests/test_wasi_flavor.py) or a program that embeds CPython
(tests/test_xbuildenv_wasi.py)."""

from dataclasses import dataclass
from pathlib import Path

import pytest

wasmtime = pytest.importorskip("wasmtime", reason="the wasmtime package is not installed (pip install -e '.[test]')")

GUEST_PREFIX = "/usr/local"
GUEST_WORK = "/work"
# wasmtime refuses a wasm stack as large as its own 8 MiB async stack; CPython needs far less.
MAX_WASM_STACK = 1 << 20


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str


class Wasi:
    """python.wasm compiled once, run as a WASI command with the stdlib and a work dir mapped in."""

    def __init__(self, wasm: Path, prefix: Path) -> None:
        config = wasmtime.Config()
        config.max_wasm_stack = MAX_WASM_STACK
        self.engine = wasmtime.Engine(config)
        self.module = wasmtime.Module.from_file(self.engine, str(wasm))
        self.prefix = prefix

    def run(self, args: list[str], work: Path) -> Run:
        wasi = wasmtime.WasiConfig()
        # getpath starts from argv[0]: the guest path of the interpreter under the prefix.
        wasi.argv = [f"{GUEST_PREFIX}/bin/python3.13", *args]
        wasi.preopen_dir(str(self.prefix), GUEST_PREFIX, False)
        wasi.preopen_dir(str(work), GUEST_WORK)
        stdout, stderr = work / ".stdout", work / ".stderr"
        wasi.stdout_file, wasi.stderr_file = str(stdout), str(stderr)
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        instance = linker.instantiate(store, self.module)
        try:
            instance.exports(store)["_start"](store)
            exit_code = 0
        except wasmtime.ExitTrap as exit_:
            exit_code = exit_.code
        return Run(exit_code=exit_code, stdout=stdout.read_text(), stderr=stderr.read_text())
