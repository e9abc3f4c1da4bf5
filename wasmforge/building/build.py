"""`invoke build`: toolchain, fetch, context, one `docker buildx bake` run, artifacts, manifest and summary."""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from wasmforge.building import docker_engine, fetch, toolchain_image, toolchain_registry
from wasmforge.core import dirswap, log
from wasmforge.core.errors import BuildError
from wasmforge.core.hashing import sha256_file
from wasmforge.core.locks import locked
from wasmforge.model.manifest import Manifest, manifest_for, record_outputs, write_manifest
from wasmforge.model.matrix_report import output_gzip_sizes, page_start_gzip
from wasmforge.model.plan import BuildPlan
from wasmforge.model.workspace import Workspace
from wasmforge.rendering import bake
from wasmforge.rendering.dockerfile import render_dockerfile

# Two builds of one target collecting at once: the second waits for the first to finish copying.
DIST_LOCK_TIMEOUT = 600.0


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """How one build runs; none of it may change the outputs (reproduce varies it to check)."""

    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    nocache: bool = False
    dist_dir: Path | None = None
    context_dir: Path | None = None
    builder: str | None = None  # a buildx builder's name; None: the current one (the engine's own)
    # Where the builder pulls the toolchain image from; None: this engine's own, made if missing.
    registry: toolchain_registry.RegistryToolchains | None = None


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    plan: BuildPlan
    dist: Path
    manifest: Manifest
    durations: dict[str, float]


def build_target(ws: Workspace, plan: BuildPlan, settings: BuildSettings = BuildSettings()) -> BuildResult:
    """Build one target: prepare it, one BuildKit run, collect its outputs."""
    prepared = prepare_build(ws, plan, settings)
    with prepared.timer.stage("docker build"):
        run_bake(ws, [prepared], settings, prepared.context.parent / "build.log")
    return finish_build(prepared)


@dataclass(frozen=True, kw_only=True)
class PreparedBuild:
    """A target ready for BuildKit: its toolchain image exists, its sources are fetched, its
    context holds exactly what the Dockerfile copies."""

    plan: BuildPlan
    context: Path
    export: Path  # where bake writes the artifacts stage, before it becomes dist/<target-id>/
    dist: Path
    toolchain_image: str  # what the Dockerfile's FROM is given
    into_dist: bool  # the outputs go to dist/<target-id>/, not to a directory of their own
    timer: log.StageTimer

    @property
    def image_tag(self) -> str | None:
        """The build tree's image tag. It must describe dist/<target-id>/ (`invoke xbuildenv` and
        `invoke sizes` read it as that build's), so a build whose outputs go elsewhere (a
        reproduction, a nightly) leaves it alone."""
        return f"wasmforge-build:{self.plan.target.id}" if self.into_dist else None


def prepare_build(ws: Workspace, plan: BuildPlan, settings: BuildSettings) -> PreparedBuild:
    target = plan.target
    timer = log.StageTimer()
    log.info(f"wasmforge build {target.id} (support: {target.support}, SOURCE_DATE_EPOCH={plan.source_date_epoch})")
    if target.support == "broken":
        log.warning(f"{target.id} is marked broken in matrix.json; building anyway")
    with timer.stage("toolchain"):
        if settings.registry is None:
            image = reference = toolchain_image.ensure_image(plan.toolchain_spec, plan.toolchain_lock, ws.cache, ws.workdir)
        else:
            # The builder pulls it; this machine needs it only for a source that is not cached yet.
            reference = settings.registry.reference(plan.toolchain_lock)
            local = plan.toolchain_lock.image_tag
            image = local if toolchain_image.image_exists(local) else None
            log.detail(f"toolchain from the registry: {reference}")
    with timer.stage("fetch"):
        inputs = fetch.fetch_sources(plan.components, ws.cache, image)
    dockerfile = render_dockerfile(plan)
    committed = ws.paths.docker / target.id / "Dockerfile"
    if committed.is_file() and committed.read_text() != dockerfile:
        log.warning(f"{committed} is stale; building from the fresh rendering (run `invoke render`)")
    context = settings.context_dir or ws.paths.build_of(target) / "context"
    with timer.stage("context"):
        _prepare_context(context, plan, dockerfile, inputs)
    dist = settings.dist_dir or ws.paths.dist_of(target)
    return PreparedBuild(plan=plan, context=context, export=context.parent / "bake-out", dist=dist,
                         toolchain_image=reference, into_dist=settings.dist_dir is None, timer=timer)


def run_bake(ws: Workspace, builds: list[PreparedBuild], settings: BuildSettings, log_path: Path) -> None:
    """One `docker buildx bake` run for every prepared target: docker-bake.hcl rendered for these
    plans (the file `invoke render` writes, cut to them: another entry's broken lock or a
    reproduction's own SOURCE_DATE_EPOCH must not matter), then this run's overrides."""
    hcl = bake.render_bake(ws.matrix, [b.plan for b in builds])
    runs = [
        bake.BakeRun(plan=b.plan, context=b.context, export=b.export, image_tag=b.image_tag, jobs=settings.jobs,
                     toolchain_image=b.toolchain_image)
        for b in builds
    ]
    for build in builds:
        # Empty and present: buildx asks leave to write to the nearest directory that exists.
        shutil.rmtree(build.export, ignore_errors=True)
        build.export.mkdir(parents=True)
    ws.paths.build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bake-", dir=ws.paths.build) as scratch:
        files = [Path(scratch) / bake.BAKE_FILE, Path(scratch) / "run.json"]
        files[0].write_text(hcl)
        files[1].write_text(json.dumps(bake.run_overrides(runs), indent=2) + "\n")
        log.detail(f"full log: {log_path}")
        docker_engine.bake(files, bake.run_targets(runs), reads=[b.context for b in builds],
                           writes=[b.export for b in builds], nocache=settings.nocache, builder=settings.builder,
                           log_path=log_path)


