"""What each invoke task does; tasks.py only parses arguments and reports errors."""

import sys
from pathlib import Path

from . import build, fetch, log, render, toolchain
from .matrix import Target
from .workspace import Workspace


def resolve_targets(ws: Workspace, names: list[str]) -> list[Target]:
    """Ids, aliases and globs to targets; every name is checked before anything is built."""
    return ws.matrix.select(names)


def cmd_render(ws: Workspace, check: bool) -> int:
    rendered = render.render_all(ws.matrix, ws.book, ws.all_locks(), ws.paths.docker)
    managed = [ws.paths.docker]
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
    from . import build_many

    outcomes = build_many.build_each(ws, targets, options)
    print(build_many.format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def workspace(root: str | None = None, matrix: str | None = None) -> Workspace:
    return Workspace.load(root=Path(root) if root else None, matrix_path=Path(matrix) if matrix else None)


def cmd_reproduce(ws: Workspace, manifest: Path, source_date_epoch: int | None, workdir: Path | None) -> int:
    from . import reproduce

    result = reproduce.reproduce(ws, manifest, workdir=workdir, source_date_epoch=source_date_epoch)
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
    from . import matrix_report

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


def _readme_matrix(ws: Workspace, write: bool) -> int:
    from . import matrix_report

    readme = ws.paths.root / "README.md"
    current = readme.read_text(encoding="utf-8")
    wanted = matrix_report.with_readme_table(current, matrix_report.readme_table(ws))
    if wanted == current:
        print("README.md: the matrix table is current")
        return 0
    if not write:
        print("README.md: the matrix table is stale; run `invoke matrix --update-readme`", file=sys.stderr)
        return 1
    readme.write_text(wanted, encoding="utf-8")
    print("wrote the matrix table into README.md")
    return 0
