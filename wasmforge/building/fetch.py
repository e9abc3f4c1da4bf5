"""Fetch every pinned input into the content-addressed cache, trying mirrors in order.

A mirror is either a URL (upstream first) or a Debian source package, whose orig tarball is
fetched with `apt-get source` inside the toolchain image (so no archive host is written here).
Every byte is verified by size and sha256 before it enters the cache.
"""

import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core import faults, log
from wasmforge.core.cache import ContentCache
from wasmforge.core.errors import FetchError, IntegrityError
from wasmforge.model.recipes import Component, Source
from wasmforge.model.toolchains import APT_UPDATE

# Written by the toolchain image's finish step: `deb-src` twins of debootstrap's `deb` lines.
IMAGE_SOURCES_LIST = "/etc/apt/sources.list.d/wasmforge-src.list"

DOWNLOAD_TIMEOUT = 30
CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedInput:
    component: str
    source: Source
    path: Path


def fetch_sources(components: list[Component], cache: ContentCache, toolchain_image: str | None) -> list[FetchedInput]:
    """Ensure every component's source is in the cache; return their cached paths."""
    fetched: list[FetchedInput] = []
    pending_debian: list[Component] = []
    failures: dict[str, list[str]] = {}
    for component in components:
        source = component.source
        cached = cache.lookup(source.pin())
        if cached is not None:
            log.detail(f"{source.file}: cached, sha256 ok")
            fetched.append(FetchedInput(component.name, source, cached))
            continue
        path = _download_once(source, cache, failures.setdefault(source.file, []))
        if path is not None:
            fetched.append(FetchedInput(component.name, source, path))
        elif any(m.debian for m in source.mirrors):
            pending_debian.append(component)
        else:
            raise FetchError(f"{source.file}: no mirror could serve it ({'; '.join(failures[source.file])})")
    if pending_debian:
        if toolchain_image is None:
            raise FetchError("Debian source mirrors need the toolchain image; none was given")
        for component in _fetch_from_debian(pending_debian, cache, toolchain_image, failures):
            fetched.append(FetchedInput(component.name, component.source, cache.path_for(component.source.sha256)))
    order = {c.name: i for i, c in enumerate(components)}
    return sorted(fetched, key=lambda f: order[f.component])


def _download_once(source: Source, cache: ContentCache, failures: list[str]) -> Path | None:
    """Download under the source's download lock: a second process fetching the same source waits,
    then finds it cached instead of downloading it again."""
    with cache.downloading(source.sha256) as removed:
        for name in removed:
            log.detail(f"{source.file}: removed {name}, a download an interrupted run left")
        cached = cache.lookup(source.pin())
        if cached is not None:
            log.detail(f"{source.file}: cached by another process meanwhile, sha256 ok")
            return cached
        return _try_url_mirrors(source, cache, failures)


def _try_url_mirrors(source: Source, cache: ContentCache, failures: list[str]) -> Path | None:
    for mirror in source.mirrors:
        if mirror.url is None:
            continue
        try:
            return download_url(mirror.url, source, cache)
        except IntegrityError:
            raise
        except FetchError as exc:
            failures.append(str(exc))
            log.detail(f"{source.file}: mirror unavailable: {exc}")
    return None


def download_url(url: str, source: Source, cache: ContentCache) -> Path:
    """Stream `url` into a temp file in the cache, then verify and move it into place."""
    log.detail(f"{source.file}: downloading {url}")
    fd, tmp_name = tempfile.mkstemp(dir=cache.temp_dir(), prefix=cache.download_prefix(source.sha256))
    tmp = Path(tmp_name)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(fd, "wb") as out:
            received = 0
            next_report = 5 * CHUNK
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > source.size:
                    raise IntegrityError(f"{source.file}: {url} sent more than the pinned {source.size} bytes; discarded")
                out.write(chunk)
                if received >= next_report:
                    log.detail(f"{source.file}: {received * 100 // source.size}% of {source.size} bytes")
                    next_report += 5 * CHUNK
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"{url}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    faults.point("fetch-downloaded")
    return cache.add(tmp, source.pin(), origin=url)


def _fetch_from_debian(components: list[Component], cache: ContentCache, image: str,
                       failures: dict[str, list[str]]) -> list[Component]:
    """One networked container runs `apt-get source --download-only` for all pending packages."""
    packages = sorted({f"{m.debian.package}/{m.debian.suite}" for c in components for m in c.source.mirrors if m.debian})
    log.detail(f"fetching {', '.join(packages)} from Debian's source archive (in {image})")
    workdir = Path(tempfile.mkdtemp(dir=cache.temp_dir(), prefix="apt-source-"))
    try:
        # One package failing (say a .dsc missing from a partial mirror) must not stop the
        # others: every file is verified by sha256 afterwards anyway.
        # The image has deb-src lines for its own suite only; a mirror in another suite (a newer
        # Python from unstable, say) gets one derived from them, so no archive host is named here.
        suites = sorted({m.debian.suite for c in components for m in c.source.mirrors if m.debian})
        add_suites = " && ".join(
            f"{{ grep -q ' {suite} ' {IMAGE_SOURCES_LIST} || "
            f"sed -n 's/^deb-src \\([^ ]*\\) [^ ]* /deb-src \\1 {suite} /p' {IMAGE_SOURCES_LIST} | head -n 1"
            f" > /etc/apt/sources.list.d/wasmforge-src-{suite}.list; }}"
            for suite in suites
        )
        # `|| true` on each: under `sh -e` a failing command would end the script, and apt-get
        # exits non-zero when only a package's .dsc or Debian diff is missing, even though the
        # orig tarball, the one file wanted, was fetched.
        script = f"{add_suites} && {APT_UPDATE} -qq && cd /out && " + "; ".join(
            f"apt-get source --download-only -qq {p} || true" for p in packages
        )
        result = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{workdir}:/out", image, "/bin/sh", "-ec", script],
            capture_output=True, text=True,
        )
        for component in components:
            source = component.source
            candidate = workdir / source.file
            if not candidate.is_file():
                tried = "; ".join(failures.get(source.file, []) + [f"Debian: {_one_line(result.stderr) or 'file not in the source package'}"])
                raise FetchError(f"{source.file}: no mirror could serve it ({tried})")
            cache.add(candidate, source.pin(), origin=f"Debian source package ({', '.join(m.describe() for m in source.mirrors if m.debian)})")
            log.detail(f"{source.file}: from Debian's source archive, sha256 ok")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return components


def _one_line(text: str) -> str:
    """apt's errors on one line, without archive URLs."""
    errors = [line for line in text.splitlines() if line.startswith("E:")] or text.splitlines()[-2:]
    return " ".join(re.sub(r"https?://\S+", "<archive>", line).strip() for line in errors)[-300:]