def finish_build(build: PreparedBuild) -> BuildResult:
    with build.timer.stage("artifacts"):
        try:
            manifest = _collect(build.plan, build.export, build.dist)
        finally:
            shutil.rmtree(build.export, ignore_errors=True)
    _summary(build.plan, build.dist, manifest, build.timer.durations)
    return BuildResult(plan=build.plan, dist=build.dist, manifest=manifest, durations=build.timer.durations)


def _prepare_context(context: Path, plan: BuildPlan, dockerfile: str, inputs: list[fetch.FetchedInput]) -> None:
    shutil.rmtree(context, ignore_errors=True)
    (context / "sources").mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile)
    for item in inputs:
        target = context / "sources" / item.source.file
        try:
            os.link(item.path, target)
        except OSError:
            shutil.copyfile(item.path, target)
    # Exactly the files the recipe digest covers, so the digest describes what Docker sees.
    for path in plan.recipe_files:
        destination = context / "recipes" / path.relative_to(plan.recipes_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    # Fixed modes, whatever the checkout's umask: COPY keeps them and scripts see them.
    for path in (context / "recipes").rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.suffix == ".sh" else 0o644)


def _collect(plan: BuildPlan, export: Path, dist: Path) -> Manifest:
    """Copy the outputs bake exported into a staging folder beside dist/<target-id>/, write the
    manifest, then swap it in (core/dirswap.py): a killed build leaves the previous dist or the
    new one, whole."""
    dist.parent.mkdir(parents=True, exist_ok=True)
    with locked(dirswap.lock_path(dist), f"{dist}", DIST_LOCK_TIMEOUT):
        for done in dirswap.recover(dist):
            log.detail(done)
        staging = dirswap.make_staging(dist)
        staging.chmod(0o755)  # mkdtemp's 0700 would make dist/<target-id>/ private to the builder
        try:
            _copy_regular_files(export, staging)
            outputs = record_outputs(staging)
            if not any(o.name.endswith(".wasm") for o in outputs):
                raise BuildError(f"{plan.target.id}: the build produced no .wasm file (got {[o.name for o in outputs]})")
            manifest = manifest_for(plan, outputs)
            write_manifest(staging, manifest)
            dirswap.replace_directory(staging, dist)
            return manifest
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _copy_regular_files(source: Path, destination: Path) -> None:
    """The exported files with the modes a fresh file gets here (0644 under the usual umask), as
    the earlier copy out of a container gave them; nothing but regular files is an output."""
    if not source.is_dir():
        raise BuildError(f"{source}: bake exported nothing")
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _summary(plan: BuildPlan, dist: Path, manifest: Manifest, durations: dict[str, float]) -> None:
    target = plan.target
    log.info("")
    log.info(f"built {target.id} into {dist}")
    log.info("  stage           time")
    for name, seconds in durations.items():
        log.info(f"  {name:<15} {log.format_seconds(seconds)}")
    log.info(f"  {'total':<15} {log.format_seconds(sum(durations.values()))}")
    # A directory of outputs (the browser's stdlib packs) is one line: its files and totals.
    gzip_sizes = output_gzip_sizes(dist, manifest)
    rows: dict[str, list[int]] = {}
    first_sha: dict[str, str] = {}
    for output in manifest.outputs:
        directory, _, rest = output.name.partition("/")
        key = f"{directory}/" if rest else output.name
        row = rows.setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += output.size
        row[2] += gzip_sizes[output.name]
        first_sha.setdefault(key, output.sha256[:16] + "…")
    names = {key: f"{key} ({files} files)" if key.endswith("/") else key for key, (files, _, _) in rows.items()}
    width = max(18, *(len(name) for name in names.values()))
    log.info(f"  {'output':<{width}} {'raw':>11}  {'gzip -9':>11}  sha256")
    for key, (_, raw, gz) in rows.items():
        sha = "" if key.endswith("/") else first_sha[key]
        log.info(f"  {names[key]:<{width}} {raw:>11,}  {gz:>11,}  {sha}".rstrip())
    total_raw, total_gz = sum(row[1] for row in rows.values()), sum(row[2] for row in rows.values())
    log.info(f"  {'total':<{width}} {total_raw:>11,}  {total_gz:>11,}")
    initial = page_start_gzip(gzip_sizes)
    if initial is not None:
        log.info(f"  {'initial download':<{width}} {'':>11}  {initial:>11,}  (what a page fetches before Python prints)")
    budgeted = initial if initial is not None else total_gz
    if target.size_budget_gzip and budgeted > target.size_budget_gzip:
        log.warning(f"{target.id}: {budgeted:,} bytes gzip is OVER the matrix budget of {target.size_budget_gzip:,}")
    log.info(f"  manifest: {dist / 'manifest.json'} (sha256 {sha256_file(dist / 'manifest.json')[:16]}…)")
