"""`invoke precompress` lays a browser artifact out for a static host that serves precompressed files:
every file of the manifest, checked, and beside each one a compressing host sends compressed its
`.br` (brotli 11) and `.gz` (gzip -9) — the very bodies `invoke serve` and `invoke bench` send. A
deflated zip goes as it is; the browser build's packs (stored zips) get siblings. A tampered
artifact is refused and nothing is left behind; the folder is replaced whole."""

import gzip
import io
import os
import zipfile
from dataclasses import replace
from pathlib import Path

import brotli
import pytest

from wasmforge.core.errors import ManifestError, RuntimeUnavailableError
from wasmforge.model.manifest import MANIFEST, read_manifest, record_outputs, write_manifest
from wasmforge.releasing.static_site import write_static_site
from wasmforge.verifying.webserver import encode

from .conftest import BROWSER_TARGET, ROOT
from .publish_support import make_dist


def zip_bytes(compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("json/__init__.pyc", b"\xf3\r\r\n" + b"marshalled code " * 500, compress_type=compression)
    return buffer.getvalue()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A browser artifact with a stored pack and, as an older build had, a deflated one."""
    dist = make_dist(tmp_path / "dist")
    (dist / "packs").mkdir()
    (dist / "packs" / "json.zip").write_bytes(zip_bytes(zipfile.ZIP_STORED))
    (dist / "packs" / "deflated.zip").write_bytes(zip_bytes(zipfile.ZIP_DEFLATED))
    write_manifest(dist, replace(read_manifest(dist / MANIFEST), outputs=record_outputs(dist)))
    return dist


def test_each_compressible_file_gets_the_bodies_the_server_sends_beside_it(dist, tmp_path):
    out = tmp_path / "site"
    files = {f.name: f for f in write_static_site(dist, BROWSER_TARGET, out)}
    for name in ("python.wasm", "python.js", "python.data", "packs/json.zip", MANIFEST):
        original = (dist / name).read_bytes()
        assert (out / name).read_bytes() == original
        assert (out / f"{name}.br").read_bytes() == encode(original, "br")
        assert gzip.decompress((out / f"{name}.gz").read_bytes()) == original
        assert files[name].brotli == len(encode(original, "br"))
    assert not (out / "packs" / "deflated.zip.br").exists() and files["packs/deflated.zip"].brotli is None
    assert files["packs/json.zip"].brotli < files["packs/deflated.zip"].raw, "a stored pack, compressed whole, beats deflate"
    assert brotli.decompress((out / "packs" / "json.zip.br").read_bytes()) == (dist / "packs" / "json.zip").read_bytes()
    assert set(files) == {o.name for o in read_manifest(dist / MANIFEST).outputs} | {MANIFEST, "SHA256SUMS"}


def test_a_file_changed_after_the_build_is_refused_and_nothing_is_left_behind(dist, tmp_path):
    (dist / "packs" / "json.zip").write_bytes(zip_bytes(zipfile.ZIP_STORED) + b"tampered")
    with pytest.raises(ManifestError, match=r"packs/json.zip: size \d+ and sha256 [0-9a-f]{64}, manifest.json says"):
        write_static_site(dist, BROWSER_TARGET, tmp_path / "site")
    assert not (tmp_path / "site").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site.partial-")]


def test_the_folder_is_replaced_whole(dist, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "stale.js").write_text("from an older artifact")
    write_static_site(dist, BROWSER_TARGET, out)
    assert not (out / "stale.js").exists() and (out / "python.wasm.br").is_file()


def test_an_artifact_of_another_target_or_a_site_inside_it_is_refused(dist, tmp_path):
    with pytest.raises(ManifestError, match="manifest.json is for target"):
        write_static_site(dist, "cpython3.13-emscripten6.0.5-browser", tmp_path / "site")
    with pytest.raises(ManifestError, match="cannot be written inside the artifact"):
        write_static_site(dist, BROWSER_TARGET, dist / "site")


def test_cli_writes_site_of_the_target_and_prints_what_a_browser_is_sent(project_copy, tmp_path, invoke_cli):
    make_dist(project_copy / "dist")
    env = {**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")}
    done = invoke_cli(["precompress", "--target", "emscripten-browser"], cwd=project_copy, env=env)
    assert done.returncode == 0, done.stderr
    site = project_copy / "site" / BROWSER_TARGET
    assert (site / "python.wasm.gz").is_file()
    assert done.stdout.strip().startswith(f"{site}: 5 files, 5 with .br and .gz beside them;")


def test_cli_refuses_a_flavor_that_no_page_loads(tmp_path, invoke_cli):
    done = invoke_cli(["precompress", "--target", "wasi"], cwd=ROOT, env={**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == RuntimeUnavailableError.exit_code
    assert "`precompress` is for artifacts a web page loads" in done.stderr.strip().splitlines()[-1]
