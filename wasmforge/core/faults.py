"""Named points where a test can stop a real process, to hit a crash window deterministically.

`WASMFORGE_FAULT=<point>:kill` makes the process SIGKILL itself when it reaches `<point>` (what a
power cut or `kill -9` does there); `<point>:stop` makes it SIGSTOP itself, so a test can start a
racing process while this one holds its locks, then SIGCONT or SIGKILL it. Unset, a point costs
one dictionary lookup. The points are listed in docs/reliability.md.
"""

import os
import signal

FAULT_ENV = "WASMFORGE_FAULT"


def point(name: str) -> None:
    wanted, _, action = os.environ.get(FAULT_ENV, "").partition(":")
    if wanted != name:
        return
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
