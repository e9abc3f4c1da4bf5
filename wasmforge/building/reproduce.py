"""Rebuild a manifest's target from scratch and compare every output byte for byte."""

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from wasmforge.core import log
from wasmforge.building.build import BuildResult, BuildSettings, build_target
from wasmforge.core.errors import ReproducibilityError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import Manifest, read_manifest
from wasmforge.model.matrix import Target
from wasmforge.model.matrix_report import SIZES_FILE, RecordedSize
from wasmforge.model.plan import BuildPlan, plan_for
from wasmforge.model.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class Comparison:
    name: str
    expected: str | None
    got: str | None

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.expected == self.got


@dataclass(frozen=True, kw_only=True)
class ReproduceResult:
    comparisons: tuple[Comparison, ...]
    rebuild_dir: Path
    reports: tuple[Path, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)


@dataclass(frozen=True, kw_only=True)
class Variation:
    """Conditions changed on purpose for a rebuild; each one is a way non-determinism could leak in.

    One rebuild carries them all. -j goes up, not down, from the build's default of one job per
    CPU: more jobs interleave the build differently and make the rebuild quicker, not slower."""

    jobs: int = field(default_factory=lambda: 2 * (os.cpu_count() or 2))
    umask: int = 0o077
    tz: str = "Pacific/Chatham"
    locale: str = "C"

    def describe(self) -> str:
        return f"no layer cache, -j{self.jobs}, fresh context path, host umask {self.umask:03o}, TZ={self.tz}, LC_ALL={self.locale}"


def check_satisfiable(plan: BuildPlan, manifest: Manifest, manifest_path: Path) -> None:
    """Refuse early, naming what is missing, when this checkout cannot rebuild the manifest."""
    lock = plan.toolchain_lock
    if lock.digest != manifest.toolchain["lock_digest"]:
        raise ReproducibilityError(
            f"{manifest_path}: needs toolchain lock {manifest.toolchain['name']} with digest "
            f"{manifest.toolchain['lock_digest']}, but {lock.path.name} has {lock.digest}"
        )
    pinned = {source.sha256 for source in plan.sources}
    for item in manifest.inputs:
        if item.sha256 not in pinned:
            raise ReproducibilityError(
                f"{manifest_path}: input {item.file} (sha256 {item.sha256}) of {item.component} is not pinned by any recipe here"
            )
    if plan.recipe_digest != manifest.recipe_digest:
        raise ReproducibilityError(
            f"{manifest_path}: recipes differ from the ones that built it (recipe digest {manifest.recipe_digest}, "
            f"here {plan.recipe_digest}); check out the commit that built it"
        )


def reproduce(ws: Workspace, manifest_path: Path, *, workdir: Path | None = None,
              variation: Variation = Variation(), source_date_epoch: int | None = None) -> ReproduceResult:
    """Rebuild what `manifest_path` describes without Docker's layer cache, under `variation`, and
    compare every output. `source_date_epoch` replaces the manifest's (to see a deliberate
    difference); the recipes and toolchain lock must be the manifest's own."""
    manifest = read_manifest(manifest_path)
    target = ws.matrix.resolve(manifest.target["id"])
    epoch = manifest.source_date_epoch if source_date_epoch is None else source_date_epoch
    plan = plan_for(ws, target, source_date_epoch=epoch)
    check_satisfiable(plan, manifest, manifest_path)
    rebuild_dir = workdir or fresh_rebuild_dir(ws, target)
    shutil.rmtree(rebuild_dir, ignore_errors=True)
    rebuild_dir.mkdir(parents=True)
    log.info(f"reproducing {manifest_path} in {rebuild_dir} ({variation.describe()})")
    result = rebuild(ws, plan, variation, context_dir=rebuild_dir / "context", dist_dir=rebuild_dir / "dist")
    comparisons = compare(manifest, result.manifest)
    reports: tuple[Path, ...] = ()
    if not all(c.ok for c in comparisons):
        reports = diff_reports(manifest_path.parent, result.dist, [c.name for c in comparisons if not c.ok], rebuild_dir)
    return ReproduceResult(comparisons=tuple(comparisons), rebuild_dir=rebuild_dir, reports=reports)


def check_recorded(plan: BuildPlan, recorded: RecordedSize | None) -> RecordedSize:
    """Refuse, naming why, a record that cannot be compared with a rebuild from this checkout."""
    target_id = plan.target.id
    if recorded is None:
        raise ReproducibilityError(
            f"{SIZES_FILE}: no build of {target_id} is recorded; build it (`invoke build --target {target_id}`) "
            f"and reproduce that with --manifest dist/{target_id}/manifest.json"
        )
    if recorded.recipe_digest is not None and recorded.recipe_digest != plan.recipe_digest:
        raise ReproducibilityError(
            f"{SIZES_FILE}: {target_id} was recorded from other recipes (recipe digest {recorded.recipe_digest[:16]}, "
            f"here {plan.recipe_digest[:16]}); check out the commit that recorded it"
        )
    if recorded.lock_digest is not None and recorded.lock_digest != plan.toolchain_lock.digest:
        raise ReproducibilityError(
            f"{SIZES_FILE}: {target_id} was recorded with toolchain lock {recorded.lock_digest[:16]}, "
            f"but {plan.toolchain_lock.path.name} has {plan.toolchain_lock.digest[:16]}"
        )
    return recorded


