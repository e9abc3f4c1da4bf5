"""The artifact's web server answers as a static host or CDN does: brotli or gzip when the request
allows it, the same bytes `invoke bench` counts, `Vary: Accept-Encoding`, the encoded length in
Content-Length, HEAD like GET without a body, and already-compressed types sent as they are — but
a zip of stored members (a stdlib pack) is compressed, as its bytes inside python.data would be.
Real HTTP requests on a loopback port."""

import gzip
import http.client
import io
import zipfile
from pathlib import Path

import brotli
import pytest

from wasmforge.verifying import webserver
from wasmforge.verifying.webserver import Site, serving

WASM = b"\0asm\x01\0\0\0" + bytes(range(256)) * 40
SCRIPT = b"var Module = {};\n" * 500
ZIP = b"PK\x03\x04" + b"already deflated" * 100


def zip_of(members: dict[str, bytes], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


PYC = b"\xf3\r\r\n" + b"code object bytes, repeated " * 200
STORED_PACK = zip_of({"json/__init__.pyc": PYC, "json/decoder.pyc": PYC[::-1]}, zipfile.ZIP_STORED)
DEFLATED_PACK = zip_of({"json/__init__.pyc": PYC, "json/decoder.pyc": PYC[::-1]}, zipfile.ZIP_DEFLATED)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    (tmp_path / "python.wasm").write_bytes(WASM)
    (tmp_path / "python.js").write_bytes(SCRIPT)
    (tmp_path / "python_stdlib.zip").write_bytes(ZIP)
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "json.zip").write_bytes(STORED_PACK)
    (tmp_path / "packs" / "deflated.zip").write_bytes(DEFLATED_PACK)
    return Site(root=tmp_path, encodings=webserver.ENCODINGS, extra={"/page.html": b"<p>hello</p>" * 50})


def fetch(base: str, path: str, accept_encoding: str | None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
        # http.client adds no Accept-Encoding of its own: what the test sends is all the server sees.
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_brotli_is_sent_when_the_client_accepts_it_and_preferred_on_a_tie(site):
    with serving(site) as base:
        status, headers, body = fetch(base, "/python.wasm", "gzip, deflate, br, zstd")
    assert status == 200
    assert headers["content-encoding"] == "br"
    assert brotli.decompress(body) == WASM
    assert body == brotli.compress(WASM, quality=11), "quality 11: the size the bench computes"
    assert int(headers["content-length"]) == len(body) < len(WASM)
    assert headers["vary"] == "Accept-Encoding"
    assert headers["content-type"] == "application/wasm"


def test_gzip_is_sent_to_a_client_without_brotli_with_the_bench_s_exact_bytes(site):
    with serving(site) as base:
        _, headers, body = fetch(base, "/python.js", "gzip, deflate")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == SCRIPT
    assert body == gzip.compress(SCRIPT, compresslevel=9, mtime=0)
    assert int(headers["content-length"]) == len(body)


def test_quality_values_choose_and_q0_refuses(site):
    assert webserver.choose_encoding("br;q=0.5, gzip;q=0.8", webserver.ENCODINGS) == "gzip"
    assert webserver.choose_encoding("br;q=0, gzip;q=0", webserver.ENCODINGS) is None
    assert webserver.choose_encoding("*", webserver.ENCODINGS) == "br"
    assert webserver.choose_encoding("*;q=0.1, br;q=0", webserver.ENCODINGS) == "gzip"
    assert webserver.choose_encoding(None, webserver.ENCODINGS) is None
    with serving(site) as base:
        _, headers, body = fetch(base, "/python.js", "br;q=0.2, gzip;q=0.9")
    assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == SCRIPT


def test_identity_when_nothing_is_accepted_still_varies(site):
    with serving(site) as base:
        _, headers, body = fetch(base, "/python.wasm", None)
    assert "content-encoding" not in headers
    assert body == WASM and int(headers["content-length"]) == len(WASM)
    assert headers["vary"] == "Accept-Encoding", "a cache must not hand this identity body to a br client"


def test_head_has_get_s_headers_and_no_body(site):
    with serving(site) as base:
        _, get_headers, get_body = fetch(base, "/page.html", "br")
        status, head_headers, head_body = fetch(base, "/page.html", "br", method="HEAD")
    assert status == 200 and head_body == b""
    assert head_headers["content-encoding"] == "br"
    assert head_headers["content-length"] == get_headers["content-length"] == str(len(get_body))


def test_already_compressed_types_are_sent_as_they_are(site):
    with serving(site) as base:
        _, headers, body = fetch(base, "/python_stdlib.zip", "gzip, br")
    assert "content-encoding" not in headers and "vary" not in headers
    assert body == ZIP and headers["content-type"] == "application/zip"


def test_a_zip_of_stored_members_is_compressed_as_its_bytes_in_python_data_would_be(site):
    with serving(site) as base:
        _, stored_headers, stored_body = fetch(base, "/packs/json.zip", "gzip, br")
        _, deflated_headers, deflated_body = fetch(base, "/packs/deflated.zip", "gzip, br")
    assert stored_headers["content-encoding"] == "br" and stored_headers["vary"] == "Accept-Encoding"
    assert brotli.decompress(stored_body) == STORED_PACK and len(stored_body) < len(DEFLATED_PACK)
    assert stored_headers["content-type"] == "application/zip"
    assert "content-encoding" not in deflated_headers and deflated_body == DEFLATED_PACK
    assert webserver.is_stored_zip(STORED_PACK) and not webserver.is_stored_zip(DEFLATED_PACK)
    assert not webserver.is_stored_zip(ZIP), "not a readable zip: sent as it is"
    assert not webserver.is_stored_zip(zip_of({}, zipfile.ZIP_STORED)), "no members, nothing to compress"


def test_a_site_without_encodings_never_encodes(tmp_path):
    (tmp_path / "python.js").write_bytes(SCRIPT)
    with serving(Site(root=tmp_path)) as base:
        _, headers, body = fetch(base, "/python.js", "gzip, br")
    assert "content-encoding" not in headers and "vary" not in headers and body == SCRIPT


def test_bodies_are_compressed_once_and_a_changed_file_is_compressed_again(tmp_path):
    path = tmp_path / "python.js"
    path.write_bytes(SCRIPT)
    bodies = webserver.EncodedBodies()
    first = bodies.get(path, "gzip")
    assert bodies.get(path, "gzip") is first
    path.write_bytes(SCRIPT + b"// rebuilt, longer\n")
    assert gzip.decompress(bodies.get(path, "gzip")).endswith(b"// rebuilt, longer\n")


def test_missing_files_and_paths_outside_the_root_are_404(site):
    with serving(site) as base:
        assert fetch(base, "/nothing.wasm", "br")[0] == 404
        assert fetch(base, "/../../etc/passwd", "br")[0] == 404
