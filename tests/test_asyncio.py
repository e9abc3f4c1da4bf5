"""asyncio works in every flavor, with no sockets.

Emscripten and WASI have no socketpair(), which asyncio's default loop needs for its self-pipe:
`asyncio.run()` used to fail (browser, WASI) or kill the process (Node). Each artifact now ships a
socketless default loop (recipes/cpython/wasm_asyncio.py), so one program — tasks, a queue,
`gather`, a timeout, `call_later`, sleeps — prints the same line under Node, in wasmtime and in a
Chromium Web Worker (`asyncio.run`). On a page's main thread, which must not block, the same
coroutine runs through `await Module.runPythonAsync(code)` on a loop the page's own event loop
drives (browser_webloop.py): the page's JavaScript timers keep firing while Python sleeps.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    BROWSER_EMSCRIPTEN6_TARGET, BROWSER_TARGET, NEEDS_NODE, NEEDS_WASI, NODE_EMSCRIPTEN6_TARGET, NODE_TARGET, ROOT,
    WASI_TARGET, built_dist, experimental,
)

pytestmark = pytest.mark.docker

PROGRAM = """
import asyncio

async def worker(name, queue, results):
    while True:
        item = await queue.get()
        await asyncio.sleep(0.01 * item)
        results.append((name, item * item))
        queue.task_done()

async def main():
    queue = asyncio.Queue()
    for item in range(1, 7):
        queue.put_nowait(item)
    results = []
    workers = [asyncio.create_task(worker(f"w{i}", queue, results)) for i in range(3)]
    await queue.join()
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(10)
        timed_out = False
    except TimeoutError:
        timed_out = True
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    loop.call_later(0.02, fired.set_result, "call_later fired")
    squares = sorted(value for _, value in results)
    values = await asyncio.gather(asyncio.sleep(0.01, result="a"), asyncio.sleep(0.02, result="b"))
    print("asyncio-result", squares, timed_out, await fired, values)
    print("asyncio-loop", type(loop).__name__)
"""
RESULT = "asyncio-result [1, 4, 9, 16, 25, 36] True call_later fired ['a', 'b']"


def run_where_python_may_block(target_id: str, code: str) -> tuple[int | None, str]:
    from wasmforge.model.workspace import Workspace
    from wasmforge.verifying.runtimes import PythonJob, runtime_for

    target = Workspace.load(root=ROOT).matrix.resolve(target_id)
    run = runtime_for(target).run_python(built_dist(target_id), PythonJob(args=("-c", code), timeout_seconds=300))
    return run.exit_code, run.output + (run.crash or "")


@pytest.mark.parametrize("target_id", [
    pytest.param(NODE_TARGET, marks=NEEDS_NODE, id="node"),
    pytest.param(WASI_TARGET, marks=NEEDS_WASI, id="wasi"),
    pytest.param(BROWSER_TARGET, marks=pytest.mark.browser, id="browser-worker"),
    experimental(NODE_EMSCRIPTEN6_TARGET),
    experimental(BROWSER_EMSCRIPTEN6_TARGET),
])
def test_asyncio_run_runs_the_program_on_the_socketless_loop(target_id):
    exit_code, output = run_where_python_may_block(target_id, PROGRAM + "asyncio.run(main())\n")
    assert exit_code == 0, output
    assert RESULT in output and "asyncio-loop SocketlessEventLoop" in output, output


@pytest.mark.parametrize("target_id", [
    pytest.param(NODE_TARGET, marks=NEEDS_NODE, id="node"),
    pytest.param(WASI_TARGET, marks=NEEDS_WASI, id="wasi"),
])
def test_a_task_waiting_for_what_can_never_happen_is_an_error_not_a_hang(target_id):
    code = "import asyncio\nasync def main():\n    await asyncio.get_running_loop().create_future()\nasyncio.run(main())\n"
    exit_code, output = run_where_python_may_block(target_id, code)
    assert exit_code == 1, output
    assert "nothing is scheduled and nothing can wake the event loop" in output, output


@pytest.mark.parametrize("target_id", [
    pytest.param(NODE_TARGET, marks=NEEDS_NODE, id="node"),
    pytest.param(WASI_TARGET, marks=NEEDS_WASI, id="wasi"),
])
def test_watching_a_file_descriptor_or_a_signal_is_refused_saying_why(target_id):
    code = (
        "import asyncio, signal\n"
        "loop = asyncio.new_event_loop()\n"
        "for call in (lambda: loop.add_reader(0, print), lambda: loop.add_signal_handler(signal.SIGINT, print)):\n"
        "    try:\n"
        "        call()\n"
        "    except NotImplementedError as exc:\n"
        "        print('refused:', exc)\n"
        "loop.close()\n"
    )
    exit_code, output = run_where_python_may_block(target_id, code)
    assert exit_code == 0, output
    assert "refused: asyncio on" in output and "cannot watch file descriptors" in output, output
    assert "add_signal_handler() needs a self-pipe" in output, output


PAGE = """<!doctype html>
<meta charset="utf-8"><title>wasmforge asyncio</title>
<link rel="icon" href="data:,">
<pre id="out"></pre>
<script>
  var Module = {
    noInitialRun: true,
    print: (text) => { document.getElementById("out").textContent += text + "\\n"; },
    printErr: (text) => { document.getElementById("out").textContent += "[stderr] " + text + "\\n"; },
    onRuntimeInitialized: () => { window.wfReady = true; },
  };
  // Runs code through runPythonAsync and counts the page's 10 ms timer meanwhile.
  window.wfRun = async (code) => {
    let ticks = 0;
    const timer = setInterval(() => { ticks += 1; }, 10);
    try {
      return { value: await Module.runPythonAsync(code), ticks };
    } catch (error) {
      return { error: error.message, ticks };
    } finally {
      clearInterval(timer);
    }
  };
