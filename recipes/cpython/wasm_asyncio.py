"""asyncio's default event loop where there are no sockets (installed as _wasmforge_asyncio).

Emscripten and WASI builds have no working `socket.socketpair()`, and asyncio's selector event
loop makes one at creation (its "self-pipe", which wakes a blocked select() from another thread
or a signal handler): `asyncio.run()` failed before the first coroutine ran, and under Node the
attempt killed the process (emscripten's socket layer needs the `ws` npm module).

Nothing else in the loop needs a socket: coroutines, tasks, timeouts, queues and `call_later`
only need the loop to wait until the next timer is due. So the loop here has no self-pipe, and
its selector watches nothing and only waits:
- without threads (WASI, emscripten without pthreads) it sleeps until the next timer; when
  nothing is scheduled and nothing could ever be, it raises instead of hanging for ever;
- with pthreads, `call_soon_threadsafe` (run_in_executor, to_thread) sets an event the wait
  ends on, which is what the self-pipe did.

`asyncio/__init__.py` makes this the default loop on these platforms (recipes/cpython/
asyncio-socketless-loop.patch). A browser page's main thread, which must never wait, uses
_wasmforge_webloop instead (browser flavor only).
"""

import selectors
import sys
import threading
import time
import types
from asyncio import unix_events

NO_FILE_DESCRIPTORS = (
    f"asyncio on {sys.platform}: this event loop cannot watch file descriptors "
    "(there is no select() for sockets or pipes here); coroutines, tasks and timers work"
)
NOTHING_CAN_WAKE = (
    f"asyncio on {sys.platform}: nothing is scheduled and nothing can wake the event loop "
    "(no sockets, no threads): a task awaits something that can never happen"
)


def has_threads() -> bool:
    """Whether this build starts real threads (emscripten with pthreads); WASI builds do not."""
    info = getattr(sys, "_emscripten_info", None)
    return bool(info is not None and info.pthreads)


class WaitingSelector(selectors.BaseSelector):
    """A selector with nothing to select: select(timeout) waits for the timeout and returns
    no events, or returns early when another thread calls wake()."""

    def __init__(self) -> None:
        self._woken = threading.Event() if has_threads() else None

    def register(self, fileobj, events, data=None):
        raise NotImplementedError(NO_FILE_DESCRIPTORS)

    def unregister(self, fileobj):
        raise KeyError(f"{fileobj!r} is not registered")

    def get_map(self):
        return types.MappingProxyType({})

    def select(self, timeout=None):
        if self._woken is not None:
            self._woken.wait(timeout)
            self._woken.clear()
        elif timeout is None:
            raise RuntimeError(NOTHING_CAN_WAKE)
        elif timeout > 0:
            time.sleep(timeout)
        return []

    def wake(self) -> None:
        if self._woken is not None:
            self._woken.set()

    def close(self) -> None:
        pass


class SocketlessEventLoop(unix_events.SelectorEventLoop):
    """The platform's selector event loop without the self-pipe and without signal handlers
    (which write to the self-pipe)."""

    def __init__(self, selector=None):
        super().__init__(selector if selector is not None else WaitingSelector())

    def _make_self_pipe(self):
        self._ssock = self._csock = None

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        selector = self._selector
        if selector is not None:
            selector.wake()

    def add_signal_handler(self, sig, callback, *args):
        raise NotImplementedError(f"asyncio on {sys.platform}: loop.add_signal_handler() needs a self-pipe, which needs sockets")

    def remove_signal_handler(self, sig):
        return False


class SocketlessEventLoopPolicy(unix_events.DefaultEventLoopPolicy):
    _loop_factory = SocketlessEventLoop
