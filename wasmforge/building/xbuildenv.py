"""`invoke xbuildenv`: the cross-build environment of an emscripten artifact, made from its build
image, as one deterministic `xbuildenv-<target-id>.tar.gz`.

It holds what compiling a side module against that very build needs (see
docs/extension-modules.md): CPython's headers with the build's pyconfig.h, the build's
`_sysconfigdata` and Makefile, and `xbuildenv.json` with the platform and wheel tags, the
side-module compile and link flags, the Python and SDK versions, the toolchain lock digest and the
sha256 of the artifact's manifest. It is made after the build, not by it: as an output of the
build it would count against the artifact's size budgets and change every recorded manifest.

The build image tag (`wasmforge-build:<target-id>`) moves with every build of the target, so the
image's outputs are compared with dist/<target-id>/manifest.json first: the environment always
describes the artifact in dist/, or is not made.
"""

import ast
import gzip
import hashlib
import io
import json
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors

from wasmforge.building import docker_engine
from wasmforge.core import log
from wasmforge.core.errors import XbuildenvError
from wasmforge.core.files import atomic_output
from wasmforge.core.hashing import sha256_file
from wasmforge.model.manifest import MANIFEST, Manifest, read_manifest
from wasmforge.model.matrix import Target
from wasmforge.model.wheel_tags import artifact_tags

SCHEMA_VERSION = 1
INFO_FILE = "xbuildenv.json"
# sysconfig.get_platform() of the WASI interpreter (os.uname(): wasi, wasm32). No wheel tag is
# claimed for it: WASI has no dynamic loading, so an extension module is linked in, not installed.
WASI_PLATFORM = "wasi-wasm32"
# The environment's static libraries (WASI), and where the recipes install theirs in the image.
LIB_DIR = "lib"
PREFIX_LIB = "/wf/prefix/lib"
# Where recipes/cpython/build.sh leaves the tree (the plan's WF_BUILD for cpython).
CPYTHON_TREE = "/wf/build/cpython"
HOST_BUILDDIR = f"{CPYTHON_TREE}/builddir/host"
# Side modules: what CPython's own configure gives BLDSHARED for --enable-wasm-dynamic-linking,
# and int64 as BigInt as the main module was linked (configure's LDFLAGS_NODIST). The main
# module's other link flags (file systems, memory, pre-js files, NODERAWFS) are not a side
# module's business.
SIDE_MODULE_LDFLAGS = ("-shared", "-sSIDE_MODULE=1", "-sWASM_BIGINT")
# Makefile-level variables worth reading without parsing the Makefile.
MAKEFILE_VARS = (
    "CC", "CXX", "AR", "CFLAGS", "CCSHARED", "OPT", "CONFIGURE_CFLAGS", "CFLAGS_NODIST", "LDFLAGS", "LDSHARED",
    "BLDSHARED", "LDFLAGS_NODIST", "LINKFORSHARED", "EXT_SUFFIX", "SOABI", "MULTIARCH", "HOST_GNU_TYPE",
    "VERSION", "INCLUDEPY", "Py_DEBUG", "Py_ENABLE_SHARED",
)


@dataclass(frozen=True, kw_only=True)
class Xbuildenv:
    path: Path
    info: dict[str, Any]

    @property
    def sysconfigdata_name(self) -> str:
        return str(self.info["sysconfigdata"]["name"])

    @property
    def ext_suffix(self) -> str:
        return str(self.info["ext_suffix"])


def xbuildenv_path(dist_root: Path, target: Target) -> Path:
    return dist_root / "xbuildenv" / f"xbuildenv-{target.id}.tar.gz"


def has_xbuildenv(target: Target) -> bool:
    """WASI builds embed; emscripten builds need dynamic linking to load what is built against them."""
    return target.sdk.kind == "wasi" or target.has_flag("dynamic-linking")


def make_xbuildenv(target: Target, dist: Path, destination: Path) -> Xbuildenv:
    """Read the build image of `target`, check it built `dist`, write the archive atomically."""
    if not has_xbuildenv(target):
        raise XbuildenvError(f"{target.id}: has no dynamic-linking flag, so it cannot load side modules; no cross-build environment")
    manifest = read_manifest(dist / MANIFEST)
    image = f"wasmforge-build:{target.id}"
    include = "include/python{}".format(target.python.version.rsplit(".", 1)[0])
    if target.sdk.kind == "wasi":
        files = _files_from_image(image, manifest, include, static_libraries=True)
        sysconfigdata = _sysconfigdata_file(files)
        variables = _sysconfig_vars(files[f"sysconfig/{sysconfigdata}"], image)
        info = _info(target, manifest, sha256_file(dist / MANIFEST), variables, sysconfigdata, include)
        info.update(platform=WASI_PLATFORM, embed=embed_flags(variables, include, files))
    else:
        tags = artifact_tags(target)
        files = _files_from_image(image, manifest, include, static_libraries=False)
        sysconfigdata = _sysconfigdata_file(files)
        variables = _sysconfig_vars(files[f"sysconfig/{sysconfigdata}"], image)
        info = _info(target, manifest, sha256_file(dist / MANIFEST), variables, sysconfigdata, include)
        info.update(
            platform=tags.platform,
            wheel_tag={"python": tags.python, "abi": tags.abi, "platform": tags.platform_tag},
            side_module=side_module_flags(variables, include),
        )
    files[INFO_FILE] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    write_archive(destination, f"xbuildenv-{target.id}", files, manifest.source_date_epoch)
    log.info(f"xbuildenv: {destination} ({destination.stat().st_size:,} bytes, sha256 {sha256_file(destination)})")
    return Xbuildenv(path=destination, info=info)


