"""Rewrite CPython's wasm stdlib zip so that it is a pure function of the sources.

make's zip (Tools/wasm/wasm_assets.py) stores build-time timestamps and compiles each module with
its absolute build path as co_filename. This keeps exactly the same members but recompiles each
one with co_filename set to where the module lives at run time (inside the zip under --prefix,
as zipimport names it: /usr/local/lib/python313.zip/zipfile/__init__.py), as unchecked
hash-based .pyc files (no source mtime), and writes members sorted with fixed metadata.
Run it with the build Python: the bytecode must match the target's version.
"""

import argparse
import importlib._bootstrap_external as bootstrap_external
import importlib.util
import os
import sys
import time
import zipfile
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zip", type=Path, required=True, help="stdlib zip to rewrite in place")
    parser.add_argument("--srcdir", type=Path, required=True, help="CPython source tree (Lib/ inside)")
    parser.add_argument("--builddir", type=Path, required=True, help="directory holding _sysconfigdata*.py")
    parser.add_argument("--prefix", default="/usr/local", help="install prefix seen at run time")
    parser.add_argument("--add", action="append", default=[], metavar="MODULE.py",
                        help="a Lib/ module make's zip leaves out that the artifact needs (repeatable)")
    parser.add_argument("--stored", action="store_true",
                        help="store members uncompressed: the whole bundle is compressed once in transit, "
                             "which beats compressing each member on its own")
    return parser.parse_args()


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


def main() -> None:
    args = parse_args()
    epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    # Zip timestamps cannot predate 1980; clamp as reproducible-builds tools do.
    date_time = time.gmtime(max(epoch, 315532800))[:6]
    # warnings.warn(skip_file_prefixes=...) and inspect compare co_filename with the module's
    # __file__, which zipimport makes a path inside the zip: they must agree.
    zip_dir = f"{args.prefix}/lib/{args.zip.name}"
    with zipfile.ZipFile(args.zip) as original:
        members = sorted({info.filename for info in original.infolist()} | {name[: -len(".py")] + ".pyc" for name in args.add})
    tmp = args.zip.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as rewritten:
        for member in members:
            if not member.endswith(".pyc"):
                raise SystemExit(f"normalize_stdlib_zip: unexpected member {member}")
            source = source_for(member, args.srcdir, args.builddir)
            info = zipfile.ZipInfo(member, date_time=date_time)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            payload = compile_member(source, f"{zip_dir}/{member[:-1]}")
            if args.stored:
                rewritten.writestr(info, payload, compress_type=zipfile.ZIP_STORED)
            else:
                rewritten.writestr(info, payload, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(args.zip)
    print(f"normalize_stdlib_zip: {len(members)} members rewritten in {args.zip}")


if __name__ == "__main__":
    main()
