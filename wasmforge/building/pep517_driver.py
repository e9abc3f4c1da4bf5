"""Runs inside the toolchain container with its python3 and the standard library only (never
imported by wasmforge): unpack an sdist and call its PEP 517 backend's build_wheel.

    python3 pep517_driver.py SDIST SRC_DIR OUT_DIR

The backend's requirements are on PYTHONPATH already (unpacked pinned wheels), and the target's
_sysconfigdata is what sysconfig reads (_PYTHON_SYSCONFIGDATA_NAME): the caller sets both.
"""

import importlib
import os
import sys
import tarfile
import tomllib
from pathlib import Path

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


def main(sdist: Path, src: Path, out: Path) -> None:
    src.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(src, filter="data")
    tops = sorted(src.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        sys.exit(f"{sdist.name}: an sdist unpacks to one directory, this gives {len(tops)} entries")
    os.chdir(tops[0])
    system = {}
    if Path("pyproject.toml").is_file():
        system = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8")).get("build-system", {})
    for entry in reversed(system.get("backend-path", [])):
        sys.path.insert(0, str(Path(entry).resolve()))
    module_name, _, attribute = system.get("build-backend", LEGACY_BACKEND).partition(":")
    backend = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        backend = getattr(backend, part)
    out.mkdir(parents=True, exist_ok=True)
    name = backend.build_wheel(str(out))
    print(f"[wasmforge] built {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
