"""What each invoke task does; tasks.py only parses arguments and reports errors."""

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from wasmforge.building import build, fetch, toolchain_image as toolchain
from wasmforge.core import log
from wasmforge.rendering import nix, dockerfile as render
from wasmforge.releasing import signing
from wasmforge.core.errors import SignatureError
from wasmforge.releasing.freshness import STATE_FILE, SeenVersions
from wasmforge.model.matrix import Target
from wasmforge.model.paths import default_cache_dir
from wasmforge.releasing.publish import PublishRequest, nightly_version, publish
from wasmforge.releasing.pull import PullRequest, pull
from wasmforge.releasing.release_index import LATEST
from wasmforge.releasing.stores import DEFAULT_STORE, open_store, open_writable_store
from wasmforge.model.workspace import Workspace


def resolve_targets(ws: Workspace, names: list[str]) -> list[Target]:
    """Ids, aliases and globs to targets; every name is checked before anything is built."""
    return ws.matrix.select(names)


def cmd_render(ws: Workspace, check: bool, nix_fixed_output: bool = False) -> int:
    locks = ws.all_locks()
    rendered = render.render_all(ws.matrix, ws.book, locks, ws.paths.docker)
    rendered += nix.render_all(ws, locks, nix.NixOptions(fixed_output=nix_fixed_output))
    managed = [ws.paths.docker, ws.paths.nix]
    if check:
        stale = render.stale_files(rendered, managed)
        if stale:
            names = ", ".join(str(p.relative_to(ws.paths.root)) for p in stale)
            print(f"render --check: stale generated files: {names}; run `invoke render`", file=sys.stderr)
            return 1
        print(f"render --check: {len(rendered)} generated files are current")
        return 0
    touched = render.write_rendered(rendered, managed)
    for path in touched:
        print(f"wrote {path.relative_to(ws.paths.root)}")
    print(f"render: {len(rendered)} files, {len(touched)} changed")
    return 0


def cmd_fetch(ws: Workspace, targets: list[Target]) -> int:
    for target in targets:
        log.info(f"fetch {target.id}")
        components = ws.book.components_for(target)
        image = _image_if_needed(ws, target, components)
        for item in fetch.fetch_sources(components, ws.cache, image):
            log.detail(f"{item.source.file}  {item.source.sha256}  {item.path}")
    return 0


def _image_if_needed(ws: Workspace, target: Target, components: list) -> str | None:
    """Only start the toolchain (for Debian's source mirror) when something is not cached."""
    if all(ws.cache.lookup(c.source.pin()) is not None for c in components):
        return None
    return toolchain.ensure_image(ws.toolchain_spec(target), ws.toolchain_lock(target), ws.cache, ws.workdir)


def cmd_toolchain(ws: Workspace, targets: list[Target]) -> int:
    for target in targets:
        tag = toolchain.ensure_image(ws.toolchain_spec(target), ws.toolchain_lock(target), ws.cache, ws.workdir)
        print(tag)
    return 0


def cmd_lock_toolchain(ws: Workspace, name: str) -> int:
    spec = toolchain.load_spec(ws.paths.toolchains / f"{name}.json")
    result = toolchain.lock(spec, ws.cache, ws.workdir)
    print(f"wrote {result.path} ({len(result.packages)} packages, digest {result.digest})")
    return 0


