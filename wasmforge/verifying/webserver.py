"""A loopback HTTP server for an artifact: its dist directory, wasmforge's web pages, extra files.

Used by `invoke serve` (the browser REPL), by the Chromium runtime (regression tests) and by
`invoke bench` (cold start in Chromium). It only ever binds 127.0.0.1.

A site that lists `encodings` answers as a static host or CDN does: the body is sent with
`Content-Encoding: br` or `gzip` when the request's Accept-Encoding allows it, `Vary:
Accept-Encoding` says so to caches, and Content-Length is the encoded length. Bodies are compressed
once (brotli quality 11, gzip -9 with no name and mtime 0: what `invoke bench` computes) and kept
in memory. Types that are already compressed (zip, gzip, images) go out as they are, as CDNs'
compressible-type lists leave them out; a zip whose members are all stored (the browser build's
stdlib packs) is not compressed at all, so it is sent compressed like python.data, as a host that
precompresses the artifact sends it.
"""

import gzip
import hashlib
import http.server
import io
import mimetypes
import signal
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

# SharedArrayBuffer (the REPL's blocking stdin, a pthreads build's shared memory) exists only in a
# cross-origin isolated page, and a page is isolated only when its document is served with both.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}

CONTENT_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".py": "text/plain; charset=utf-8",
    ".data": "application/octet-stream",
    ".zip": "application/zip",
}

# The encodings this server can send, best first: on a tie in Accept-Encoding, brotli wins.
ENCODINGS = ("br", "gzip")
# Content types sent as they are: compressing them again gains little. Everything else this server
# sends (JavaScript, wasm, HTML, JSON, text and python.data's octet-stream) is compressible.
ALREADY_COMPRESSED = ("application/zip", "application/gzip", "application/x-gzip", "image/", "font/woff2")


def is_compressible(content_type_value: str) -> bool:
    return not content_type_value.startswith(ALREADY_COMPRESSED)


def is_stored_zip(source: bytes | Path) -> bool:
    """A zip with members, none of them compressed: its bytes compress like any other data."""
    try:
        with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(infos) and all(info.compress_type == zipfile.ZIP_STORED for info in infos)


def sent_compressed(url_path: str, source: bytes | Path) -> bool:
    """Whether a compressing host sends this body with a Content-Encoding: by its type, except that
    a zip of stored members is compressed too (the same bytes inside python.data would be)."""
    kind = content_type(url_path)
    return is_compressible(kind) or (kind == "application/zip" and is_stored_zip(source))


def accepted_encodings(header: str | None) -> dict[str, float]:
    """Accept-Encoding parsed into {coding: q}; a coding with q=0 is refused, `*` stands for any
    coding not named."""
    accepted: dict[str, float] = {}
    for item in (header or "").split(","):
        parts = [part.strip() for part in item.split(";")]
        if not parts[0]:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        accepted[parts[0].lower()] = q
    return accepted


