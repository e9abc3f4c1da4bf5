"""`invoke matrix`: every entry with its aliases, support level and last build, as a table or JSON."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from wasmforge.core.errors import RenderError
from wasmforge.core.files import gzip_size, write_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import Manifest, read_manifest
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace

README_START = "<!-- matrix:start -->"
README_END = "<!-- matrix:end -->"
# Sizes of the last build of each target recorded for the README: a committed file, so that the
# README table (and its check in CI) never depends on what one machine has in dist/.
SIZES_FILE = "build-sizes.json"
# What a page fetches before Python prints, for an artifact that preloads its file system
# (the browser flavor); the stdlib packs come later, on import.
PAGE_START_FILES = ("python.js", "python.wasm", "python.data")


@dataclass(frozen=True, kw_only=True)
class RecordedSize:
    raw: int
    gzip: int
    manifest_sha256: str
    # gzip -9 of PAGE_START_FILES, for an artifact a page loads; None for the others
    initial_gzip: int | None = None
    # What built it: `reproduce --target` refuses a record from other recipes or another toolchain
    # (None in records older than these fields).
    recipe_digest: str | None = None
    lock_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class MatrixRow:
    id: str
    aliases: list[str]
    python: str
    sdk: str
    flavor: str
    flags: list[str]
    support: str
    built: bool
    size_raw: int | None
    size_gzip: int | None


def matrix_rows(ws: Workspace) -> list[MatrixRow]:
    rows = []
    for target in ws.matrix.targets:
        dist = ws.paths.dist_of(target)
        raw, gz = _sizes(dist)
        rows.append(MatrixRow(
            id=target.id, aliases=list(target.aliases), python=target.python.version,
            sdk=f"{target.sdk.kind} {target.sdk.version}", flavor=target.flavor.name, flags=list(target.flags),
            support=target.support, built=raw is not None, size_raw=raw, size_gzip=gz,
        ))
    return rows


def _sizes(dist: Path) -> tuple[int | None, int | None]:
    manifest_path = dist / "manifest.json"
    if not manifest_path.is_file():
        return None, None
    return _sizes_of(dist, read_manifest(manifest_path))


def _sizes_of(dist: Path, manifest: Manifest) -> tuple[int, int]:
    raw = sum(o.size for o in manifest.outputs)
    return raw, sum(output_gzip_sizes(dist, manifest).values())


def output_gzip_sizes(dist: Path, manifest: Manifest) -> dict[str, int]:
    """gzip -9 bytes of each output `dist` holds."""
    return {o.name: gzip_size(dist / o.name) for o in manifest.outputs if (dist / o.name).is_file()}


def page_start_gzip(gzip_sizes: dict[str, int]) -> int | None:
    """gzip -9 bytes of what a page fetches before Python prints, from output_gzip_sizes; None if
    the artifact preloads nothing."""
    if not set(PAGE_START_FILES) <= set(gzip_sizes):
        return None
    return sum(gzip_sizes[name] for name in PAGE_START_FILES)


def as_json(rows: list[MatrixRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def as_table(rows: list[MatrixRow]) -> str:
    header = ("target", "aliases", "support", "flags", "last build", "size (raw / gzip)")
    body = [
        (
            r.id, ", ".join(r.aliases) or "-", r.support, ", ".join(r.flags) or "-",
            "built" if r.built else "not built",
            f"{r.size_raw:,} / {r.size_gzip:,}" if r.size_raw is not None and r.size_gzip is not None else "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in (header, *body)) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def as_markdown(rows: list[MatrixRow]) -> str:
    lines = ["| target | aliases | support | flags | last build | size raw / gzip (bytes) |", "|---|---|---|---|---|---|"]
    for r in rows:
        size = f"{r.size_raw:,} / {r.size_gzip:,}" if r.size_raw is not None and r.size_gzip is not None else "-"
        lines.append(f"| `{r.id}` | {', '.join(r.aliases) or '-'} | {r.support} | {', '.join(r.flags) or '-'} | "
                     f"{'built' if r.built else 'not built'} | {size} |")
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class ReadmeCheck:
    current: bool
    messages: tuple[str, ...]


def update_readme(ws: Workspace, write: bool) -> ReadmeCheck:
    """Compare README.md's matrix table with matrix.json and build-sizes.json; with `write`, first
    record this machine's fresh builds in build-sizes.json, then rewrite the table."""
    readme = ws.paths.root / "README.md"
    sizes_path = ws.paths.root / SIZES_FILE
    recorded = read_recorded_sizes(sizes_path)
    sizes = record_fresh_sizes(ws, recorded) if write else recorded
    messages: list[str] = []
    if write and sizes != recorded:
        write_recorded_sizes(sizes_path, sizes)
        changed = [target_id for target_id in sorted(sizes) if recorded.get(target_id) != sizes[target_id]]
        messages.append(f"{sizes_path.name}: recorded the sizes of {', '.join(changed) or 'no new build'}")
    current = readme.read_text(encoding="utf-8")
    wanted = with_readme_table(current, readme_table(ws, sizes))
    if wanted == current:
        return ReadmeCheck(current=True, messages=(*messages, "README.md: the matrix table is current"))
    if not write:
        return ReadmeCheck(current=False, messages=(*messages, "README.md: the matrix table is stale; run `invoke matrix --update-readme`"))
    write_atomic(readme, wanted)
    return ReadmeCheck(current=True, messages=(*messages, "wrote the matrix table into README.md"))


