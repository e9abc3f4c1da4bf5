"""`invoke build`: fetch, toolchain, render, Docker build, artifacts, manifest and summary."""

import gzip
import os
import shutil
import tempfile

from dataclasses import dataclass, field, replace
from pathlib import Path

from wasmforge.building import docker_engine as docker_build, fetch, toolchain_image as toolchain
from wasmforge.core import log
from wasmforge.core.errors import BuildError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import InputRecord, Manifest, record_outputs, write_manifest
from wasmforge.model.matrix import Target
from wasmforge.model.recipes import Component
from wasmforge.rendering.dockerfile import render_dockerfile
from wasmforge.model.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    nocache: bool = False
    dist_dir: Path | None = None
    context_dir: Path | None = None
    source_date_epoch: int | None = None


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    target: Target
    dist: Path
    manifest: Manifest
    durations: dict[str, float]


def build_target(ws: Workspace, target: Target, options: BuildOptions = BuildOptions()) -> BuildResult:
    if options.source_date_epoch is not None:
        target = replace(target, source_date_epoch=options.source_date_epoch)
    timer = log.StageTimer()
    log.info(f"wasmforge build {target.id} (support: {target.support}, SOURCE_DATE_EPOCH={target.source_date_epoch})")
    if target.support == "broken":
        log.warning(f"{target.id} is marked broken in matrix.json; building anyway")
    components = ws.book.components_for(target)
    # Taken before the context is copied: the manifest must describe what the build read.
    recipe_digest = ws.book.digest_for(target)
    recipe_files = ws.book.recipe_files_for(target)
    spec = ws.toolchain_spec(target)
    lock = ws.toolchain_lock(target)
    with timer.stage("toolchain"):
        image = toolchain.ensure_image(spec, lock, ws.cache, ws.workdir)
    with timer.stage("fetch"):
        inputs = fetch.fetch_sources(components, ws.cache, image)
    dockerfile = render_dockerfile(target, components, lock)
    committed = ws.paths.docker / target.id / "Dockerfile"
    if committed.is_file() and committed.read_text() != dockerfile:
        log.warning(f"{committed} is stale; building from the fresh rendering (run `invoke render`)")
    context = options.context_dir or ws.paths.build / target.id / "context"
    with timer.stage("context"):
        _prepare_context(context, ws.paths.recipes, dockerfile, inputs, recipe_files)
    build_tag = f"wasmforge-build:{target.id}"
    with timer.stage("docker build"):
        log_path = context.parent / "build.log"
        log.detail(f"full log: {log_path}")
        docker_build.build_image(context, build_tag, jobs=options.jobs, nocache=options.nocache, log_path=log_path)
    dist = options.dist_dir or ws.paths.dist / target.id
    with timer.stage("artifacts"):
        manifest = _collect(target, lock, inputs, components, recipe_digest, build_tag, dist)
    _summary(target, dist, manifest, timer.durations)
    return BuildResult(target=target, dist=dist, manifest=manifest, durations=timer.durations)


def _prepare_context(context: Path, recipes_dir: Path, dockerfile: str, inputs: list[fetch.FetchedInput],
                     recipe_files: list[Path]) -> None:
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
    for path in recipe_files:
        destination = context / "recipes" / path.relative_to(recipes_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    # Fixed modes, whatever the checkout's umask: COPY keeps them and scripts see them.
    for path in (context / "recipes").rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.suffix == ".sh" else 0o644)


def _collect(target: Target, lock: toolchain.ToolchainLock, inputs: list[fetch.FetchedInput],
             components: list[Component], recipe_digest: str, build_tag: str, dist: Path) -> Manifest:
    dist.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dist.parent, prefix=f".{dist.name}-"))
    staging.chmod(0o755)  # mkdtemp's 0700 would make dist/<target-id>/ private to the builder
    try:
        docker_build.copy_out(build_tag, "/wf/out/.", staging)
        outputs = record_outputs(staging)
        if not any(o.name.endswith(".wasm") for o in outputs):
            raise BuildError(f"{target.id}: the build produced no .wasm file (got {[o.name for o in outputs]})")
        versions = {c.name: c.version for c in components}
        manifest = Manifest(
            target={
                "id": target.id, "python": target.python.version, "sdk": target.sdk.kind,
                "sdk_version": target.sdk.version, "flavor": target.flavor.name, "flags": list(target.flags),
            },
            source_date_epoch=target.source_date_epoch,
            toolchain={"name": lock.toolchain, "lock_digest": lock.digest, "image": lock.image_tag},
            recipe_digest=recipe_digest,
            inputs=tuple(
                InputRecord(component=i.component, version=versions[i.component], file=i.source.file,
                            size=i.source.size, sha256=i.source.sha256)
                for i in inputs
            ),
            outputs=outputs,
        )
        write_manifest(staging, manifest)
        if dist.exists():
            shutil.rmtree(dist)
        staging.replace(dist)
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def _summary(target: Target, dist: Path, manifest: Manifest, durations: dict[str, float]) -> None:
    log.info("")
    log.info(f"built {target.id} into {dist}")
    log.info("  stage           time")
    for name, seconds in durations.items():
        log.info(f"  {name:<15} {log.format_seconds(seconds)}")
    log.info(f"  {'total':<15} {log.format_seconds(sum(durations.values()))}")
    width = max(18, *(len(output.name) for output in manifest.outputs))
    log.info(f"  {'output':<{width}} {'raw':>11}  {'gzip -9':>11}  sha256")
    total_raw = total_gz = 0
    for output in manifest.outputs:
        gz = gzip_size(dist / output.name)
        total_raw += output.size
        total_gz += gz
        log.info(f"  {output.name:<{width}} {output.size:>11,}  {gz:>11,}  {output.sha256[:16]}…")
    log.info(f"  {'total':<{width}} {total_raw:>11,}  {total_gz:>11,}")
    if target.size_budget_gzip and total_gz > target.size_budget_gzip:
        log.warning(f"{target.id}: {total_gz:,} bytes gzip is OVER the matrix budget of {target.size_budget_gzip:,}")
    log.info(f"  manifest: {dist / 'manifest.json'} (sha256 {sha256_file(dist / 'manifest.json')[:16]}…)")