def choose_encoding(header: str | None, offered: tuple[str, ...]) -> str | None:
    """The offered encoding the client prefers (highest q, then our order), or None for identity."""
    accepted = accepted_encodings(header)
    best: str | None = None
    best_q = 0.0
    for coding in offered:
        q = accepted.get(coding, accepted.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


def encode(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        # Fixed header (no name, mtime 0): the same bytes as core.files.gzip_size measures.
        return gzip.compress(data, compresslevel=9, mtime=0)
    if coding == "br":
        import brotli

        return brotli.compress(data, quality=11)
    raise ValueError(f"unknown content coding {coding!r}")


class EncodedBodies:
    """Compressed bodies, made once per (file or content, coding) and kept for the process: brotli
    at quality 11 takes about 2 s per MB, so no request may pay it twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[tuple[object, str], bytes] = {}

    def get(self, source: bytes | Path, coding: str) -> bytes:
        key = (self._identity(source), coding)
        with self._lock:
            found = self._bodies.get(key)
        if found is None:
            data = source if isinstance(source, bytes) else source.read_bytes()
            found = encode(data, coding)
            with self._lock:
                self._bodies[key] = found
        return found

    @staticmethod
    def _identity(source: bytes | Path) -> object:
        if isinstance(source, bytes):
            return hashlib.sha256(source).hexdigest()
        stat = source.stat()
        # A rebuilt file has another size or mtime: its old encodings are never served.
        return (str(source.resolve()), stat.st_size, stat.st_mtime_ns)


ENCODED = EncodedBodies()


def web_asset(name: str) -> bytes:
    """A file of wasmforge/verifying/web/ (package data), e.g. the REPL page or the interpreter worker."""
    return resources.files("wasmforge.verifying").joinpath("web", name).read_bytes()


@dataclass
class Site:
    """What the server answers: files under `root`, overlaid by in-memory `extra` files by URL path."""

    root: Path
    extra: dict[str, bytes] = field(default_factory=dict)
    # Every path requested, in order: tells a benchmark which files a page really downloads.
    requested: list[str] = field(default_factory=list)
    # Content codings offered (ENCODINGS or a part of it); empty: every body is sent as it is.
    encodings: tuple[str, ...] = ()

    def lookup(self, url_path: str) -> bytes | Path | None:
        path = url_path.split("?", 1)[0].split("#", 1)[0]
        if path in self.extra:
            return self.extra[path]
        if path.endswith("/"):
            path += "index.html"
            if path in self.extra:
                return self.extra[path]
        candidate = (self.root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root.resolve()) or not candidate.is_file():
            return None
        return candidate

    def warm(self, paths: Iterable[str] | None = None) -> None:
        """Compress the site's compressible files now (`paths`, relative to the root, or every file
        at its top and every extra file), so that no timed request waits for it."""
        if not self.encodings:
            return
        if paths is None:
            sources: list[tuple[str, bytes | Path]] = [(url, body) for url, body in self.extra.items()]
            sources += [(f"/{path.name}", path) for path in sorted(self.root.iterdir()) if path.is_file()]
        else:
            sources = [(f"/{path}", found) for path in paths if (found := self.lookup(f"/{path}")) is not None]
        for url, source in sources:
            if sent_compressed(url, source):
                for coding in self.encodings:
                    ENCODED.get(source, coding)


def content_type(url_path: str) -> str:
    suffix = Path(url_path.split("?", 1)[0]).suffix
    if url_path.split("?", 1)[0].endswith("/"):
        suffix = ".html"
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(url_path)[0] or "application/octet-stream"


def _handler_for(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            site.requested.append(self.path.split("?", 1)[0])
            found = site.lookup(self.path)
            if found is None:
                self.send_error(404, "not found")
                return
            kind = content_type(self.path)
            compressible = bool(site.encodings) and sent_compressed(self.path, found)
            coding = choose_encoding(self.headers.get("Accept-Encoding"), site.encodings) if compressible else None
            if coding is not None:
                body = ENCODED.get(found, coding)
            else:
                body = found if isinstance(found, bytes) else found.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            if coding is not None:
                self.send_header("Content-Encoding", coding)
            if compressible:
                # The body depends on Accept-Encoding, identity included: caches must key on it.
                self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(body)))
            # Every run starts cold: a benchmark must not measure a cached download.
            self.send_header("Cache-Control", "no-store")
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
            # Lets an isolated page embed these files whoever serves the page itself.
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(site: Site, port: int = 0, warm: Iterable[str] | None = None) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (port 0: any free one) in a thread; yield the base URL. A site
    with encodings is compressed first (`warm`: these files; None: all), so that the first request
    is as fast as the others."""
    site.warm(warm)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler_for(site))
    server.daemon_threads = True
    # Stopping (Ctrl-C in `invoke serve`) need not wait for handler threads, which are daemons.
    # Added after `invoke serve` once took over 30 s to end under load; that cause was not found.
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, name="wasmforge-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# `invoke serve` is a development server: gzip -9 of an 18 MB artifact takes a few seconds at
# start, brotli at quality 11 some 40 s, so it offers gzip only (the bench offers both).
REPL_ENCODINGS = ("gzip",)


def repl_site(dist: Path) -> Site:
    """The artifact plus the REPL page at / (web/wf-repl.html), its worker and its Python loop."""
    page = web_asset("wf-repl.html")
    return Site(root=dist, encodings=REPL_ENCODINGS, extra={
        "/": page,
        "/index.html": page,
        "/wf-worker.js": web_asset("wf-worker.js"),
        "/wf-repl.py": web_asset("wf-repl.py"),
    })


def serve_until_interrupted(site: Site, port: int, announce: Callable[[str], None]) -> None:
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started;
    # a process started by one that ignores it (a test runner's worker, nohup) would never stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with serving(site, port) as base:
        announce(base)
        try:
            # Wake up twice a second: Ctrl-C may be delivered to the server's thread, and Python
            # runs its handler (KeyboardInterrupt) only in a main thread that is running; one
            # blocked for good in Event().wait() never saw it (the serve test hung under load).
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
