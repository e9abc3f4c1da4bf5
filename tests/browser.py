"""Serving a dist directory on loopback and driving Debian's Chromium with Playwright."""

import http.server
import json
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def run_page(code: str) -> str:
    """A page that runs `code` on the main thread with the classic loader, as README's embedding
    example does (fetching the stdlib packs the code imports first), and appends every line
    printed to #out."""
    return f"""<!doctype html>
<meta charset="utf-8"><title>wasmforge smoke test</title>
<link rel="icon" href="data:,">
<pre id="out"></pre>
<script>
  // The loader is a classic script: its globals (e.g. `out`, `callMain`) share this page's scope.
  var wasmforgeOutput = document.getElementById("out");
  var wasmforgeCode = {json.dumps(code)};
  var Module = {{
    noInitialRun: true,
    print: (text) => {{ wasmforgeOutput.textContent += text + "\\n"; }},
    printErr: (text) => {{ wasmforgeOutput.textContent += "[stderr] " + text + "\\n"; }},
    onRuntimeInitialized: async () => {{
      if (Module.loadPackagesFromImports) window.wasmforgeLoaded = await Module.loadPackagesFromImports(wasmforgeCode);
      callMain(["-c", wasmforgeCode]);
    }},
  }};
</script>
<script src="python.js"></script>
"""


@contextmanager
def serve(directory: Path, pages: dict[str, str]) -> Iterator[str]:
    """Serve `directory` plus in-memory `pages` on 127.0.0.1; yield the base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self):
            page = pages.get(self.path.split("?")[0])
            if page is None:
                return super().do_GET()
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_in_chromium(dist: Path, code: str, done_marker: str, timeout_ms: int = 120_000) -> str:
    """Load `dist` in headless Chromium, run `code`, return everything printed once `done_marker` shows."""
    return run_in_chromium_page(dist, run_page(code), done_marker, timeout_ms)


def run_in_chromium_page(dist: Path, page_html: str, done_marker: str, timeout_ms: int = 120_000) -> str:
    """Load a page of one's own (it prints into #out) next to `dist` in headless Chromium; return
    everything printed once `done_marker` shows."""
    from playwright.sync_api import sync_playwright

    with serve(dist, {"/smoke.html": page_html}) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/smoke.html")
            try:
                page.wait_for_function(
                    "marker => document.getElementById('out').textContent.includes(marker)",
                    arg=done_marker, timeout=timeout_ms,
                )
            finally:
                text = page.inner_text("#out")
            if errors:
                text += "\n[pageerror] " + "\n[pageerror] ".join(errors)
            return text
        finally:
            browser.close()
