"""`invoke build` with several targets: one after another, past failures, with a table at the end.

Targets build in turn (not in parallel: each Docker build already uses every core) and share the
source cache and Docker's layer cache. A target that fails is recorded and the next one starts;
the exit status says whether any failed.
"""

import time
from dataclasses import dataclass
from typing import Callable

from wasmforge.building.build import BuildResult, BuildSettings, build_target
from wasmforge.core import log
from wasmforge.core.errors import WasmforgeError
from wasmforge.core.files import gzip_size
from wasmforge.model.matrix import Target
from wasmforge.model.plan import BuildPlan, plan_for
from wasmforge.model.workspace import Workspace

Builder = Callable[[Workspace, BuildPlan, BuildSettings], BuildResult]


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


def build_each(ws: Workspace, targets: list[Target], settings: BuildSettings, builder: Builder = build_target) -> list[Outcome]:
    """Build every target in order; a wasmforge error fails that target only."""
    outcomes = []
    for index, target in enumerate(targets, start=1):
        log.info(f"==> [{index}/{len(targets)}] {target.id}")
        start = time.monotonic()
        try:
            result = builder(ws, plan_for(ws, target), settings)
        except WasmforgeError as exc:
            log.warning(f"{target.id} failed: {exc}")
            outcomes.append(Outcome(target=target, seconds=time.monotonic() - start, error=str(exc)))
            continue
        raw = sum(o.size for o in result.manifest.outputs)
        gz = sum(gzip_size(result.dist / o.name) for o in result.manifest.outputs)
        outcomes.append(Outcome(target=target, seconds=time.monotonic() - start, size_raw=raw, size_gzip=gz))
    return outcomes


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
