"""Rewrite CPython's wasm stdlib zip so that it is a pure function of the sources.

make's zip (Tools/wasm/wasm_assets.py) stores build-time timestamps and compiles each module with
its absolute build path as co_filename. This keeps exactly the same members but recompiles each
one with co_filename set to where the module lives at run time (inside the zip under --prefix,
as zipimport names it: /usr/local/lib/python313.zip/zipfile/__init__.py), as unchecked
hash-based .pyc files (no source mtime), and writes members sorted with fixed metadata.
With --no-column-positions the code objects keep line numbers but not the column ranges that
tracebacks draw carets from: a traceback through a module in a zip has no source line to draw them
under (the zip holds no .py), and the ranges are about a quarter of each compressed .pyc.
With --packs (the browser build), the zip keeps only the core that start-up needs and every other
top-level module becomes a pack in that directory (a zip of stored members: the server compresses
it whole), with an index (see stdlib_packs.py); each --side-module is copied there as it is and
listed in the index as an extension pack. The modules frozen into the interpreter are left out
there: it never reads their zip copies. Which they are is read from the build Python, which must
run with -X frozen_modules=on (a build tree's interpreter has them off by default).
Run it with the build Python: the bytecode must match the target's version.
"""

import _imp
import argparse
import importlib._bootstrap_external as bootstrap_external
import importlib.util
import os
import sys
import time
import json
import zipfile
from pathlib import Path

import stdlib_packs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zip", type=Path, required=True, help="stdlib zip to rewrite in place")
    parser.add_argument("--srcdir", type=Path, required=True, help="CPython source tree (Lib/ inside)")
    parser.add_argument("--builddir", type=Path, required=True, help="directory holding _sysconfigdata*.py")
    parser.add_argument("--prefix", default="/usr/local", help="install prefix seen at run time")
    parser.add_argument("--add", action="append", default=[], metavar="MODULE.py",
                        help="a Lib/ module make's zip leaves out that the artifact needs (repeatable)")
    parser.add_argument("--extra", action="append", default=[], metavar="MODULE=PATH",
                        help="add the source at PATH as the top-level module MODULE (repeatable)")
    parser.add_argument("--packs", type=Path, metavar="DIR",
                        help="keep only the start-up core in the zip; write the rest as packs and index.json here")
    parser.add_argument("--side-module", action="append", default=[], type=Path, metavar="PATH",
                        help="with --packs: a stdlib extension module built as a side module, shipped as an "
                             "extension pack that the loader puts in lib-dynload (repeatable)")
    parser.add_argument("--stored", action="store_true",
                        help="store members uncompressed: the whole bundle is compressed once in transit, "
                             "which beats compressing each member on its own")
    parser.add_argument("--no-column-positions", action="store_true",
                        help="compile without column positions; the interpreter must run with -X no_debug_ranges")
    return parser.parse_args()


def check_column_positions(wanted: bool) -> None:
    """Refuse a run whose interpreter compiles differently from what the options say, so that a
    PYTHONNODEBUGRANGES left in the environment cannot change the bytes of a build."""
    has_columns = any(column is not None for _, _, column, _ in compile("x", "<probe>", "eval").co_positions())
    if wanted and not has_columns:
        raise SystemExit("normalize_stdlib_zip: the interpreter compiles without column positions "
                         "(PYTHONNODEBUGRANGES or -X no_debug_ranges) but --no-column-positions was not given")
    if not wanted and has_columns:
        raise SystemExit("normalize_stdlib_zip: --no-column-positions needs the interpreter run with -X no_debug_ranges")


def frozen_modules() -> frozenset[str]:
    """The modules frozen into this interpreter, by the name of the module each was frozen from
    (`_frozen_importlib` is importlib._bootstrap); aliases such as `__hello_alias__` name their
    origin. The build Python is built from the same sources as the target, so this is its list."""
    names = _imp._frozen_module_names()
    if "site" not in names:
        raise SystemExit("normalize_stdlib_zip: --packs needs the interpreter run with -X frozen_modules=on "
                         f"(it has only {', '.join(sorted(names))} frozen)")
    origins = set()
    for name in names:
        found = _imp.find_frozen(name)
        origin = found[2] if found is not None and found[2] else name
        # A package's __init__ entry names its origin "<package".
        origins.add(origin.lstrip("<").removesuffix(".__init__"))
    return frozenset(origins)


def source_for(member: str, srcdir: Path, builddir: Path) -> Path:
    relative = member[: -len(".pyc")] + ".py"
    for base in (srcdir / "Lib", builddir):
        candidate = base / relative
        if candidate.is_file():
            return candidate
    raise SystemExit(f"normalize_stdlib_zip: no source for {member}")


