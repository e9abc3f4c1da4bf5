"""Toolchain images made without a container registry.

`lock` resolves a spec once, with debootstrap and apt, into every .deb of the image with its
version and sha256. `ensure_image` rebuilds the root file system from the lock, installing exactly
the locked files, and imports it into Docker under a tag derived from the lock's digest: the lock,
not the image id (which `docker import` changes every time), identifies the toolchain.
"""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from wasmforge.core import log
from wasmforge.core.cache import ContentCache
from wasmforge.core.errors import ToolchainError
from wasmforge.core.files import write_json_atomic
from wasmforge.core.hashing import sha256_file
from wasmforge.core.proc import run
from wasmforge.model.toolchains import APT_UPDATE, LockedPackage, ToolchainLock, ToolchainSpec, lock_to_json

SEEDED_DEBS = "/var/cache/wasmforge-debs"


# --- root file systems -------------------------------------------------------------------


@contextmanager
def mounted_proc(rootfs: Path) -> Iterator[None]:
    proc_dir = rootfs / "proc"
    proc_dir.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=False)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(proc_dir)], check=False)


def chroot(rootfs: Path, script: str, *, what: str, log_path: Path) -> None:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
        "HOME": "/root",
    }
    run(["chroot", str(rootfs), "/bin/sh", "-ec", script], error=ToolchainError, what=what, env=env, log_path=log_path)


