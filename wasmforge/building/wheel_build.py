"""`invoke wheel`: an sdist built into a wheel for one emscripten artifact, in the target's
toolchain image with the network off, byte-reproducibly.

The toolchain image's own python3 runs the sdist's PEP 517 backend (pep517_driver.py) with the
pinned build requirements unpacked on PYTHONPATH, and reads the *target's* _sysconfigdata from
the cross-build environment (`_PYTHON_SYSCONFIGDATA_NAME`): compiler, flags, EXT_SUFFIX and the
ABI tag are the artifact's, and `_PYTHON_HOST_PLATFORM` makes the platform tag the artifact's
`sysconfig.get_platform()`. The headers are mounted where that sysconfig says they are
(INCLUDEPY, /usr/local/include/python3.13), and LDSHARED links a side module. The wheel is then
rewritten by wheel_archive.normalize_wheel and must hold at least one extension module.
"""

import os
import secrets
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from wasmforge.building import wheel_archive, wheel_fetch
from wasmforge.building.xbuildenv import Xbuildenv
from wasmforge.core import log
from wasmforge.core.cache import ContentCache
from wasmforge.core.errors import IntegrityError, ReproducibilityError, WheelError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.wheel_lock import LockedFile, WheelLock
from wasmforge.model.wheel_tags import ArtifactTags

DRIVER = Path(__file__).with_name("pep517_driver.py")
# Where the build happens in the container; the rebuild of --check-reproducible uses another.
CONTAINER_ROOT = "/wf/wheel"
REBUILD_ROOT = "/wf/rebuild/elsewhere/wheel"
BUILD_TIMEOUT = 1800


@dataclass(frozen=True, kw_only=True)
class SdistInput:
    """The sdist to build and the build requirements it is built with."""

    path: Path
    name: str  # the sdist's file name (a cached file's path is its sha256)
    sha256: str
    requirements: tuple[LockedFile, ...]
    locked: bool

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".tar.gz").removesuffix(".zip")


@dataclass(frozen=True, kw_only=True)
class WheelRequest:
    tags: ArtifactTags
    toolchain_image: str
    xbuildenv: Xbuildenv
    source_date_epoch: int
    work_root: Path  # scratch directories go below it
    out_dir: Path


@dataclass(frozen=True, kw_only=True)
class BuiltWheel:
    path: Path
    sha256: str
    extension_modules: tuple[str, ...]


@dataclass(frozen=True)
class _Variation:
    """What a rebuild changes on purpose; none of it may reach the wheel."""

    container_root: str = CONTAINER_ROOT
    umask: str = "022"


def resolve_sdist(spec: str, lock: WheelLock, cache: ContentCache) -> SdistInput:
    """A path to an sdist, or a locked name==version fetched into the cache. A file whose name the
    lock knows must have the locked sha256 (IntegrityError naming the file otherwise)."""
    candidate = Path(spec)
    if candidate.is_file():
        locked = lock.sdist_by_file(candidate.name)
        actual = sha256_file(candidate)
        if locked is not None and actual != locked.source.sha256:
            raise IntegrityError(f"{candidate}: sha256 {actual} is not the {locked.source.sha256} that {lock.path.name} pins for {locked.source.spec}; refusing a tampered sdist")
        requires = locked.build_requires if locked else lock.default_build_requires
        return SdistInput(path=candidate, name=candidate.name, sha256=actual, requirements=lock.requirements(requires), locked=locked is not None)
    if "==" not in spec:
        raise WheelError(f"{spec}: no such file, and not a name==version")
    locked = lock.sdist(spec)
    path = wheel_fetch.ensure_cached(locked.source, cache, sdist=True)
    return SdistInput(path=path, name=locked.source.file, sha256=locked.source.sha256, requirements=lock.requirements(locked.build_requires), locked=True)


def build_wheel(sdist: SdistInput, request: WheelRequest, cache: ContentCache) -> BuiltWheel:
    """Build, normalise, check the tags and the extension modules, write into request.out_dir."""
    built = _build_once(sdist, request, _requirement_wheels(sdist, cache), _Variation())
    log.info(f"wheel: {built.path.name} ({built.path.stat().st_size:,} bytes, sha256 {built.sha256})")
    for module in built.extension_modules:
        log.detail(f"  extension module {module}")
    return built


def check_reproducible(sdist: SdistInput, request: WheelRequest, cache: ContentCache) -> tuple[BuiltWheel, BuiltWheel]:
    """Build twice, the second time at another path in the container, another scratch directory
    on the host, a later time and umask 077; the two wheels must be identical."""
    first = build_wheel(sdist, request, cache)
    again = replace(request, out_dir=request.work_root / f"rebuild-{secrets.token_hex(4)}")
    second = _build_once(sdist, again, _requirement_wheels(sdist, cache), _Variation(container_root=REBUILD_ROOT, umask="077"))
    if second.sha256 != first.sha256:
        # The second wheel stays for diffoscope.
        raise ReproducibilityError(f"{first.path.name}: two builds differ: sha256 {first.sha256} and {second.sha256} (second kept in {again.out_dir})")
    shutil.rmtree(again.out_dir, ignore_errors=True)
    log.info(f"reproducible: {first.path.name} built twice, both sha256 {first.sha256}")
    return first, second