def load_xbuildenv(path: Path) -> Xbuildenv:
    with tarfile.open(path) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith(f"/{INFO_FILE}")), None)
        if member is None:
            raise XbuildenvError(f"{path}: no {INFO_FILE}; not a wasmforge cross-build environment")
        extracted = archive.extractfile(member)
        assert extracted is not None
        return Xbuildenv(path=path, info=json.loads(extracted.read()))


def write_archive(destination: Path, top: str, files: dict[str, bytes], epoch: int) -> None:
    """A tar.gz of `files` under `top/`: sorted, directories made explicit, mtime `epoch`, owner
    0:0 without names, modes 0644/0755, ustar (no pax headers), gzip without name or time."""
    directories = sorted({str(parent) for name in files for parent in PurePosixPath(name).parents if str(parent) != "."})
    with atomic_output(destination, mode=0o644) as handle:
        with gzip.GzipFile(filename="", mode="wb", fileobj=handle, compresslevel=9, mtime=0) as zipped:
            with tarfile.open(fileobj=zipped, mode="w", format=tarfile.USTAR_FORMAT) as archive:
                for name in [top] + [f"{top}/{d}" for d in directories]:
                    archive.addfile(_member(name, tarfile.DIRTYPE, 0o755, 0, epoch))
                for name in sorted(files):
                    data = files[name]
                    archive.addfile(_member(f"{top}/{name}", tarfile.REGTYPE, 0o644, len(data), epoch), io.BytesIO(data))


