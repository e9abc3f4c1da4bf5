"""What each invoke task does; tasks.py only parses arguments and reports errors.

Defaults (dist/<target-id>/, ./store, keys, the pull state) come from model/paths.py."""

import os
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from wasmforge.building import (build, build_many, fetch, reproduce, toolchain_image, toolchain_registry, wheel_build,
                                wheel_fetch, wheel_install, xbuildenv)
from wasmforge.core import log
from wasmforge.core.errors import (
    BudgetError, ManifestError, PublishError, RuntimeUnavailableError, SignatureError, WheelError,
)
from wasmforge.core.files import write_atomic, write_json_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.model import matrix_report
from wasmforge.model.matrix import Target
from wasmforge.model.plan import BuildPlan, plan_for
from wasmforge.model.toolchains import REGISTRY_VARIABLE, digest_variable, load_spec
from wasmforge.model.wheel_lock import LOCK_FILE, LockedSdist, WheelLock, load_lock, normalize_spec, write_lock
from wasmforge.model.wheel_tags import artifact_tags, check_wheel_fits
from wasmforge.model.workspace import Workspace
from wasmforge.releasing import nightly, signing
from wasmforge.releasing.freshness import SeenVersions
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.publisher_state import PublisherState
from wasmforge.releasing.pull import PullRequest, TransferLimits, pull
from wasmforge.releasing.release_index import LATEST
from wasmforge.releasing.stores import open_store, open_writable_store
from wasmforge.releasing.wheel_release import WheelSet
from wasmforge.rendering import bake, dockerfile, nix, workflow
from wasmforge.rendering.generated import stale_files, write_rendered


def workspace(root: str | None = None, matrix: str | None = None) -> Workspace:
    return Workspace.load(root=Path(root) if root else None, matrix_path=Path(matrix) if matrix else None)


def resolve_targets(ws: Workspace, names: list[str]) -> list[Target]:
    """Ids, aliases and globs to targets; every name is checked before anything is built."""
    return ws.matrix.select(names)


def build_settings(jobs: int | None, nocache: bool = False, builder: str | None = None,
                   registry: toolchain_registry.RegistryToolchains | None = None) -> build.BuildSettings:
    settings = build.BuildSettings(nocache=nocache, builder=builder or None, registry=registry)
    return settings if jobs is None else replace(settings, jobs=jobs)


# --- rendering and the matrix ------------------------------------------------------------------


def cmd_render(ws: Workspace, check: bool, nix_fixed_output: bool = False) -> int:
    plans = [plan_for(ws, target) for target in ws.matrix.targets]
    rendered = dockerfile.render_all(plans, ws.paths.docker)
    rendered += nix.render_all(ws.paths, ws.matrix, plans, nix.NixOptions(fixed_output=nix_fixed_output))
    rendered += bake.render_all(ws.matrix, plans, ws.paths.root)
    rendered += workflow.render_all(ws.matrix, ws.paths.root)
    managed = [ws.paths.docker, ws.paths.nix, workflow.managed_dir(ws.paths.root)]
    if check:
        stale = stale_files(rendered, managed)
        if stale:
            names = ", ".join(str(p.relative_to(ws.paths.root)) for p in stale)
            print(f"render --check: stale generated files: {names}; run `invoke render`", file=sys.stderr)
            return 1
        print(f"render --check: {len(rendered)} generated files are current")
        return 0
    touched = write_rendered(rendered, managed)
    for path in touched:
        print(f"wrote {path.relative_to(ws.paths.root)}")
    print(f"render: {len(rendered)} files, {len(touched)} changed")
    return 0


def cmd_matrix(ws: Workspace, as_json: bool, markdown: bool, update_readme: bool = False, check_readme: bool = False) -> int:
    if update_readme or check_readme:
        check = matrix_report.update_readme(ws, write=update_readme)
        for message in check.messages:
            print(message, file=sys.stdout if check.current else sys.stderr)
        return 0 if check.current else 1
    rows = matrix_report.matrix_rows(ws)
    if as_json:
        print(matrix_report.as_json(rows))
    elif markdown:
        print(matrix_report.as_markdown(rows))
    else:
        print(matrix_report.as_table(rows))
    return 0


# --- building ------------------------------------------------------------------------------------


def cmd_fetch(ws: Workspace, targets: list[Target]) -> int:
    for target in targets:
        log.info(f"fetch {target.id}")
        plan = plan_for(ws, target)
        for item in fetch.fetch_sources(plan.components, ws.cache, _image_if_needed(ws, plan)):
            log.detail(f"{item.source.file}  {item.source.sha256}  {item.path}")
    return 0


