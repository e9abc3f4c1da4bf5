"""invoke tasks for wasmforge. Thin: arguments in, wasmforge.commands does the work.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options.
"""

import sys
from typing import Callable

from invoke import Exit, task

from wasmforge import commands
from wasmforge.errors import WasmforgeError


def _run(action: Callable[[], int]) -> None:
    """The one place errors become a one-line message and an exit code."""
    try:
        code = action()
    except WasmforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    if code:
        raise Exit(code=code)


@task(help={"check": "Do not write: exit 1 naming the generated files that are stale."})
def render(c, check=False):
    """Render docker/<target-id>/Dockerfile for every matrix entry from matrix.json and recipes/."""
    _run(lambda: commands.cmd_render(commands.workspace(), check))


@task(iterable=["target"], help={"target": "Target id, alias or glob (repeatable); default emscripten-browser."})
def fetch(c, target=None):
    """Download every source of the target(s) into the content-addressed cache, verified by sha256."""
    names = target or ["emscripten-browser"]
    _run(lambda: commands.cmd_fetch(*_resolved(names)))


@task(iterable=["target"], help={"target": "Target id, alias or glob (repeatable); default emscripten-browser."})
def toolchain(c, target=None):
    """Build and import the target's toolchain image from its lock if it is missing; print its tag."""
    names = target or ["emscripten-browser"]
    _run(lambda: commands.cmd_toolchain(*_resolved(names)))


@task(name="lock-toolchain", help={"name": "Toolchain spec name under recipes/toolchains/ (e.g. emscripten-3.1.69)."})
def lock_toolchain(c, name="emscripten-3.1.69"):
    """Resolve a toolchain spec against Debian's archive today and rewrite its lock (changes artifact hashes)."""
    _run(lambda: commands.cmd_lock_toolchain(commands.workspace(), name))


@task(
    iterable=["target"],
    help={
        "target": "Target id, alias or glob such as 'cpython3.13-*' (repeatable); default emscripten-browser. "
                  "`invoke matrix` lists them. Several targets build one after another, past failures, "
                  "with a result table at the end.",
        "jobs": "Parallel make jobs inside the build (default: number of CPUs).",
        "no-cache": "Rebuild every Docker layer instead of reusing cached ones.",
        "check-reproducible": "After building, rebuild without cache under varied conditions and fail if any output differs.",
    },
)
def build(c, target=None, jobs=None, no_cache=False, check_reproducible=False):
    """Fetch, make the toolchain image if missing, build in Docker with the network off, write dist/<target-id>/."""
    names = target or ["emscripten-browser"]
    if check_reproducible:
        _run(lambda: commands.cmd_check_reproducible(*_resolved(names), int(jobs) if jobs else None))
    else:
        _run(lambda: commands.cmd_build(*_resolved(names), int(jobs) if jobs else None, no_cache))


@task(
    help={
        "manifest": "Path to a manifest.json (e.g. dist/<target-id>/manifest.json).",
        "source-date-epoch": "Override the manifest's SOURCE_DATE_EPOCH (to see a deliberate difference).",
        "workdir": "Where to rebuild (default build/<target-id>/reproduce-<time>/).",
    }
)
def reproduce(c, manifest, source_date_epoch=None, workdir=None):
    """Rebuild a manifest's target from scratch (no cache, varied conditions); compare every output's sha256.

    Prints a table (file, expected, got, ok/DIFFERS); on a difference writes diffoscope text and HTML
    reports next to the rebuild. Exits 0 only if every output matches.
    """
    from pathlib import Path

    sde = int(source_date_epoch) if source_date_epoch is not None else None
    _run(lambda: commands.cmd_reproduce(commands.workspace(), Path(manifest), sde, Path(workdir) if workdir else None))


def _resolved(names: list[str]):
    ws = commands.workspace()
    return ws, commands.resolve_targets(ws, names)


@task(
    name="matrix",
    help={
        "json": "Machine-readable output.",
        "markdown": "A Markdown table, with this machine's last builds.",
        "update-readme": "Write the matrix table (from matrix.json alone) between the markers in README.md.",
        "check-readme": "Do not write: exit 1 if README.md's matrix table is stale.",
    },
)
def matrix_(c, json=False, markdown=False, update_readme=False, check_readme=False):
    """List every matrix entry: target id, aliases, support level, last build result and artifact size."""
    _run(lambda: commands.cmd_matrix(commands.workspace(), json, markdown, update_readme, check_readme))
