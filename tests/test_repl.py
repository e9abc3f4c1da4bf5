"""The browser REPL: `invoke serve` serves the artifact cross-origin isolated with a page where a
person types Python and reads its output; headless Chromium plays that person."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from wasmforge.verifying.runtimes.chromium import chromium_browser, chromium_executable
from wasmforge.verifying.webserver import repl_site, serving

from .conftest import ROOT, built_dist

pytestmark = [
    pytest.mark.docker,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(chromium_executable()).exists(), reason="Debian's chromium is not installed"),
]

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def repl():
    """A REPL page, loaded and ready for input."""
    with serving(repl_site(built_dist())) as base, chromium_browser() as browser:
        page = browser.new_page()
        page.goto(f"{base}/")
        page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
        yield page


def submit(page, source: str) -> str:
    """Type `source`, press Enter, wait until Python asks for more; return what it printed."""
    before = page.locator("#output > span").count()
    page.fill("#input", source)
    # Enter echoes the input and hands it to Python at once (state "running"); the page is
    # "ready" again only when Python asks for the next input, after all output has arrived.
    page.press("#input", "Enter")
    page.wait_for_selector("body[data-state=ready], body[data-state=exited]", timeout=TIMEOUT_MS)
    spans = page.locator("#output > span")
    return "".join(spans.nth(i).inner_text() for i in range(before, spans.count()))


def test_the_page_is_cross_origin_isolated_and_greets_with_the_python_version(repl):
    assert repl.evaluate("self.crossOriginIsolated") is True
    assert "Python 3.13.5" in repl.inner_text("#output")
    assert "on emscripten" in repl.inner_text("#output")


def test_an_expression_echoes_its_value_and_print_writes_to_the_output(repl):
    assert ">>> 6 * 7\n42\n" in submit(repl, "6 * 7")
    assert "hello wasm\n" in submit(repl, "print('hello', 'wasm')")


def test_state_carries_over_between_inputs_and_a_block_spans_lines(repl):
    submit(repl, "def square(n):\n    return n * n\n\ntotal = sum(square(n) for n in range(10))")
    output = submit(repl, "total, square(12)")
    assert "(285, 144)" in output


def test_an_error_shows_a_traceback_with_the_offending_line(repl):
    before = repl.locator("#output .stderr").count()
    output = submit(repl, "def divide(a, b):\n    return a / b\n\ndivide(1, 0)")
    errors = repl.locator("#output .stderr")
    assert errors.count() > before, output
    error_text = "".join(errors.nth(i).inner_text() for i in range(before, errors.count()))
    assert "Traceback (most recent call last):" in error_text
    assert "return a / b" in error_text
    assert error_text.rstrip().endswith("ZeroDivisionError: division by zero")
    # The interpreter survives the error.
    assert "3\n" in submit(repl, "1 + 2")


def test_a_syntax_error_is_reported_without_running_anything(repl):
    # The whole input is parsed first: the print before the error never runs.
    output = submit(repl, "print('side effect')\nx = (1,")
    assert "SyntaxError: '(' was never closed" in output
    assert "side effect\n" not in output.replace("print('side effect')", "")


def test_the_extension_modules_work_from_the_repl(repl):
    output = submit(repl, "import zlib, sqlite3, decimal\nzlib.crc32(b'wasmforge'), sqlite3.sqlite_version, str(decimal.Decimal(1) / 8)")
    assert "(843480468, '3.46.1', '0.125')" in output


def test_interrupt_stops_a_runaway_loop_with_keyboard_interrupt(repl):
    repl.fill("#input", "n = 0\nwhile True:\n    n += 1")
    repl.press("#input", "Enter")
    repl.wait_for_selector("body[data-state=running]", timeout=TIMEOUT_MS)
    repl.wait_for_timeout(500)
    repl.click("#interrupt")
    repl.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    assert "KeyboardInterrupt" in repl.inner_text("#output")
    assert submit(repl, "n > 0").strip().endswith("True")


def test_exit_ends_the_interpreter_and_restart_brings_a_fresh_one(repl):
    submit(repl, "exit()")
    assert repl.get_attribute("body", "data-state") == "exited"
    repl.click("#restart")
    repl.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    assert "NameError" in submit(repl, "total")


def test_invoke_serve_serves_the_repl_with_cross_origin_isolation_headers():
    built_dist()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        announced = ""
        while f"http://127.0.0.1:{port}/" not in announced:  # a progress line may come first
            line = server.stdout.readline()
            assert line, f"serve ended before announcing its URL: {announced}"
            announced += line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            page = response.read().decode()
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert 'id="input"' in page and "wf-worker.js" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/python.wasm") as response:
            assert response.headers["Content-Type"] == "application/wasm"
            assert response.read(4) == b"\0asm"
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            # Generous: once (CI of 2026-12-02, two Docker builds on the 2 cores) it took over 30 s.
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            pytest.fail(f"invoke serve did not end within 120 s of Ctrl-C; its stderr: {server.communicate()[1][-2000:]}")
