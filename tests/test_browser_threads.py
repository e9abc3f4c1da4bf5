"""Real threads in a web page: the browser pthreads build (experimental) runs python.js in a Web
Worker of a cross-origin isolated page, and every Python thread is a worker of its own."""

import json

import pytest

from wasmforge.model.workspace import Workspace
from wasmforge.verifying.runtimes import PythonJob, runtime_for

from .conftest import BROWSER_PTHREADS_TARGET, ROOT, built_dist, experimental

pytestmark = pytest.mark.docker

THREADS = r"""
import asyncio, concurrent.futures, json, sys, threading

# A barrier of four passes only if four threads are alive and waiting at the same time.
barrier = threading.Barrier(4, timeout=60)
counts = []

def work(n):
    barrier.wait()
    counts.append(threading.active_count())
    return threading.get_ident(), sum(i * i for i in range(n))

with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(work, [1000, 2000, 3000, 4000]))

# A stdlib pack imported on a thread: the file read is proxied to the loader's worker, which fetches it.
imported = []
loader = threading.Thread(target=lambda: imported.append(__import__("sqlite3").sqlite_version))
loader.start()
loader.join()

async def main():
    return await asyncio.gather(*(asyncio.to_thread(sum, range(n)) for n in (10, 100)))

print("threads-result", json.dumps({
    "sums": [total for _, total in results],
    "idents": len({ident for ident, _ in results} | {threading.get_ident()}),
    "active_at_barrier": max(counts),
    "sqlite": bool(imported and imported[0]),
    "to_thread": asyncio.run(main()),
    "alive_after": threading.active_count(),
}))
sys.exit(3)
"""


@pytest.fixture(scope="module", params=[experimental(BROWSER_PTHREADS_TARGET)])
def target_id(request) -> str:
    built_dist(request.param)
    return request.param


def run(target_id: str, code: str):
    target = Workspace.load(root=ROOT).matrix.resolve(target_id)
    return runtime_for(target).run_python(built_dist(target_id), PythonJob(args=("-c", code), timeout_seconds=300))


def test_a_thread_pool_runs_on_four_real_threads_at_once_and_the_exit_status_reaches_the_page(target_id):
    result = run(target_id, THREADS)
    assert result.crash is None, result.crash
    line = next(line for line in result.output.splitlines() if line.startswith("threads-result "))
    assert json.loads(line.removeprefix("threads-result ")) == {
        "sums": [332833500, 2664667000, 8995500500, 21325334000],
        "idents": 5,
        "active_at_barrier": 5,
        "sqlite": True,
        "to_thread": [45, 4950],
        "alive_after": 1,
    }
    assert result.exit_code == 3, "main's thread ends after callMain returned: its status comes through onExit"


def test_an_uncaught_exception_in_main_exits_with_status_1_and_its_traceback(target_id):
    result = run(target_id, "import threading\nt = threading.Thread(target=print, args=('from a thread',))\nt.start(); t.join()\n1/0")
    assert result.crash is None, result.crash
    assert "from a thread" in result.output and "ZeroDivisionError: division by zero" in result.output
    assert result.exit_code == 1