def debootstrap(spec: ToolchainSpec, rootfs: Path, log_path: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise ToolchainError("debootstrap is not installed on this machine (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise ToolchainError("making a toolchain root file system needs root (debootstrap, chroot)")
    log.detail(f"debootstrap --variant={spec.variant} {spec.suite} (log: {log_path})")
    # No mirror argument: debootstrap and apt use their own default archive.
    run(
        ["debootstrap", f"--variant={spec.variant}", f"--arch={spec.architecture}", spec.suite, str(rootfs)],
        error=ToolchainError,
        what=f"debootstrap {spec.suite}",
        log_path=log_path,
    )


def installed_packages(rootfs: Path) -> dict[str, tuple[str, str]]:
    out = run(
        ["chroot", str(rootfs), "dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture}\n"],
        error=ToolchainError,
        what="dpkg-query",
        capture=True,
    )
    result: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        name, version, arch = line.split()
        result[name] = (version, arch)
    return result


def deb_filename(name: str, version: str, arch: str) -> str:
    # apt stores epochs ("1:19.1.7") percent-encoded in archive file names.
    return f"{name}_{version.replace(':', '%3a')}_{arch}.deb"


def archives_dir(rootfs: Path) -> Path:
    return rootfs / "var" / "cache" / "apt" / "archives"


# --- lock --------------------------------------------------------------------------------


def lock(spec: ToolchainSpec, cache: ContentCache, workdir: Path) -> ToolchainLock:
    """Resolve the spec against Debian's archive today and write its lock (and cache every .deb)."""
    rootfs = workdir / f"lock-{spec.name}"
    shutil.rmtree(rootfs, ignore_errors=True)
    log_path = workdir / f"lock-{spec.name}.log"
    log_path.unlink(missing_ok=True)
    try:
        debootstrap(spec, rootfs, log_path)
        packages = " ".join(spec.packages)
        with mounted_proc(rootfs):
            chroot(
                rootfs,
                f"{APT_UPDATE} && apt-get install -y -q --no-install-recommends {packages}",
                what=f"installing {spec.name} packages",
                log_path=log_path,
            )
        locked = []
        for name, (version, arch) in sorted(installed_packages(rootfs).items()):
            deb = archives_dir(rootfs) / deb_filename(name, version, arch)
            if not deb.is_file():
                raise ToolchainError(f"{spec.name}: installed {name} {version} but its .deb {deb.name} is not in apt's archive")
            entry = LockedPackage(
                name=name, version=version, architecture=arch, filename=deb.name,
                size=deb.stat().st_size, sha256=sha256_file(deb),
            )
            cache.add(deb, entry.pin(), origin=f"apt archive ({spec.suite})")
            locked.append(entry)
        result = ToolchainLock(
            toolchain=spec.name, suite=spec.suite, architecture=spec.architecture,
            packages=tuple(locked), path=spec.lock_path,
        )
        write_json_atomic(spec.lock_path, lock_to_json(result))
        return result
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


# --- image -------------------------------------------------------------------------------


def image_exists(tag: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True)
    return result.returncode == 0


def ensure_image(spec: ToolchainSpec, lock_: ToolchainLock, cache: ContentCache, workdir: Path) -> str:
    """Return the image tag for this lock, building and importing the image if it is missing."""
    tag = lock_.image_tag
    if image_exists(tag):
        log.detail(f"toolchain image {tag} present (lock {lock_.path.name})")
        return tag
    log.info(f"building toolchain image {tag} from {lock_.path}")
    rootfs = workdir / f"rootfs-{spec.name}"
    shutil.rmtree(rootfs, ignore_errors=True)
    log_path = workdir / f"toolchain-{spec.name}.log"
    log_path.unlink(missing_ok=True)
    try:
        debootstrap(spec, rootfs, log_path)
        install_locked(rootfs, lock_, cache, log_path)
        verify_installed(rootfs, lock_)
        cache_downloaded_debs(rootfs, lock_, cache)
        finish_rootfs(rootfs, log_path)
        import_image(rootfs, tag, lock_)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    log.detail(f"imported {tag}")
    return tag


def install_locked(rootfs: Path, lock_: ToolchainLock, cache: ContentCache, log_path: Path) -> None:
    """Install every locked package: from the verified cache when we have it, else by name=version."""
    seeded = rootfs / SEEDED_DEBS.lstrip("/")
    seeded.mkdir(parents=True, exist_ok=True)
    wanted: list[str] = []
    for package in lock_.packages:
        cached = cache.lookup(package.pin())
        if cached is not None:
            shutil.copyfile(cached, seeded / package.filename)
            wanted.append(f"{SEEDED_DEBS}/{package.filename}")
        else:
            wanted.append(f"{package.name}={package.version}")
    log.detail(f"installing {len(wanted)} locked packages ({sum(w.startswith('/') for w in wanted)} from cache)")
    script = (
        f"{APT_UPDATE} && apt-get install -y -q --no-install-recommends --allow-downgrades "
        + " ".join(wanted)
    )
    try:
        with mounted_proc(rootfs):
            chroot(rootfs, script, what=f"installing locked packages of {lock_.toolchain}", log_path=log_path)
    except ToolchainError as exc:
        missing = [line for line in log_path.read_text(errors="replace").splitlines() if "was not found" in line]
        if missing:
            raise ToolchainError(
                f"{lock_.path}: Debian's archive no longer serves a locked version and the cache has no copy "
                f"({missing[0].strip()}); re-lock with `invoke lock-toolchain` (this changes artifact hashes)"
            ) from exc
        raise
    shutil.rmtree(seeded, ignore_errors=True)


def verify_installed(rootfs: Path, lock_: ToolchainLock) -> None:
    installed = installed_packages(rootfs)
    expected = {p.name: (p.version, p.architecture) for p in lock_.packages}
    extra = sorted(set(installed) - set(expected))
    missing = sorted(set(expected) - set(installed))
    wrong = sorted(n for n in set(expected) & set(installed) if installed[n] != expected[n])
    if extra or missing or wrong:
        raise ToolchainError(
            f"{lock_.path}: installed packages differ from the lock "
            f"(extra: {extra[:5]}, missing: {missing[:5]}, other version: {wrong[:5]})"
        )


def cache_downloaded_debs(rootfs: Path, lock_: ToolchainLock, cache: ContentCache) -> None:
    archives = archives_dir(rootfs)
    for package in lock_.packages:
        deb = archives / package.filename
        if deb.is_file() and cache.lookup(package.pin()) is None:
            cache.add(deb, package.pin(), origin=f"apt archive ({lock_.suite})")


def finish_rootfs(rootfs: Path, log_path: Path) -> None:
    # deb-src lines let `fetch` use Debian's source archive as a mirror; derived from the
    # deb lines debootstrap wrote, so no archive host is named here.
    chroot(
        rootfs,
        "sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/wasmforge-src.list && "
        "apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/* /tmp/* && "
        "printf 'APT::Sandbox::User \"root\";\\n' > /etc/apt/apt.conf.d/99wasmforge",
        what="finishing the toolchain root file system",
        log_path=log_path,
    )


def import_image(rootfs: Path, tag: str, lock_: ToolchainLock) -> None:
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"LABEL org.wasmforge.toolchain={lock_.toolchain}",
        f"LABEL org.wasmforge.lock-digest={lock_.digest}",
        'CMD ["/bin/bash"]',
    ]
    argv = ["docker", "import"]
    for change in changes:
        argv += ["--change", change]
    argv += ["-", tag]
    tar_proc = subprocess.Popen(
        ["tar", "--numeric-owner", "--sort=name", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    assert tar_proc.stdout is not None
    result = subprocess.run(argv, stdin=tar_proc.stdout, capture_output=True, text=True)
    tar_proc.stdout.close()
    tar_proc.wait()
    if result.returncode != 0 or tar_proc.returncode != 0:
        raise ToolchainError(f"docker import of {tag} failed: {result.stderr.strip()}")


