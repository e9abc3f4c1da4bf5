"""A nightly is built with its night's SOURCE_DATE_EPOCH, smoke-tested, published signed, and can
be reproduced byte for byte from the store by anyone holding the public key.

The reproduction is also the project's proof that emscripten-browser is a pure function of its
inputs: it rebuilds every stage without Docker's layer cache, at twice the build's -j, from another
context path, under umask 077, TZ=Pacific/Chatham and LC_ALL=C, and every output must match. It
is the suite's one from-scratch browser build: every variation rides on it."""

import json
import os
from datetime import date
from pathlib import Path

import pytest

from wasmforge.core.hashing import sha256_file
from wasmforge.model.workspace import Workspace
from wasmforge.releasing.nightly import nightly_epoch, nightly_version
from wasmforge.releasing.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME
from wasmforge.verifying.smoke import SMOKE_EXPECTED, smoke_test

from .conftest import BROWSER_TARGET, NEEDS_WASI, REBUILDS_BROWSER, ROOT, WASI_TARGET, built_dist

# The matrix's own SOURCE_DATE_EPOCH is midnight of this night, so this nightly must equal dist/.
NIGHT = "2025-11-25"


def test_a_nightly_is_dated_by_its_night():
    assert nightly_version(date(2026, 11, 25)) == "nightly-2026-11-25"
    assert nightly_epoch(date(2025, 11, 25)) == json.loads((ROOT / "matrix.json").read_text())["source_date_epoch"]


@pytest.mark.docker
@REBUILDS_BROWSER
def test_a_published_nightly_reproduces_from_the_store(invoke_cli, tmp_path):
    main_outputs = json.loads((built_dist(BROWSER_TARGET) / "manifest.json").read_text())["outputs"]
    keys = tmp_path / "keys"
    assert invoke_cli(["keygen", "--out", str(keys)], cwd=ROOT).returncode == 0
    private, public = keys / PRIVATE_KEY_NAME, keys / PUBLIC_KEY_NAME
    store = tmp_path / "store"

    built = invoke_cli(["nightly", "--date", NIGHT, "--target", "emscripten-browser", "--store", str(store), "--key", str(private)], cwd=ROOT)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"nightly-{NIGHT}  {BROWSER_TARGET}  smoke: {SMOKE_EXPECTED}" in built.stdout
    nightly_dist = ROOT / "dist" / "nightly" / f"nightly-{NIGHT}" / BROWSER_TARGET
    nightly_manifest = json.loads((nightly_dist / "manifest.json").read_text())
    assert nightly_manifest["source_date_epoch"] == nightly_epoch(date.fromisoformat(NIGHT))
    assert nightly_manifest["outputs"] == main_outputs, "same inputs, same bytes"

    reproduced = invoke_cli(
        ["reproduce", "--version", f"nightly-{NIGHT}", "--target", "emscripten-browser", "--store", str(store),
         "--pubkey", str(public), "--workdir", str(tmp_path / "rebuild")],
        cwd=ROOT,
    )
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr[-3000:]
    doubled_jobs = 2 * (os.cpu_count() or 2)
    assert f"no layer cache, -j{doubled_jobs}, fresh context path, host umask 077, TZ=Pacific/Chatham, LC_ALL=C" in reproduced.stderr
    assert f"reproduced {BROWSER_TARGET} nightly-{NIGHT}: all " in reproduced.stdout
    table = [line.split() for line in reproduced.stdout.splitlines() if line.split()[-1:] in (["ok"], ["DIFFERS"])]
    assert {"python.data", "python.js", "python.wasm"} <= {row[0] for row in table}
    assert all(row[-1] == "ok" for row in table), reproduced.stdout
    pulled = tmp_path / "rebuild" / "published"
    [environment] = json.loads((store / "cross-build-environments.json").read_text())["environments"]
    assert (environment["version"], environment["target"]) == (f"nightly-{NIGHT}", BROWSER_TARGET)
    assert environment["sha256"] == sha256_file(pulled / f"xbuildenv-{BROWSER_TARGET}.tar.gz"), "published and pulled verified"
    for name in ("python.js", "python.wasm", "python.data"):
        assert (pulled / name).read_bytes() == (nightly_dist / name).read_bytes()
        assert Path(tmp_path / "rebuild" / "rebuild" / "dist" / name).read_bytes() == (nightly_dist / name).read_bytes()


@pytest.mark.docker
@NEEDS_WASI
def test_a_wasi_nightly_is_smoke_tested_under_wasmtime():
    ws = Workspace.load(root=ROOT)
    assert smoke_test(ws.matrix.resolve(WASI_TARGET), built_dist(WASI_TARGET)) == SMOKE_EXPECTED