def _requirement_wheels(sdist: SdistInput, cache: ContentCache) -> list[Path]:
    return [wheel_fetch.ensure_cached(r, cache, sdist=False) for r in sdist.requirements]


def _build_once(sdist: SdistInput, request: WheelRequest, requirement_wheels: list[Path], variation: _Variation) -> BuiltWheel:
    work = request.work_root / f"{sdist.stem}-{secrets.token_hex(4)}"
    try:
        raw = _run_backend(sdist, request, requirement_wheels, variation, work)
        name = _final_name(raw.name, request.tags)
        destination = request.out_dir / name
        contents = wheel_archive.normalize_wheel(raw, destination, epoch=request.source_date_epoch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if contents.tags != (request.tags.wheel_tag,):
        destination.unlink(missing_ok=True)
        raise WheelError(f"{name}: tagged {', '.join(contents.tags)}, expected {request.tags.wheel_tag}")
    modules = contents.extension_modules(request.xbuildenv.ext_suffix)
    if not modules:
        destination.unlink(missing_ok=True)
        raise WheelError(f"{name}: holds no extension module (*{request.xbuildenv.ext_suffix}); the package fell back to pure Python")
    return BuiltWheel(path=destination, sha256=sha256_file(destination), extension_modules=modules)


def _run_backend(sdist: SdistInput, request: WheelRequest, requirement_wheels: list[Path], variation: _Variation,
                 work: Path) -> Path:
    """The raw wheel the backend wrote, from one networkless container."""
    (work / "requires").mkdir(parents=True)
    (work / "out").mkdir()
    for wheel in requirement_wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(work / "requires")
    with tarfile.open(request.xbuildenv.path) as archive:
        archive.extractall(work / "xbuildenv", filter="data")
    [env_top] = sorted((work / "xbuildenv").iterdir())
    shutil.copyfile(sdist.path, work / "sdist.tar.gz")
    shutil.copyfile(DRIVER, work / "pep517_driver.py")
    info = request.xbuildenv.info
    root = variation.container_root
    side = info["side_module"]
    environment = {
        "SOURCE_DATE_EPOCH": str(request.source_date_epoch), "TZ": "UTC", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
        "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{root}/requires:/wf/xbuildenv/sysconfig",
        "_PYTHON_SYSCONFIGDATA_NAME": request.xbuildenv.sysconfigdata_name,
        "_PYTHON_HOST_PLATFORM": request.tags.platform,
        # distutils takes these instead of the build's LDSHARED (a static wasm object, not a
        # side module) and CFLAGS: the build's flags without the include directory (mounted
        # where INCLUDEPY says), and the source tree's path kept out of the module.
        "LDSHARED": " ".join([side["cc"], *side["ldflags"]]),
        "CFLAGS": " ".join([*(f for f in side["cflags"] if not f.startswith("-I")), f"-ffile-prefix-map={root}/src=/wasmforge/src"]),
    }
    command = ["docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
               "-v", f"{work}:{root}", "-v", f"{env_top}:/wf/xbuildenv:ro",
               "-v", f"{env_top / info['include_dir']}:{info['makefile_vars']['INCLUDEPY']}:ro",
               *[arg for key, value in sorted(environment.items()) for arg in ("-e", f"{key}={value}")],
               request.toolchain_image, "/bin/sh", "-c",
               f'umask {variation.umask} && exec python3 "$0"/pep517_driver.py "$0"/sdist.tar.gz "$0"/src "$0"/out', root]
    log_path = request.work_root / f"{sdist.stem}.log"
    log.detail(f"building {sdist.name} in {request.toolchain_image} (network off; log {log_path})")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as output:
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        tail = " | ".join(line for line in log_path.read_text(errors="replace").splitlines()[-3:] if line.strip())
        raise WheelError(f"{sdist.name}: the build failed (exit {result.returncode}, log {log_path}): {tail[-400:]}")
    built = sorted((work / "out").glob("*.whl"))
    if len(built) != 1:
        raise WheelError(f"{sdist.name}: the backend left {len(built)} wheels (log {log_path})")
    return built[0]


def _final_name(raw_name: str, tags: ArtifactTags) -> str:
    if raw_name.endswith("-none-any.whl"):
        raise WheelError(f"{raw_name}: holds no extension module; the package fell back to pure Python (see the build log)")
    if not raw_name.endswith(f"-{tags.wheel_tag}.whl"):
        raise WheelError(f"{raw_name}: the backend tagged it otherwise than {tags.wheel_tag}")
    return raw_name