def reproduce_recorded(ws: Workspace, target: Target, recorded: RecordedSize | None, *,
                       variation: Variation = Variation()) -> ReproduceResult:
    """Build `target` from scratch under `variation` into dist/<target-id>/ and compare its
    manifest with the one recorded in build-sizes.json, usually on another machine and day.

    The manifest lists every output's sha256, so one digest stands for every byte; and the
    rebuild is a full build, so the no-cache rebuild is also the build the tests then use."""
    plan = plan_for(ws, target)
    expected = check_recorded(plan, recorded)
    if expected.recipe_digest is None:
        log.warning(f"{SIZES_FILE}: the record of {target.id} predates recipe digests in records: "
                    "if it differs, it may be from other recipes (`invoke matrix --update-readme` records them)")
    log.info(f"reproducing the recorded build of {target.id} ({variation.describe()})")
    result = rebuild(ws, plan, variation, context_dir=fresh_rebuild_dir(ws, target) / "context")
    got = sha256_file(result.dist / "manifest.json")
    comparison = Comparison(name=f"manifest.json ({len(result.manifest.outputs)} outputs)",
                            expected=expected.manifest_sha256, got=got)
    return ReproduceResult(comparisons=(comparison,), rebuild_dir=result.dist, reports=())


def fresh_rebuild_dir(ws: Workspace, target: Target) -> Path:
    return ws.paths.build_of(target) / f"reproduce-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"


def rebuild(ws: Workspace, plan: BuildPlan, variation: Variation, *, context_dir: Path,
            dist_dir: Path | None = None) -> BuildResult:
    """The plan built without Docker's layer cache under `variation` (dist_dir None: into dist/)."""
    settings = BuildSettings(jobs=variation.jobs, nocache=True, dist_dir=dist_dir, context_dir=context_dir)
    with varied_host(variation):
        return build_target(ws, plan, settings)


@contextmanager
def varied_host(variation: Variation) -> Iterator[None]:
    saved_env = {key: os.environ.get(key) for key in ("TZ", "LC_ALL")}
    saved_umask = os.umask(variation.umask)
    os.environ["TZ"] = variation.tz
    os.environ["LC_ALL"] = variation.locale
    time.tzset()
    try:
        yield
    finally:
        os.umask(saved_umask)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        time.tzset()


def compare(expected: Manifest, got: Manifest) -> list[Comparison]:
    names = sorted({o.name for o in expected.outputs} | {o.name for o in got.outputs})
    result = []
    for name in names:
        want = expected.output(name)
        have = got.output(name)
        result.append(Comparison(name=name, expected=want.sha256 if want else None, got=have.sha256 if have else None))
    return result


def diff_reports(expected_dir: Path, rebuilt_dir: Path, names: list[str], out_dir: Path) -> tuple[Path, ...]:
    """diffoscope text and HTML reports for each differing file whose original bytes we have."""
    if shutil.which("diffoscope") is None:
        log.warning("diffoscope is not installed: no diff report (apt-get install diffoscope)")
        return ()
    reports: list[Path] = []
    for name in names:
        original, rebuilt = expected_dir / name, rebuilt_dir / name
        if not (original.is_file() and rebuilt.is_file()):
            continue
        flat = name.replace("/", "_")
        text, html = out_dir / f"diffoscope-{flat}.txt", out_dir / f"diffoscope-{flat}.html"
        log.detail(f"diffoscope {name} …")
        subprocess.run(
            ["diffoscope", "--no-progress", "--max-report-size", "20000000", "--max-diff-block-lines", "200",
             "--text", str(text), "--html", str(html), str(original), str(rebuilt)],
            capture_output=True, timeout=1800,
        )
        reports += [p for p in (text, html) if p.is_file()]
    return tuple(reports)


def format_table(comparisons: tuple[Comparison, ...]) -> str:
    width = max(len(c.name) for c in comparisons)
    lines = [f"{'file':<{width}}  {'expected':<16}  {'got':<16}  result"]
    for c in comparisons:
        lines.append(
            f"{c.name:<{width}}  {(c.expected or 'missing')[:16]:<16}  {(c.got or 'missing')[:16]:<16}  {'ok' if c.ok else 'DIFFERS'}"
        )
    return "\n".join(lines)
