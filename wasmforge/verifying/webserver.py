"""A loopback HTTP server for an artifact: its dist directory, wasmforge's web pages, extra files.

Used by `invoke serve` (the browser REPL), by the Chromium runtime (regression tests) and by
`invoke bench` (cold start in Chromium). It only ever binds 127.0.0.1.
"""

import http.server
import mimetypes
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

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
            body = found if isinstance(found, bytes) else found.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", content_type(self.path))
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
def serving(site: Site, port: int = 0) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (port 0: any free one) in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler_for(site))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="wasmforge-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def repl_site(dist: Path) -> Site:
    """The artifact plus the REPL page at / (web/wf-repl.html), its worker and its Python loop."""
    page = web_asset("wf-repl.html")
    return Site(root=dist, extra={
        "/": page,
        "/index.html": page,
        "/wf-worker.js": web_asset("wf-worker.js"),
        "/wf-repl.py": web_asset("wf-repl.py"),
    })


def serve_until_interrupted(site: Site, port: int, announce: Callable[[str], None]) -> None:
    with serving(site, port) as base:
        announce(base)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
