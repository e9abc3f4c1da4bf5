"""`invoke build` with several targets: one BuildKit run for all of them, and a table at the end.

Each target is prepared on its own (toolchain image, sources, context); one that fails there is
recorded and the others go on. The prepared ones build in one `docker buildx bake` run, so that
BuildKit builds a library stage they share once and their own stages side by side. A failing
step ends that run for every target in it (bake cancels the rest): the table says so, and nothing
of that run reaches dist/. The exit status says whether any target failed.
"""

import time
from dataclasses import dataclass

from wasmforge.building.build import BuildSettings, PreparedBuild, finish_build, prepare_build, run_bake
from wasmforge.core import log
from wasmforge.core.errors import WasmforgeError
from wasmforge.core.files import gzip_size
from wasmforge.model.matrix import Target
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class Outcome:
    target: Target
    seconds: float
    error: str | None = None
    size_raw: int | None = None
    size_gzip: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def build_each(ws: Workspace, targets: list[Target], settings: BuildSettings) -> list[Outcome]:
    """Prepare every target, build the prepared ones in one bake run, collect each; a wasmforge
    error fails the target it belongs to (the bake run's, all of that run)."""
    failed: dict[str, Outcome] = {}
    prepared: list[PreparedBuild] = []
    started: dict[str, float] = {}
    for index, target in enumerate(targets, start=1):
        log.info(f"==> [{index}/{len(targets)}] prepare {target.id}")
        started[target.id] = time.monotonic()
        try:
            prepared.append(prepare_build(ws, plan_for(ws, target), settings))
        except WasmforgeError as exc:
            log.warning(f"{target.id} failed: {exc}")
            failed[target.id] = Outcome(target=target, seconds=time.monotonic() - started[target.id], error=str(exc))
    if prepared:
        log.info(f"==> one BuildKit run for {len(prepared)} target(s)")
        start = time.monotonic()
        try:
            run_bake(ws, prepared, settings, ws.paths.build / "bake.log")
        except WasmforgeError as exc:
            log.warning(str(exc))
            for build in prepared:
                target = build.plan.target
                failed[target.id] = Outcome(target=target, seconds=time.monotonic() - started[target.id], error=str(exc))
            prepared = []
        else:
            for build in prepared:
                build.timer.durations["docker build (shared)"] = time.monotonic() - start
    built = {build.plan.target.id: _finished(build, started[build.plan.target.id]) for build in prepared}
    return [failed.get(target.id) or built[target.id] for target in targets]


def _finished(build: PreparedBuild, started: float) -> Outcome:
    target = build.plan.target
    try:
        result = finish_build(build)
    except WasmforgeError as exc:
        log.warning(f"{target.id} failed: {exc}")
        return Outcome(target=target, seconds=time.monotonic() - started, error=str(exc))
    raw = sum(o.size for o in result.manifest.outputs)
    gz = sum(gzip_size(result.dist / o.name) for o in result.manifest.outputs)
    return Outcome(target=target, seconds=time.monotonic() - started, size_raw=raw, size_gzip=gz)


def format_outcomes(outcomes: list[Outcome]) -> str:
    """A table of target, result, time and size; failures are followed by their error."""
    header = ("target", "result", "time", "size raw / gzip (bytes)")
    rows = [
        (
            o.target.id,
            "ok" if o.ok else "FAILED",
            log.format_seconds(o.seconds),
            f"{o.size_raw:,} / {o.size_gzip:,}" if o.size_raw is not None and o.size_gzip is not None else "-",
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    failed = [o for o in outcomes if not o.ok]
    lines.append(f"{len(outcomes) - len(failed)} of {len(outcomes)} built")
    lines += [f"{o.target.id}: {o.error}" for o in failed]
    return "\n".join(lines)
