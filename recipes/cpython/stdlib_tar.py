"""Write the WASI flavor's stdlib as a deterministic .tar.gz laid out as an install prefix.

The archive holds lib/python3.X/ (the sources of Lib/, without the parts that cannot work under
WASI), the build's _sysconfigdata module beside them, and an empty lib/python3.X/lib-dynload/
(CPython's getpath looks for it to set sys.exec_prefix). Extracted and mapped into the guest as
/usr/local, the interpreter's compiled-in prefix, it is found without PYTHONHOME or PYTHONPATH.

Deterministic: members sorted by name, every mtime SOURCE_DATE_EPOCH, uid/gid 0 without names,
fixed modes, GNU format (no pax headers), gzip without a name or timestamp.
Run it with the build Python: the lib/python3.X name comes from its version.
"""

import argparse
import gzip
import io
import os
import sys
import tarfile
from pathlib import Path

# Left out of Lib/ with the reason. test/ is the regression suite (most of Lib's bytes) and needs
# subprocesses; ensurepip bundles a pip wheel that needs the network; idlelib, tkinter and
# turtledemo need Tk, of which there is no WASI build.
OMIT = ("test", "ensurepip", "idlelib", "tkinter", "turtledemo")
SKIPPED_NAMES = ("__pycache__",)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--srcdir", type=Path, required=True, help="CPython source tree (Lib/ inside)")
    parser.add_argument("--builddir", type=Path, required=True, help="directory holding _sysconfigdata*.py")
    parser.add_argument("--out", type=Path, required=True, help="the .tar.gz to write")
    return parser.parse_args()


def stdlib_files(srcdir: Path, builddir: Path) -> dict[str, Path]:
    """Archive path -> file on disk, for every regular file the archive holds."""
    lib = srcdir / "Lib"
    stdlib = f"lib/python{sys.version_info.major}.{sys.version_info.minor}"
    files: dict[str, Path] = {}
    for path in lib.rglob("*"):
        relative = path.relative_to(lib)
        if relative.parts[0] in OMIT or any(part in SKIPPED_NAMES for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            files[f"{stdlib}/{relative.as_posix()}"] = path
    sysconfigdata = sorted(builddir.glob("_sysconfigdata_*.py"))
    if len(sysconfigdata) != 1:
        raise SystemExit(f"stdlib_tar: expected one _sysconfigdata_*.py in {builddir}, found {sysconfigdata}")
    files[f"{stdlib}/{sysconfigdata[0].name}"] = sysconfigdata[0]
    return files


def directories(paths: list[str]) -> set[str]:
    """`paths` and every directory above them, as "a/", "a/b/": the archive lists each one so
    extraction creates them with fixed modes."""
    result = set()
    for path in paths:
        parts = path.split("/")
        result.update("/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1))
    return result


def member(name: str, epoch: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/"))
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if name.endswith("/"):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def write_archive(files: dict[str, Path], empty_dirs: list[str], out: Path, epoch: int) -> None:
    parents = [name.rsplit("/", 1)[0] for name in files]
    names = sorted(directories(parents + empty_dirs) | set(files))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in names:
            if name.endswith("/"):
                archive.addfile(member(name, epoch))
            else:
                data = files[name].read_bytes()
                archive.addfile(member(name, epoch, len(data)), io.BytesIO(data))
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(buffer.getvalue())


def main() -> None:
    args = parse_args()
    epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    files = stdlib_files(args.srcdir, args.builddir)
    dynload = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/lib-dynload"
    write_archive(files, [dynload], args.out, epoch)
    print(f"stdlib_tar: {len(files)} files in {args.out}")


if __name__ == "__main__":
    main()
