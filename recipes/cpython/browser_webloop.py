"""asyncio on a web page's main thread (installed as _wasmforge_webloop; browser flavor only).

A page's main thread must never wait: a Python `time.sleep` there freezes the page, so the
blocking loop of _wasmforge_asyncio is no use on it. This loop never waits. Each turn runs what
is ready and ends by asking the page for the next turn when the earliest timer is due; the page
(browser-webloop.pre.js) calls `turn()` from a setTimeout callback, so between turns the browser
paints, handles input and runs JavaScript timers.

The page starts code with `await Module.runPythonAsync(code)`: `start()` compiles it with
top-level `await` allowed, runs it as a task on this loop and reports the value of its last
expression (or its traceback) when the task ends. Python talks to the page by writing one JSON
message per write to the device HOST_DEVICE:
    {"turn": milliseconds}                            call turn() after this delay
    {"settle": run, "value": ...} / {"settle": run, "error": text}   the run ended

`asyncio.run()` cannot work here (it must return the result, so it must wait): it raises, saying
to `await` instead or to run the program in a Web Worker, where asyncio.run() works.
"""

import ast
import asyncio
import json
import os
import sys
import traceback
from asyncio import events

import _wasmforge_asyncio

HOST_DEVICE = "/dev/wasmforge-host"
CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE (inspect itself is a large import)
FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
WOULD_BLOCK = (
    "asyncio.run() and loop.run_until_complete() would block the page's main thread: "
    "use `await main()` in code given to Module.runPythonAsync, or run the program in a Web Worker"
)


def post(message: dict) -> None:
    data = json.dumps(message).encode()
    descriptor = os.open(HOST_DEVICE, os.O_WRONLY)
    try:
        while data:
            data = data[os.write(descriptor, data):]
    finally:
        os.close(descriptor)


class NoWaitSelector(_wasmforge_asyncio.WaitingSelector):
    def select(self, timeout=None):
        return []


class WebLoop(asyncio.BaseEventLoop):
    """An event loop whose iterations are driven from outside, one `turn()` at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._selector = NoWaitSelector()
        self._turn_requested_at: float | None = None

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        self._request_turn()

    def call_soon(self, callback, *args, context=None):
        handle = super().call_soon(callback, *args, context=context)
        self._request_turn()
        return handle

    def call_at(self, when, callback, *args, context=None):
        handle = super().call_at(when, callback, *args, context=context)
        self._request_turn()
        return handle

    def run_forever(self):
        raise RuntimeError(WOULD_BLOCK)

    def run_until_complete(self, future):
        raise RuntimeError(WOULD_BLOCK)

    def turn(self) -> None:
        """One iteration: ready callbacks and due timers run, then the next turn is requested."""
        self._turn_requested_at = None
        events._set_running_loop(self)
        try:
            self._run_once()
        finally:
            events._set_running_loop(None)
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            # Also when a callback let KeyboardInterrupt out of _run_once (asyncio re-raises it):
            # the page prints its traceback, and the tasks still waiting must get their next turn.
            self._request_turn()

    def _request_turn(self) -> None:
        if self.is_closed():
            return
        if self._ready:
            when = self.time()
        elif self._scheduled:
            when = self._scheduled[0]._when
        else:
            return
        if self._turn_requested_at is not None and self._turn_requested_at <= when:
            return
        self._turn_requested_at = when
        post({"turn": max(0.0, (when - self.time()) * 1000.0)})


class WebLoopPolicy(_wasmforge_asyncio.SocketlessEventLoopPolicy):
    """get_event_loop() is the page's one WebLoop; no other loop can run on this thread."""

    def __init__(self, loop: WebLoop) -> None:
        super().__init__()
        self._web_loop = loop

    def get_event_loop(self):
        return self._web_loop

    def new_event_loop(self):
        raise RuntimeError(WOULD_BLOCK)


_loop: WebLoop | None = None


def install() -> None:
    """Make a WebLoop this thread's event loop (runPythonAsync does, once)."""
    global _loop
    if _loop is None:
        _loop = WebLoop()
        asyncio.set_event_loop_policy(WebLoopPolicy(_loop))


def turn() -> None:
    if _loop is not None:
        _loop.turn()


def start(run: int, source: str) -> None:
    """Run `source` as a task on the loop; the page learns its result from a "settle" message."""
    install()
    _loop.create_task(_run(run, source))


async def _run(run: int, source: str) -> None:
    try:
        value = await evaluate(source, sys.modules["__main__"].__dict__)
    except BaseException:  # SystemExit and KeyboardInterrupt too: they end this run, not the page
        post({"settle": run, "error": traceback.format_exc()})
    else:
        post({"settle": run, "value": _for_javascript(value)})


async def evaluate(source: str, namespace: dict) -> object:
    """Run `source` in `namespace` as a module body with top-level `await`; the value of its
    last statement when that is an expression (as at the interactive prompt), else None."""
    tree = ast.parse(source, "<exec>")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    await _awaited(compile(tree, "<exec>", "exec", flags=FLAGS), namespace)
    if last is None:
        return None
    return await _awaited(compile(ast.Expression(last.value), "<exec>", "eval", flags=FLAGS), namespace)


async def _awaited(code, namespace: dict) -> object:
    result = eval(code, namespace)
    if code.co_flags & CO_COROUTINE:
        result = await result
    return result


def _for_javascript(value: object) -> object:
    """JSON values cross as themselves; anything else as its repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value