def compile_member(source: Path, run_time_path: str) -> bytes:
    data = source.read_bytes()
    code = compile(data, run_time_path, "exec", dont_inherit=True, optimize=0)
    source_hash = importlib.util.source_hash(data)
    return bytes(bootstrap_external._code_to_hash_pyc(code, source_hash, checked=False))


def write_zip(path: Path, payloads: dict[str, bytes], date_time: tuple[int, ...], stored: bool) -> bytes:
    """Members sorted, with fixed metadata; returns the zip's bytes (written atomically)."""
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for member in sorted(payloads):
            info = zipfile.ZipInfo(member, date_time=date_time)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            if stored:
                archive.writestr(info, payloads[member], compress_type=zipfile.ZIP_STORED)
            else:
                archive.writestr(info, payloads[member], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(path)
    return path.read_bytes()


def compiled(members: list[stdlib_packs.Member], zip_dir: str) -> dict[str, bytes]:
    # warnings.warn(skip_file_prefixes=...) and inspect compare co_filename with the module's
    # __file__, which zipimport makes a path inside the zip: they must agree.
    return {member.name: compile_member(member.source, f"{zip_dir}/{member.name[:-1]}") for member in members}


def main() -> None:
    args = parse_args()
    check_column_positions(wanted=not args.no_column_positions)
    frozen = frozen_modules() if args.packs is not None else frozenset()
    epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    # Zip timestamps cannot predate 1980; clamp as reproducible-builds tools do.
    date_time = time.gmtime(max(epoch, 315532800))[:6]
    lib_dir = f"{args.prefix}/lib"
    with zipfile.ZipFile(args.zip) as original:
        names = sorted({info.filename for info in original.infolist()} | {name[: -len(".py")] + ".pyc" for name in args.add})
    for name in names:
        if not name.endswith(".pyc"):
            raise SystemExit(f"normalize_stdlib_zip: unexpected member {name}")
    members = [stdlib_packs.Member(name, source_for(name, args.srcdir, args.builddir)) for name in names]
    for extra in args.extra:
        module, _, path = extra.partition("=")
        members.append(stdlib_packs.Member(module + ".pyc", Path(path)))
    if args.packs is None:
        write_zip(args.zip, compiled(members, f"{lib_dir}/{args.zip.name}"), date_time, args.stored)
        print(f"normalize_stdlib_zip: {len(members)} members rewritten in {args.zip}")
        return
    write_with_packs(args, members, frozen, date_time)


def write_with_packs(args: argparse.Namespace, members: list[stdlib_packs.Member], frozen: frozenset[str],
                     date_time: tuple[int, ...]) -> None:
    lib_dir = f"{args.prefix}/lib"
    args.packs.mkdir(parents=True, exist_ok=True)
    index_source = args.packs.parent / "_wasmforge_pack_index.py"
    index_source.write_text(stdlib_packs.index_module_source(stdlib_packs.Split((), (), ())))
    members.append(stdlib_packs.Member("_wasmforge_pack_index.pyc", index_source))
    result = stdlib_packs.split(members, tuple(path.name for path in args.side_module), frozen)
    index_source.write_text(stdlib_packs.index_module_source(result))
    write_zip(args.zip, compiled(list(result.core), f"{lib_dir}/{args.zip.name}"), date_time, args.stored)
    pack_files = {}
    for pack in result.packs:
        zip_path = args.packs / f"{pack.name}.zip"
        pack_files[pack.name] = write_zip(zip_path, compiled(list(pack.members), f"{lib_dir}/{stdlib_packs.PACK_DIR}/{zip_path.name}"),
                                          date_time, stored=True)
    side_modules = {stdlib_packs.extension_name(path.name): path for path in args.side_module}
    for extension in result.extensions:
        pack_files[extension.name] = side_modules[extension.name].read_bytes()
        (args.packs / extension.file).write_bytes(pack_files[extension.name])
    dynload_dir = f"{lib_dir}/python{sys.version_info.major}.{sys.version_info.minor}/lib-dynload"
    index = json.dumps(stdlib_packs.index_json(result, pack_files, dynload_dir), indent=1, sort_keys=True) + "\n"
    (args.packs / "index.json").write_text(index)
    print(f"normalize_stdlib_zip: {len(result.core)} members in the core {args.zip}, "
          f"{sum(len(pack.members) for pack in result.packs)} in {len(result.packs)} packs and "
          f"{len(result.extensions)} side modules in {args.packs}; {len(result.frozen)} frozen modules left out")


if __name__ == "__main__":
    main()