def _image_if_needed(ws: Workspace, plan: BuildPlan) -> str | None:
    """Only start the toolchain (for Debian's source mirror) when something is not cached."""
    if all(ws.cache.lookup(source.pin()) is not None for source in plan.sources):
        return None
    return toolchain_image.ensure_image(plan.toolchain_spec, plan.toolchain_lock, ws.cache, ws.workdir)


def cmd_toolchain(ws: Workspace, targets: list[Target], push_to: str | None = None) -> int:
    """Print each toolchain image's tag; with a registry, push them and print the variables that
    name them there (TOOLCHAIN_REGISTRY=…, TOOLCHAIN_DIGEST_<TOOLCHAIN>=sha256:…), for `env`."""
    if push_to is not None:
        toolchain_registry.checked_registry(push_to, "--push")
    locks = {ws.toolchain_lock(target).toolchain: target for target in targets}
    if push_to is not None:
        print(f"{REGISTRY_VARIABLE}={push_to}")
    for target in locks.values():
        lock = ws.toolchain_lock(target)
        tag = toolchain_image.ensure_image(ws.toolchain_spec(target), lock, ws.cache, ws.workdir)
        if push_to is None:
            print(tag)
        else:
            print(f"{digest_variable(lock.toolchain)}={toolchain_registry.push(tag, push_to)}")
    return 0


def cmd_lock_toolchain(ws: Workspace, name: str) -> int:
    spec = load_spec(ws.paths.toolchains / f"{name}.json")
    result = toolchain_image.lock(spec, ws.cache, ws.workdir)
    print(f"wrote {result.path} ({len(result.packages)} packages, digest {result.digest})")
    return 0