</script>
<script src="python.js"></script>
"""


@contextmanager
def main_thread_page(dist: Path) -> Iterator[Any]:
    from wasmforge.verifying.runtimes.chromium import chromium_browser

    from .browser import serve

    with serve(dist, {"/asyncio.html": PAGE}) as base, chromium_browser() as browser:
        page = browser.new_page()
        page.goto(f"{base}/asyncio.html")
        page.wait_for_function("() => window.wfReady === true", timeout=120_000)
        yield page


@pytest.mark.browser
@pytest.mark.parametrize("target_id", [BROWSER_TARGET, experimental(BROWSER_EMSCRIPTEN6_TARGET)])
def test_on_the_main_thread_the_program_runs_on_the_pages_event_loop(target_id):
    with main_thread_page(built_dist(target_id)) as page:
        outcome = page.evaluate("code => wfRun(code)", PROGRAM + "await main()\n")
        assert "error" not in outcome, outcome
        output = page.inner_text("#out")
        assert RESULT in output and "asyncio-loop WebLoop" in output, output


@pytest.mark.browser
@pytest.mark.parametrize("target_id", [BROWSER_TARGET, experimental(BROWSER_EMSCRIPTEN6_TARGET)])
def test_the_page_stays_responsive_while_python_sleeps(target_id):
    with main_thread_page(built_dist(target_id)) as page:
        page.evaluate("code => wfRun(code)", "import asyncio, time")  # fetches the packs first
        awaited = page.evaluate("code => wfRun(code)", "await asyncio.sleep(0.5)\n'slept'")
        blocked = page.evaluate("code => wfRun(code)", "time.sleep(0.5)\n'slept'")
        assert awaited["value"] == blocked["value"] == "slept", (awaited, blocked)
        # A 10 ms interval over half a second: dozens of ticks while asyncio sleeps (about 50 seen),
        # none while time.sleep holds the thread.
        assert awaited["ticks"] >= 10 and blocked["ticks"] <= 2, (awaited, blocked)


@pytest.mark.browser
@pytest.mark.parametrize("target_id", [BROWSER_TARGET, experimental(BROWSER_EMSCRIPTEN6_TARGET)])
def test_run_python_async_gives_values_and_tracebacks_and_keeps_its_namespace(target_id):
    with main_thread_page(built_dist(target_id)) as page:
        assert page.evaluate("code => wfRun(code)", "x = 6\nx * 7")["value"] == 42
        assert page.evaluate("code => wfRun(code)", "{'x': x, 'list': [1, None]}")["value"] == {"x": 6, "list": [1, None]}
        assert page.evaluate("code => wfRun(code)", "object")["value"] == "<class 'object'>"
        failed = page.evaluate("code => wfRun(code)", "1 / 0")
        assert "Traceback" in failed["error"] and "ZeroDivisionError" in failed["error"], failed
        # asyncio.run cannot wait on the main thread; it says so, and the loop goes on working.
        refused = page.evaluate("code => wfRun(code)", "import asyncio\nasyncio.run(asyncio.sleep(0))")
        assert "RuntimeError" in refused["error"], refused
        assert page.evaluate("code => wfRun(code)", "await asyncio.sleep(0.01, result='still here')")["value"] == "still here"


@pytest.mark.browser
@pytest.mark.parametrize("target_id", [BROWSER_TARGET, experimental(BROWSER_EMSCRIPTEN6_TARGET)])
def test_a_keyboard_interrupt_from_a_callback_does_not_stop_the_pages_loop(target_id):
    # asyncio lets KeyboardInterrupt out of a callback; the turn that ran it ends with a
    # traceback on stderr, and the code still waiting on the loop must finish all the same.
    code = (
        "import asyncio\n"
        "def interrupt():\n"
        "    raise KeyboardInterrupt('from a callback')\n"
        "asyncio.get_running_loop().call_soon(interrupt)\n"
        "await asyncio.sleep(0.05, result='survived')\n"
    )
    with main_thread_page(built_dist(target_id)) as page:
        # Before the fix the sleep never ended: the race turns that into an answer.
        outcome = page.evaluate(
            "code => Promise.race([wfRun(code), new Promise(done => setTimeout(() => done({error: 'no answer in 20 s'}), 20000))])",
            code)
        assert outcome.get("value") == "survived", outcome
        printed = page.inner_text("#out")  # in colour: 3.13 colours tracebacks on a terminal
        assert "KeyboardInterrupt" in printed and "from a callback" in printed, printed
