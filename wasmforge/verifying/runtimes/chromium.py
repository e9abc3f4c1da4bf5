"""The browser flavor's runtime: Debian's Chromium, headless, driven by Playwright.

The artifact is served on 127.0.0.1 with wasmforge's run page; the interpreter runs in a worker
(web/wf-worker.js) so that a run of minutes never blocks the page, and its output streams back
line by line.
"""

import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from wasmforge.core.errors import RuntimeUnavailableError
from wasmforge.verifying.webserver import Site, serving, web_asset
from . import OutputSink, PythonJob, PythonRun

# Debian's package, never a browser that Playwright downloads: the machine reaches no such host.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)
BUNDLE = "/wf-bundle"


def chromium_executable() -> str:
    return shutil.which("chromium") or CHROMIUM


def check_chromium() -> None:
    if not Path(chromium_executable()).exists():
        raise RuntimeUnavailableError("Debian's chromium is not installed: run `bash scripts/install-host-deps.sh` (or `apt-get install chromium`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise RuntimeUnavailableError("Playwright for Python is missing: `pip install -e '.[test]'`") from None


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium (Playwright Browser), closed on exit whatever happens."""
    check_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def pack_bundle(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """The worker's bundle format: a JSON list of [path, size] and the contents concatenated."""
    paths = sorted(files)
    index = json.dumps([[path, len(files[path])] for path in paths]).encode()
    return index, b"".join(files[path] for path in paths)


def run_site(dist: Path, job: PythonJob) -> Site:
    extra = {"/wf-run.html": web_asset("wf-run.html"), "/wf-worker.js": web_asset("wf-worker.js")}
    if job.files:
        index, blob = pack_bundle(job.files)
        extra[f"{BUNDLE}.json"] = index
        extra[f"{BUNDLE}.bin"] = blob
    return Site(root=dist, extra=extra)


class ChromiumRuntime:
    name = "chromium"
    loads_in_a_page = True

    def check(self) -> None:
        check_chromium()

    def run_python(self, dist: Path, job: PythonJob, on_output: OutputSink | None = None) -> PythonRun:
        from playwright.sync_api import Error as PlaywrightError

        last_output = [time.monotonic()]
        page_errors: list[str] = []

        def sink(stream: str, text: str) -> None:
            last_output[0] = time.monotonic()
            if on_output is not None:
                on_output(stream, text)

        start = time.monotonic()
        with serving(run_site(dist, job)) as base, chromium_browser() as browser:
            page = browser.new_page()
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.expose_function("wfLine", sink)
            page.goto(f"{base}/wf-run.html")
            page.evaluate("job => wfStart(job)", {
                "args": list(job.args),
                "bundle": BUNDLE if job.files else None,
                "collect": list(job.collect),
            })
            try:
                stalled = _wait_for_exit(page, job, start, last_output)
            except PlaywrightError as exc:
                stalled = f"the page died: {exc}"
            # The page's own log is complete; the live sink may still be catching up.
            try:
                result = page.evaluate("() => ({...window.wfResult, output: window.wfOutput.map(pair => pair[1]).join('')})")
            except PlaywrightError:
                result = {"kind": "crash", "message": stalled or "the page died", "output": ""}
        seconds = time.monotonic() - start
        if stalled is not None:
            return PythonRun(exit_code=None, output=result.get("output", ""), collected={}, seconds=seconds, crash=stalled)
        if result["kind"] == "exit":
            return PythonRun(exit_code=int(result["code"]), output=result["output"], collected=result["collected"], seconds=seconds)
        crash = "\n".join([result["message"], *page_errors])
        return PythonRun(exit_code=None, output=result["output"], collected={}, seconds=seconds, crash=crash)


def _wait_for_exit(page: Any, job: PythonJob, start: float, last_output: list[float]) -> str | None:
    """Wait until the run ends; say why if it must be given up (too long in all, or silent)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    while True:
        try:
            page.wait_for_function("() => window.wfResult !== null", timeout=5_000, polling=250)
            return None
        except PlaywrightTimeout:
            now = time.monotonic()
            if now - start > job.timeout_seconds:
                return f"no exit after {job.timeout_seconds:.0f}s (timed out)"
            if job.idle_timeout_seconds is not None and now - last_output[0] > job.idle_timeout_seconds:
                return f"no output for {job.idle_timeout_seconds:.0f}s (hung)"