def cmd_build(ws: Workspace, targets: list[Target], jobs: int | None, nocache: bool, builder: str | None = None) -> int:
    # TOOLCHAIN_REGISTRY and TOOLCHAIN_DIGEST_*: the same variables docker-bake.hcl reads.
    registry = toolchain_registry.from_environment(os.environ)
    settings = build_settings(jobs, nocache, builder, registry)
    if len(targets) == 1:
        # One target: its error, with its own exit code, is the result.
        build.build_target(ws, plan_for(ws, targets[0]), settings)
        return 0
    outcomes = build_many.build_each(ws, targets, settings)
    print(build_many.format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


# --- extension modules ---------------------------------------------------------------------------


def cmd_xbuildenv(ws: Workspace, target: Target) -> int:
    made = xbuildenv.make_xbuildenv(target, ws.paths.dist_of(target), xbuildenv.xbuildenv_path(ws.paths.dist, target))
    print(f"{made.path}  sha256 {sha256_file(made.path)}  platform {made.info['platform']}")
    return 0


def ensure_xbuildenv(ws: Workspace, target: Target) -> xbuildenv.Xbuildenv:
    """The target's cross-build environment, made again unless it describes dist/<target-id>/ as it is."""
    path = xbuildenv.xbuildenv_path(ws.paths.dist, target)
    manifest = ws.paths.dist_of(target) / "manifest.json"
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: no artifact; run `invoke build --target {target.id}` first")
    if path.is_file():
        existing = xbuildenv.load_xbuildenv(path)
        if existing.info["artifact"]["manifest_sha256"] == sha256_file(manifest):
            return existing
        log.info(f"{path} describes another build of {target.id}; making it again")
    return xbuildenv.make_xbuildenv(target, ws.paths.dist_of(target), path)


def cmd_wheel(ws: Workspace, target: Target, spec: str, check: bool) -> int:
    tags = artifact_tags(target)
    lock = load_lock(ws.paths.root / LOCK_FILE)
    sdist = wheel_build.resolve_sdist(spec, lock, ws.cache)
    environment = ensure_xbuildenv(ws, target)
    request = wheel_build.WheelRequest(
        tags=tags,
        toolchain_image=toolchain_image.ensure_image(ws.toolchain_spec(target), ws.toolchain_lock(target), ws.cache, ws.workdir),
        xbuildenv=environment,
        source_date_epoch=int(environment.info["artifact"]["source_date_epoch"]),
        work_root=ws.paths.build / "wheels" / target.id,
        out_dir=ws.paths.wheels_of(target),
    )
    if check:
        built, _ = wheel_build.check_reproducible(sdist, request, ws.cache)
    else:
        built = wheel_build.build_wheel(sdist, request, ws.cache)
    print(f"{built.path}  sha256 {built.sha256}")
    return 0


def cmd_lock_wheel(ws: Workspace, spec: str, requires: list[str]) -> int:
    """Pin an sdist (and any build requirement not pinned yet) in wheels.lock.json, as served today."""
    path = ws.paths.root / LOCK_FILE
    lock = load_lock(path)
    wanted = normalize_spec(spec)
    needs = tuple(normalize_spec(r) for r in requires) or lock.default_build_requires
    pinned = dict(lock.build_requirements)
    for need in needs:
        if need not in pinned:
            pinned[need] = wheel_fetch.download_new(need, ws.cache, sdist=False)
            print(f"pinned {need}: {pinned[need].file} sha256 {pinned[need].sha256}")
    source = wheel_fetch.download_new(wanted, ws.cache, sdist=True)
    sdists = {**lock.sdists, wanted: LockedSdist(source=source, build_requires=needs)}
    write_lock(WheelLock(path=path, sdists=sdists, build_requirements=pinned, default_build_requires=lock.default_build_requires))
    print(f"pinned {wanted}: {source.file} sha256 {source.sha256} in {path.name}")
    return 0


def cmd_install_wheel(ws: Workspace, target: Target, wheels: list[Path], dest: Path) -> int:
    tags = artifact_tags(target)
    if target.flavor.name != "node":
        raise WheelError(f"{target.id}: install-wheel installs into node artifacts (a page unpacks wheels itself; not done yet, see docs/extension-modules.md)")
    if not wheels:
        raise WheelError("install-wheel: give at least one --wheel FILE")
    for wheel in wheels:
        check_wheel_fits(wheel.name, tags)
        if not wheel.is_file():
            raise WheelError(f"{wheel}: no such wheel file")
    wheel_install.prepare_prefix(ws.paths.dist_of(target), dest, target.id)
    site = wheel_install.site_packages(dest, target.python.version)
    for wheel in wheels:
        wheel_install.install_wheel(wheel, site, tags)
    print(f"installed {len(wheels)} wheel(s) into {site}; run: node {dest / 'python.js'} -c 'import ...'")
    return 0


def cmd_reproduce(ws: Workspace, manifest: Path, source_date_epoch: int | None, workdir: Path | None,
                  jobs: int | None = None) -> int:
    result = reproduce.reproduce(ws, manifest, workdir=workdir, source_date_epoch=source_date_epoch, variation=_variation(jobs))
    return _report_reproduction(result, f"reproduced: all {len(result.comparisons)} outputs identical (rebuild in {result.rebuild_dir})")


def cmd_reproduce_recorded(ws: Workspace, target: Target, jobs: int | None = None) -> int:
    recorded = matrix_report.read_recorded_sizes(ws.paths.root / matrix_report.SIZES_FILE).get(target.id)
    result = reproduce.reproduce_recorded(ws, target, recorded, variation=_variation(jobs))
    return _report_reproduction(
        result, f"reproduced: {target.id}'s manifest equals the one recorded in {matrix_report.SIZES_FILE} (build in {result.rebuild_dir})"
    )


def _variation(jobs: int | None) -> reproduce.Variation:
    return reproduce.Variation() if jobs is None else reproduce.Variation(jobs=jobs)


def cmd_check_reproducible(ws: Workspace, targets: list[Target], jobs: int | None) -> int:
    status = cmd_build(ws, targets, jobs, nocache=False)
    for target in targets:
        status = max(status, cmd_reproduce(ws, ws.paths.dist_of(target) / "manifest.json", None, None))
    return status


def _report_reproduction(result: reproduce.ReproduceResult, success: str) -> int:
    print(reproduce.format_table(result.comparisons))
    if result.ok:
        print(success)
        return 0
    print(f"NOT reproduced: {', '.join(c.name for c in result.comparisons if not c.ok)} differ", file=sys.stderr)
    for report in result.reports:
        print(f"diff report: {report}", file=sys.stderr)
    return 1


# --- releasing -----------------------------------------------------------------------------------


def cmd_keygen(out: Path) -> int:
    pair = signing.generate_keypair(out)
    print(f"private key: {pair.private} (keep it offline; it signs releases)")
    print(f"public key:  {pair.public} (pin it: pull --pubkey, or commit it as keys/{signing.PUBLIC_KEY_NAME})")
    print(f"key id:      {pair.key_id}")
    return 0


def cmd_publish(ws: Workspace, target: Target, store_url: str | None, version: str | None, dist: str | None,
                key_path: str | None, expires_days: int, recover_from: int | None = None,
                serve_urls: tuple[str, ...] = (), with_wheels: bool = False, with_xbuildenv: bool = False) -> int:
    now = datetime.now(timezone.utc)
    request = PublishRequest(
        target_id=target.id,
        dist=Path(dist) if dist else ws.paths.dist_of(target),
        version=version or nightly.nightly_version(now),
        key=_signing_key(ws, key_path),
        schema=ws.paths.schemas / "index.schema.json",
        now=now,
        state=PublisherState(ws.paths.publish_state, ws.paths.lock_timeout()),
        expires_in=timedelta(days=expires_days),
        recover_from=recover_from,
        serve_urls=serve_urls,
        wheels=_wheels_to_publish(ws, target) if with_wheels else None,
        xbuildenv=_xbuildenv_to_publish(ws, target, dist) if with_xbuildenv else None,
    )
    result = publish(open_writable_store(store_url or ws.paths.default_store), request)
    if request.wheels is not None and Path(result.location).is_dir():
        print(f"wheels: pip download --index-url {Path(result.location).resolve().as_uri()}/simple/ "
              f"--only-binary=:all: --platform {request.wheels.tags.platform_tag} NAME")
    return 0


def _xbuildenv_to_publish(ws: Workspace, target: Target, dist: str | None) -> Path:
    """The environment of dist/<target-id>/, made when missing or stale; for another --dist, the
    one in dist/xbuildenv/, which publish checks describes that dist."""
    if dist is None:
        return ensure_xbuildenv(ws, target).path
    return xbuildenv.xbuildenv_path(ws.paths.dist, target)


def _wheels_to_publish(ws: Workspace, target: Target) -> WheelSet:
    tags = artifact_tags(target)
    folder = ws.paths.wheels_of(target)
    wheels = tuple(sorted(folder.glob("*.whl"))) if folder.is_dir() else ()
    if not wheels:
        raise PublishError(f"{folder}: no wheels to publish; build some with `invoke wheel --target {target.id} NAME==VERSION`")
    return WheelSet(paths=wheels, tags=tags)


def cmd_pull(ws: Workspace, target: Target, version: str | None, store_url: str | None, dest: str | None,
             pubkey: str | None, force: bool, accept_new_store: bool = False, min_rate: int | None = None) -> int:
    request = PullRequest(
        target_id=target.id,
        version=version or LATEST,
        dest=Path(dest) if dest else ws.paths.pulled_of(target),
        public_key=signing.load_public_key(ws.paths.public_key(pubkey)),
        seen=SeenVersions(ws.paths.pull_state, ws.paths.lock_timeout()),
        schema=ws.paths.schemas / "index.schema.json",
        now=datetime.now(timezone.utc),
        force=force,
        accept_new_store=accept_new_store,
        limits=TransferLimits() if min_rate is None else TransferLimits(min_rate=min_rate),
        lock_timeout=ws.paths.lock_timeout(),
    )
    pull(open_store(store_url or ws.paths.default_store), request)
    return 0


def cmd_nightly(ws: Workspace, names: list[str], day: str | None, store_url: str | None, key_path: str | None,
                jobs: int | None) -> int:
    night = date.fromisoformat(day) if day else datetime.now(timezone.utc).date()
    targets = resolve_targets(ws, names) if names else [t for t in ws.matrix.targets if t.support == "supported"]
    results = nightly.run_nightly(ws, targets, night, store_url or ws.paths.default_store, _signing_key(ws, key_path),
                                  build_settings(jobs))
    for result in results:
        print(f"{result.version}  {result.target.id}  smoke: {result.smoke}  dist: {result.dist}")
    return 0


def cmd_reproduce_published(ws: Workspace, target: Target, version: str, store_url: str | None, pubkey: str | None,
                            workdir: Path | None) -> int:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    where = workdir or ws.paths.build_of(target) / f"reproduce-{version}-{stamp}"
    result = nightly.reproduce_from_store(
        ws, store_url or ws.paths.default_store, target, version,
        signing.load_public_key(ws.paths.public_key(pubkey)), SeenVersions(ws.paths.pull_state, ws.paths.lock_timeout()),
        where,
    )
    return _report_reproduction(result, f"reproduced {target.id} {version}: all {len(result.comparisons)} outputs identical")


def _signing_key(ws: Workspace, explicit: str | None) -> signing.SigningKey:
    path = ws.paths.signing_key(explicit)
    if path is None:
        raise SignatureError("no signing key: pass --key PATH or set WASMFORGE_SIGNING_KEY (`invoke keygen --out DIR` makes one)")
    return signing.load_signing_key(path)


# --- verifying -----------------------------------------------------------------------------------


def cmd_test(ws: Workspace, target: Target, tests: list[str] | None, run_all: bool, junit: Path | None) -> int:
    """CPython's regression tests in the artifact's interpreter; 1 on an unexpected failure."""
    from wasmforge.verifying import regrtest
    from wasmforge.verifying.runtimes import runtime_for

    request = regrtest.RegrtestRequest(tests=tests, run_all=run_all, junit=junit)
    report = regrtest.run_regrtest(ws, target, runtime_for(target), request)
    print(regrtest.format_report(report))
    if junit is not None:
        print(f"junit: {junit}")
    return 1 if report.unexpected else 0


def cmd_serve(ws: Workspace, target: Target, port: int) -> int:
    """Serve dist/<target-id>/ with the browser REPL on 127.0.0.1, cross-origin isolated."""
    from wasmforge.verifying import webserver
    from wasmforge.verifying.runtimes import runtime_for

    runtime = runtime_for(target)
    if not runtime.loads_in_a_page:
        raise RuntimeUnavailableError(f"{target.id}: `serve` is for artifacts a web page loads; this one runs on {runtime.name}")
    dist = ws.paths.dist_of(target)
    if not (dist / "python.js").is_file():
        raise ManifestError(f"{dist}: no artifact; run `invoke build --target {target.id}` first")

    def announce(base: str) -> None:
        print(f"serving {dist} with the Python REPL at {base}/ (Ctrl-C stops)", flush=True)

    site = webserver.repl_site(dist)
    print(f"compressing the artifact once ({', '.join(site.encodings)}), as a static host would; about 2 s per MB…", flush=True)
    webserver.serve_until_interrupted(site, port, announce)
    return 0


def cmd_precompress(ws: Workspace, target: Target, out: Path | None) -> int:
    """Copy dist/<target-id>/ to `out`, checked against its manifest, with .br and .gz files beside
    each file a compressing host sends compressed: ready for a host that serves precompressed files."""
    from wasmforge.releasing import static_site
    from wasmforge.verifying.runtimes import runtime_for

    runtime = runtime_for(target)
    if not runtime.loads_in_a_page:
        raise RuntimeUnavailableError(f"{target.id}: `precompress` is for artifacts a web page loads; this one runs on {runtime.name}")
    dist = ws.paths.dist_of(target)
    out = out or ws.paths.site_of(target)
    log.info(f"==> {target.id}: precompressing {dist} into {out} (brotli 11 takes about 2 s per MB)")
    files = static_site.write_static_site(dist, target.id, out)
    print(static_site.summary(files, out))
    return 0


def cmd_sizes(ws: Workspace, target: Target, json_path: Path | None, markdown_path: Path | None, image: str | None) -> int:
    """Where the browser artifact's bytes go: python.wasm by component, python.data by package,
    python.js by part; printed as Markdown, optionally written as a document and as JSON."""
    from wasmforge.verifying import breakdown
    from wasmforge.verifying.runtimes import runtime_for

    runtime = runtime_for(target)
    if not runtime.loads_in_a_page:
        raise RuntimeUnavailableError(f"{target.id}: `sizes` breaks down artifacts a web page loads; this one runs on {runtime.name}")
    dist = ws.paths.dist_of(target)
    if not (dist / "python.wasm").is_file():
        raise ManifestError(f"{dist}: no artifact; run `invoke build --target {target.id}` first")
    report = breakdown.artifact_breakdown(target.id, dist, image)
    text = "\n".join(breakdown.breakdown_markdown(target.id, report))
    print(text)
    if markdown_path is not None:
        existing = markdown_path.read_text() if markdown_path.is_file() else None
        write_atomic(markdown_path, breakdown.size_document(target.id, report, existing))
        print(f"markdown: {markdown_path}")
    if json_path is not None:
        write_json_atomic(json_path, breakdown.breakdown_json(report))
        print(f"json: {json_path}")
    return 0


def cmd_bench(ws: Workspace, target: Target, reference: Path | None, runs: int, json_path: Path | None) -> int:
    """Sizes, cold start and memory of the artifact (and of a reference), printed and as JSON."""
    from wasmforge.verifying import bench

    request = bench.BenchRequest(runs=runs, reference=reference)
    reports = bench.run_bench(target, ws.paths.dist_of(target), request)
    print(bench.format_reports(reports))
    if json_path is not None:
        write_json_atomic(json_path, bench.reports_json(reports, runs))
        print(f"json: {json_path}")
    if reports[0].over_budget:
        raise BudgetError(f"{target.id} is over its size budget (matrix.json): {'; '.join(reports[0].budget_overruns)}")
    return 0