def cmd_build(ws: Workspace, targets: list[Target], jobs: int | None, nocache: bool) -> int:
    options = build.BuildOptions(nocache=nocache) if jobs is None else build.BuildOptions(jobs=jobs, nocache=nocache)
    if len(targets) == 1:
        # One target: its error, with its own exit code, is the result.
        build.build_target(ws, targets[0], options)
        return 0
    from wasmforge.building import build_many

    outcomes = build_many.build_each(ws, targets, options)
    print(build_many.format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_keygen(out: Path) -> int:
    pair = signing.generate_keypair(out)
    print(f"private key: {pair.private} (keep it offline; it signs releases)")
    print(f"public key:  {pair.public} (pin it: pull --pubkey, or commit it as keys/{signing.PUBLIC_KEY_NAME})")
    print(f"key id:      {pair.key_id}")
    return 0


def cmd_publish(ws: Workspace, target: Target, store_url: str | None, version: str | None, dist: str | None,
                key_path: str | None, expires_days: int) -> int:
    now = datetime.now(timezone.utc)
    request = PublishRequest(
        target_id=target.id,
        dist=Path(dist) if dist else ws.paths.dist / target.id,
        version=version or nightly_version(now),
        key=signing.load_signing_key(_signing_key_path(key_path)),
        schema=ws.paths.schemas / "index.schema.json",
        now=now,
        expires_in=timedelta(days=expires_days),
    )
    publish(open_writable_store(store_url or str(ws.paths.root / DEFAULT_STORE)), request)
    return 0


def cmd_pull(ws: Workspace, target: Target, version: str | None, store_url: str | None, dest: str | None,
             pubkey: str | None, force: bool) -> int:
    request = PullRequest(
        target_id=target.id,
        version=version or LATEST,
        dest=Path(dest) if dest else ws.paths.root / "pulled" / target.id,
        public_key=signing.load_public_key(_public_key_path(ws, pubkey)),
        seen=SeenVersions(default_cache_dir() / STATE_FILE),
        schema=ws.paths.schemas / "index.schema.json",
        now=datetime.now(timezone.utc),
        force=force,
    )
    pull(open_store(store_url or str(ws.paths.root / DEFAULT_STORE)), request)
    return 0


def _signing_key_path(explicit: str | None) -> Path:
    path = explicit or os.environ.get("WASMFORGE_SIGNING_KEY")
    if not path:
        raise SignatureError("no signing key: pass --key PATH or set WASMFORGE_SIGNING_KEY (`invoke keygen --out DIR` makes one)")
    return Path(path)


def _public_key_path(ws: Workspace, explicit: str | None) -> Path:
    """The pinned key: --pubkey, else WASMFORGE_PUBKEY, else the one committed under keys/."""
    path = explicit or os.environ.get("WASMFORGE_PUBKEY")
    return Path(path) if path else ws.paths.root / "keys" / signing.PUBLIC_KEY_NAME


def workspace(root: str | None = None, matrix: str | None = None) -> Workspace:
    return Workspace.load(root=Path(root) if root else None, matrix_path=Path(matrix) if matrix else None)


def cmd_reproduce(ws: Workspace, manifest: Path, source_date_epoch: int | None, workdir: Path | None,
                  jobs: int | None = None) -> int:
    from wasmforge.building import reproduce

    variation = reproduce.Variation() if jobs is None else reproduce.Variation(jobs=jobs)
    result = reproduce.reproduce(ws, manifest, workdir=workdir, source_date_epoch=source_date_epoch, variation=variation)
    print(reproduce.format_table(result.comparisons))
    if result.ok:
        print(f"reproduced: all {len(result.comparisons)} outputs identical (rebuild in {result.rebuild_dir})")
        return 0
    differing = [c.name for c in result.comparisons if not c.ok]
    print(f"NOT reproduced: {', '.join(differing)} differ (rebuild in {result.rebuild_dir})", file=sys.stderr)
    for report in result.reports:
        print(f"diff report: {report}", file=sys.stderr)
    return 1


def cmd_check_reproducible(ws: Workspace, targets: list[Target], jobs: int | None) -> int:
    status = cmd_build(ws, targets, jobs, nocache=False)
    for target in targets:
        manifest = ws.paths.dist / target.id / "manifest.json"
        status = max(status, cmd_reproduce(ws, manifest, None, None))
    return status


def cmd_matrix(ws: Workspace, as_json: bool, markdown: bool, update_readme: bool = False, check_readme: bool = False) -> int:
    from wasmforge.model import matrix_report

    if update_readme or check_readme:
        return _readme_matrix(ws, write=update_readme)
    rows = matrix_report.matrix_rows(ws)
    if as_json:
        print(matrix_report.as_json(rows))
    elif markdown:
        print(matrix_report.as_markdown(rows))
    else:
        print(matrix_report.as_table(rows))
    return 0


def cmd_nightly(ws: Workspace, names: list[str], day: str | None, store_url: str | None, key_path: str | None,
                jobs: int | None) -> int:
    from datetime import date as date_type

    from wasmforge.releasing import nightly

    night = date_type.fromisoformat(day) if day else datetime.now(timezone.utc).date()
    targets = resolve_targets(ws, names) if names else [t for t in ws.matrix.targets if t.support == "supported"]
    key = signing.load_signing_key(_signing_key_path(key_path))
    results = nightly.run_nightly(ws, targets, night, store_url or str(ws.paths.root / DEFAULT_STORE), key, jobs)
    for result in results:
        print(f"{result.version}  {result.target.id}  smoke: {result.smoke}  dist: {result.dist}")
    return 0


def cmd_reproduce_published(ws: Workspace, target: Target, version: str, store_url: str | None, pubkey: str | None,
                            workdir: Path | None) -> int:
    import time as time_module

    from wasmforge.releasing import nightly
    from wasmforge.building import reproduce

    stamp = time_module.strftime("%Y%m%dT%H%M%S", time_module.gmtime())
    where = workdir or ws.paths.build / target.id / f"reproduce-{version}-{stamp}"
    result = nightly.reproduce_from_store(
        ws, store_url or str(ws.paths.root / DEFAULT_STORE), target, version,
        signing.load_public_key(_public_key_path(ws, pubkey)), SeenVersions(default_cache_dir() / STATE_FILE), where,
    )
    print(reproduce.format_table(result.comparisons))
    if result.ok:
        print(f"reproduced {target.id} {version}: all {len(result.comparisons)} outputs identical")
        return 0
    print(f"NOT reproduced: {', '.join(c.name for c in result.comparisons if not c.ok)} differ", file=sys.stderr)
    for report in result.reports:
        print(f"diff report: {report}", file=sys.stderr)
    return 1


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
    from wasmforge.core.errors import ManifestError, RuntimeUnavailableError

    if target.flavor.runtime != "chromium":
        raise RuntimeUnavailableError(f"{target.id}: `serve` is for browser flavors; this one runs on {target.flavor.runtime}")
    dist = ws.paths.dist / target.id
    if not (dist / "python.js").is_file():
        raise ManifestError(f"{dist}: no artifact; run `invoke build --target {target.id}` first")

    def announce(base: str) -> None:
        print(f"serving {dist} with the Python REPL at {base}/ (Ctrl-C stops)", flush=True)

    webserver.serve_until_interrupted(webserver.repl_site(dist), port, announce)
    return 0


def cmd_bench(ws: Workspace, target: Target, reference: Path | None, runs: int, json_path: Path | None) -> int:
    """Sizes, cold start and memory of the artifact (and of a reference), printed and as JSON."""
    from wasmforge.verifying import bench
    from wasmforge.core.hashing import write_json_atomic

    request = bench.BenchRequest(runs=runs, reference=reference)
    reports = bench.run_bench(target, ws.paths.dist / target.id, request)
    print(bench.format_reports(reports))
    if json_path is not None:
        write_json_atomic(json_path, bench.reports_json(reports, runs))
        print(f"json: {json_path}")
    return 0


def _readme_matrix(ws: Workspace, write: bool) -> int:
    from wasmforge.model import matrix_report

    readme = ws.paths.root / "README.md"
    sizes_path = ws.paths.root / matrix_report.SIZES_FILE
    recorded = matrix_report.read_recorded_sizes(sizes_path)
    sizes = matrix_report.record_fresh_sizes(ws, recorded) if write else recorded
    if write and sizes != recorded:
        matrix_report.write_recorded_sizes(sizes_path, sizes)
        changed = [target_id for target_id in sorted(sizes) if recorded.get(target_id) != sizes[target_id]]
        print(f"{sizes_path.name}: recorded the sizes of {', '.join(changed) or 'no new build'}")
    current = readme.read_text(encoding="utf-8")
    wanted = matrix_report.with_readme_table(current, matrix_report.readme_table(ws, sizes))
    if wanted == current:
        print("README.md: the matrix table is current")
        return 0
    if not write:
        print("README.md: the matrix table is stale; run `invoke matrix --update-readme`", file=sys.stderr)
        return 1
    readme.write_text(wanted, encoding="utf-8")
    print("wrote the matrix table into README.md")
    return 0
