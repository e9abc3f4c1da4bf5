"""A nightly is built with its night's SOURCE_DATE_EPOCH, smoke-tested, published signed, and can
be reproduced byte for byte from the store by anyone holding the public key."""

import json
from pathlib import Path

import pytest

from wasmforge.nightly import nightly_epoch, nightly_version
from wasmforge.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME

from .conftest import BROWSER_TARGET, ROOT

pytestmark = pytest.mark.docker

# The matrix's own SOURCE_DATE_EPOCH is midnight of this night, so this nightly must equal dist/.
NIGHT = "2025-11-25"


def test_a_nightly_is_dated_by_its_night():
    from datetime import date

    assert nightly_version(date(2026, 11, 25)) == "nightly-2026-11-25"
    assert nightly_epoch(date(2025, 11, 25)) == json.loads((ROOT / "matrix.json").read_text())["source_date_epoch"]


def test_a_published_nightly_reproduces_from_the_store(invoke_cli, tmp_path):
    keys = tmp_path / "keys"
    assert invoke_cli(["keygen", "--out", str(keys)], cwd=ROOT).returncode == 0
    private, public = keys / PRIVATE_KEY_NAME, keys / PUBLIC_KEY_NAME
    store = tmp_path / "store"

    built = invoke_cli(["nightly", "--date", NIGHT, "--target", "emscripten-browser", "--store", str(store), "--key", str(private)], cwd=ROOT)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"nightly-{NIGHT}  {BROWSER_TARGET}" in built.stdout
    nightly_dist = ROOT / "dist" / "nightly" / f"nightly-{NIGHT}" / BROWSER_TARGET
    nightly_manifest = json.loads((nightly_dist / "manifest.json").read_text())
    assert nightly_manifest["source_date_epoch"] == nightly_epoch(__import__("datetime").date.fromisoformat(NIGHT))
    main_manifest = ROOT / "dist" / BROWSER_TARGET / "manifest.json"
    if main_manifest.is_file():
        assert json.loads(main_manifest.read_text())["outputs"] == nightly_manifest["outputs"], "same inputs, same bytes"

    reproduced = invoke_cli(
        ["reproduce", "--version", f"nightly-{NIGHT}", "--target", "emscripten-browser", "--store", str(store),
         "--pubkey", str(public), "--workdir", str(tmp_path / "rebuild")],
        cwd=ROOT,
    )
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr[-3000:]
    assert f"reproduced {BROWSER_TARGET} nightly-{NIGHT}: all " in reproduced.stdout
    pulled = tmp_path / "rebuild" / "published"
    for name in ("python.js", "python.wasm", "python.data"):
        assert (pulled / name).read_bytes() == (nightly_dist / name).read_bytes()
        assert Path(tmp_path / "rebuild" / "rebuild" / "dist" / name).read_bytes() == (nightly_dist / name).read_bytes()