def read_recorded_sizes(path: Path) -> dict[str, RecordedSize]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {target_id: RecordedSize(**entry) for target_id, entry in data.items()}
    except (ValueError, TypeError) as exc:
        raise RenderError(f"{path.name}: not a map of target id to raw, gzip and manifest_sha256 ({exc})") from None


def write_recorded_sizes(path: Path, sizes: dict[str, RecordedSize]) -> None:
    data = {target_id: asdict(size) for target_id, size in sorted(sizes.items())}
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def record_fresh_sizes(ws: Workspace, recorded: dict[str, RecordedSize]) -> dict[str, RecordedSize]:
    """`recorded`, updated from dist/ for every target built here from today's recipes and
    toolchain lock; targets gone from the matrix are dropped, stale builds are not recorded."""
    known = set(ws.matrix.target_ids())
    sizes = {target_id: size for target_id, size in recorded.items() if target_id in known}
    for target in ws.matrix.targets:
        dist = ws.paths.dist_of(target)
        manifest_path = dist / "manifest.json"
        if not manifest_path.is_file():
            continue
        manifest = read_manifest(manifest_path)
        plan = plan_for(ws, target)
        fresh = (manifest.recipe_digest == plan.recipe_digest
                 and manifest.toolchain.get("lock_digest") == plan.toolchain_lock.digest)
        if not fresh:
            continue
        gzip_sizes = output_gzip_sizes(dist, manifest)
        sizes[target.id] = RecordedSize(raw=sum(o.size for o in manifest.outputs), gzip=sum(gzip_sizes.values()),
                                        manifest_sha256=sha256_file(manifest_path), initial_gzip=page_start_gzip(gzip_sizes),
                                        recipe_digest=plan.recipe_digest, lock_digest=plan.toolchain_lock.digest)
    return sizes


def readme_table(ws: Workspace, sizes: dict[str, RecordedSize]) -> str:
    """The matrix as the README shows it: what matrix.json says, plus the sizes recorded in
    build-sizes.json (never dist/), so the committed table does not depend on this machine."""
    lines = [
        "| target | alias | python | SDK | flavor (runtime) | flags | support | size raw / gzip -9 (bytes) | initial download, gzip -9 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for target in ws.matrix.targets:
        size = sizes.get(target.id)
        shown = f"{size.raw:,} / {size.gzip:,}" if size else "not recorded"
        initial = f"{size.initial_gzip:,}" if size and size.initial_gzip is not None else "-"
        lines.append(
            f"| `{target.id}` | {', '.join(f'`{a}`' for a in target.aliases) or '-'} | {target.python.version} | "
            f"{target.sdk.kind} {target.sdk.version} | {target.flavor.name} ({target.flavor.runtime}) | "
            f"{', '.join(target.flags) or '-'} | {target.support} | {shown} | {initial} |"
        )
    lines += ["", "Python releases and the SDK versions each needs (asking for a target with an older SDK fails saying so):", "", "| python | version | support | needs |", "|---|---|---|---|"]
    lines += [
        f"| {p.minor} | {p.version} | {p.support} | "
        f"{', '.join(f'{kind} {spec}' for kind, spec in sorted(p.sdk_requirements.items())) or '-'} |"
        for p in ws.matrix.pythons.values()
    ]
    excluded = [
        f"| {_describe_exclusion(e.python, e.sdk, e.flavor, e.flags)} | {e.reason} |" for e in ws.matrix.exclusions
    ]
    if excluded:
        lines += ["", "Excluded combinations (asking for one fails with its reason):", "", "| combination | reason |", "|---|---|"]
        lines += excluded
    return "\n".join(lines)


def _describe_exclusion(python: str | None, sdk: str | None, flavor: str | None, flags: tuple[str, ...]) -> str:
    parts = [f"python {python}" if python else "", f"SDK {sdk}" if sdk else "", f"flavor {flavor}" if flavor else ""]
    parts.append(" + ".join(flags))
    return ", ".join(part for part in parts if part) or "any"


def with_readme_table(text: str, table: str, name: str = "README.md") -> str:
    """`text` with everything between the matrix markers replaced by `table`."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise RenderError(f"{name}: no {README_START} ... {README_END} markers to write the matrix table between")
    return text[: start + len(README_START)] + "\n" + table + "\n" + text[end:]