def _member(name: str, kind: bytes, mode: int, size: int, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _files_from_image(image: str, manifest: Manifest, include: str, *, static_libraries: bool) -> dict[str, bytes]:
    """The archive's files, keyed by their path in it, from one container of the image. With
    `static_libraries` (WASI: embedding), also libpython and every static library its link uses:
    the recipes' libraries from the prefix, and the ones CPython's build makes (expat, HACL*)."""
    try:
        with docker_engine.created_container(image) as container:
            outputs = _regular_files(container, "/wf/out")
            _check_same_build(image, manifest, outputs)
            headers = _regular_files(container, f"{CPYTHON_TREE}/Include")
            host = {name: _one_file(container, f"{HOST_BUILDDIR}/{name}") for name in ("pyconfig.h", "Makefile", "pybuilddir.txt")}
            builddir = host["pybuilddir.txt"].decode().strip()
            sysconfig = {n: d for n, d in _regular_files(container, f"{HOST_BUILDDIR}/{builddir}").items()
                         if n.startswith("_sysconfigdata_") and n.endswith(".py")}
            libraries = _static_libraries(container, _only_vars(sysconfig, image)) if static_libraries else {}
    except docker.errors.ImageNotFound:
        raise XbuildenvError(f"{image}: no such image; the cross-build environment is made from the target's build image (`invoke build`)") from None
    files = {f"{include}/{name}": data for name, data in headers.items() if name.endswith(".h")}
    files[f"{include}/pyconfig.h"] = host["pyconfig.h"]
    files["sysconfig/Makefile"] = host["Makefile"]
    files.update({f"sysconfig/{name}": data for name, data in sysconfig.items()})
    files.update({f"{LIB_DIR}/{name}": data for name, data in libraries.items()})
    return files


def _only_vars(sysconfig: dict[str, bytes], image: str) -> dict[str, Any]:
    _sysconfigdata_file({f"sysconfig/{name}": data for name, data in sysconfig.items()})
    return _sysconfig_vars(next(iter(sysconfig.values())), image)


def _static_libraries(container: Any, variables: dict[str, Any]) -> dict[str, bytes]:
    """libpython and the static libraries of the interpreter's link, by file name."""
    found = {name: data for name, data in _regular_files(container, PREFIX_LIB).items() if name.endswith(".a") and "/" not in name}
    library = str(variables.get("LIBRARY", ""))
    if not library.endswith(".a"):
        raise XbuildenvError(f"the build's LIBRARY is {library!r}: not a static libpython, nothing to embed")
    found[library] = _one_file(container, f"{HOST_BUILDDIR}/{library}")
    for word in shlex.split(str(variables.get("MODLIBS", ""))):
        if word.endswith(".a") and not word.startswith("-"):
            found[PurePosixPath(word).name] = _one_file(container, f"{HOST_BUILDDIR}/{word}")
    return found


def _check_same_build(image: str, manifest: Manifest, outputs: dict[str, bytes]) -> None:
    expected = {o.name: o.sha256 for o in manifest.outputs}
    actual = {name: hashlib.sha256(data).hexdigest() for name, data in outputs.items()}
    if actual != expected:
        differing = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
        raise XbuildenvError(
            f"{image} is not the build of dist/{manifest.target['id']}/ ({', '.join(differing[:3])} differ); "
            f"build the target again (`invoke build --target {manifest.target['id']}`)"
        )


def _regular_files(container: Any, directory: str) -> dict[str, bytes]:
    """Regular files under `directory` of a container, keyed by their path below it."""
    stream, _ = container.get_archive(f"{directory}/.")
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            if member.isfile() and parts and ".." not in parts and parts[0] != "/":
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[PurePosixPath(*parts).as_posix()] = extracted.read()
    return files


def _one_file(container: Any, path: str) -> bytes:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.getmembers()[0]
        extracted = archive.extractfile(member)
        if extracted is None:
            raise XbuildenvError(f"{path}: not a regular file in the build image")
        return extracted.read()


def _sysconfigdata_file(files: dict[str, bytes]) -> str:
    found = sorted(name.removeprefix("sysconfig/") for name in files if name.startswith("sysconfig/_sysconfigdata_"))
    if len(found) != 1:
        raise XbuildenvError(f"the build image has {len(found)} _sysconfigdata files ({', '.join(found)}), expected one")
    return found[0]


def _sysconfig_vars(source: bytes, image: str) -> dict[str, Any]:
    """build_time_vars of a _sysconfigdata module, read as a literal (never executed)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise XbuildenvError(f"{image}: its _sysconfigdata has no build_time_vars")


def _info(target: Target, manifest: Manifest, manifest_sha256: str, variables: dict[str, Any],
          sysconfigdata: str, include: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "target": manifest.target,
        "python_version": target.python.version,
        "sdk": {"kind": target.sdk.kind, "version": target.sdk.version},
        "toolchain": manifest.toolchain,
        "artifact": {"manifest_sha256": manifest_sha256, "source_date_epoch": manifest.source_date_epoch},
        "soabi": variables["SOABI"],
        "ext_suffix": variables["EXT_SUFFIX"],
        "include_dir": include,
        "sysconfigdata": {"file": f"sysconfig/{sysconfigdata}", "name": sysconfigdata.removesuffix(".py")},
        "makefile": "sysconfig/Makefile",
        "makefile_vars": {name: variables.get(name) for name in MAKEFILE_VARS},
    }


def embed_flags(variables: dict[str, Any], include: str, files: dict[str, bytes]) -> dict[str, Any]:
    """How to compile and link a program that embeds CPython, as argument lists (paths relative
    to the environment's top directory): the interpreter's own link (CPython's Makefile links
    python.wasm as `LINKCC PY_CORE_LDFLAGS LINKFORSHARED -o python.wasm Programs/python.o <the
    library's objects> LIBS MODLIBS SYSLIBS`), with libpython in place of the objects and every
    static library taken from the environment's lib/."""
    libraries = [f"{LIB_DIR}/{variables['LIBRARY']}"]
    for word in shlex.split(str(variables["MODLIBS"])):
        if word.startswith("-L"):
            continue  # a build path; the environment's lib/ is searched instead
        if word.endswith(".a"):
            word = f"{LIB_DIR}/{PurePosixPath(word).name}"
        libraries.append(word)
    missing = [word for word in libraries if word.startswith(f"{LIB_DIR}/") and word not in files]
    if missing:
        raise XbuildenvError(f"the embedding link needs {', '.join(missing)}, which the build image does not have")
    cflags = [flag for flag in shlex.split(str(variables["CFLAGS"])) if not flag.startswith("-ffile-prefix-map=")]
    return {
        "cc": str(variables["CC"]),
        "cflags": cflags + [f"-I{include}"],
        "ldflags": shlex.split(str(variables["PY_CORE_LDFLAGS"])) + shlex.split(str(variables["LINKFORSHARED"])),
        "libs": [f"-L{LIB_DIR}", *libraries, *shlex.split(str(variables["LIBS"])), *shlex.split(str(variables["SYSLIBS"]))],
    }


def side_module_flags(variables: dict[str, Any], include: str) -> dict[str, Any]:
    """How to compile and link one extension module, as argument lists (paths relative to the
    environment's top directory). Compile flags are the build's CFLAGS (without its own
    -ffile-prefix-map, which names CPython's source tree) and CCSHARED (-fPIC)."""
    cflags = [flag for flag in shlex.split(str(variables["CFLAGS"])) if not flag.startswith("-ffile-prefix-map=")]
    return {
        "cc": str(variables["CC"]),
        "cflags": cflags + shlex.split(str(variables["CCSHARED"])) + [f"-I{include}"],
        "ldflags": list(SIDE_MODULE_LDFLAGS),
        "ext_suffix": variables["EXT_SUFFIX"],
    }
