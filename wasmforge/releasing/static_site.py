"""`invoke precompress`: a browser artifact laid out for a static host that serves precompressed files.

A browser fetches python.wasm, python.js, python.data and the stdlib packs with `Content-Encoding:
br` or `gzip`; the sizes `invoke bench` reports assume it. Hosts that compress on the fly do it by
content type and leave out `application/octet-stream` and `application/zip` (python.data, the
packs), so the dependable way is the one nginx's `brotli_static`/`gzip_static`, Apache's
MultiViews and most static-site CDNs support: `<file>.br` and `<file>.gz` next to each file.

The files are copied from dist/ and checked against manifest.json, so what is deployed is what was
built; each file a compressing host sends compressed (webserver.sent_compressed: the same rule as
`invoke serve` and the bench) gets its brotli (quality 11) and gzip (-9) siblings, byte for byte
the bodies the bench measures. The folder appears whole or not at all (staged, then swapped in).
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core import dirswap, log
from wasmforge.core.errors import ManifestError
from wasmforge.core.files import copy_hashed
from wasmforge.core.locks import locked
from wasmforge.model.manifest import CHECKSUMS, MANIFEST, read_manifest
from wasmforge.verifying.webserver import encode, sent_compressed

ENCODED_SUFFIXES = {"br": ".br", "gzip": ".gz"}
# Files above this size say so before they are compressed: brotli 11 takes about 2 s per MB.
ANNOUNCED_BYTES = 1 << 20
LOCK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True)
class SiteFile:
    name: str
    raw: int
    # The sizes of its .br and .gz siblings; None when the file is sent as it is.
    brotli: int | None
    gzip: int | None

    @property
    def sent_brotli(self) -> int:
        return self.raw if self.brotli is None else self.brotli

    @property
    def sent_gzip(self) -> int:
        return self.raw if self.gzip is None else self.gzip


def write_static_site(dist: Path, target_id: str, out: Path) -> list[SiteFile]:
    """Copy the artifact in `dist` to `out` with precompressed siblings; returns what was written."""
    manifest = read_manifest(dist / MANIFEST)
    if manifest.target.get("id") != target_id:
        raise ManifestError(f"{dist}: manifest.json is for target '{manifest.target.get('id')}', not '{target_id}'")
    if out.resolve() == dist.resolve() or out.resolve().is_relative_to(dist.resolve()):
        raise ManifestError(f"{out}: the site cannot be written inside the artifact {dist}")
    with locked(dirswap.lock_path(out), f"the site folder {out}", LOCK_TIMEOUT_SECONDS):
        dirswap.recover(out)
        staging = dirswap.make_staging(out)
        try:
            files = [_stage_file(dist, staging, output.name, (output.size, output.sha256)) for output in manifest.outputs]
            files += [_stage_file(dist, staging, name, None) for name in (MANIFEST, CHECKSUMS)]
            dirswap.replace_directory(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return files


def _stage_file(dist: Path, staging: Path, name: str, expected: tuple[int, str] | None) -> SiteFile:
    source, target = dist / name, staging / name
    try:
        size, sha256 = copy_hashed(source, target)
    except FileNotFoundError:
        raise ManifestError(f"{source}: listed in manifest.json but missing; rebuild the artifact") from None
    if expected is not None and (size, sha256) != expected:
        raise ManifestError(f"{source}: size {size} and sha256 {sha256}, manifest.json says "
                            f"{expected[0]} and {expected[1]}; the artifact changed after the build, rebuild it")
    if not sent_compressed(name, target):
        return SiteFile(name=name, raw=size, brotli=None, gzip=None)
    if size > ANNOUNCED_BYTES:
        log.info(f"    compressing {name} ({size / 1e6:.1f} MB)")
    data = target.read_bytes()
    sizes = {}
    for coding, suffix in ENCODED_SUFFIXES.items():
        body = encode(data, coding)
        target.with_name(target.name + suffix).write_bytes(body)
        sizes[coding] = len(body)
    return SiteFile(name=name, raw=size, brotli=sizes["br"], gzip=sizes["gzip"])


def summary(files: list[SiteFile], out: Path) -> str:
    encoded = [f for f in files if f.brotli is not None]
    raw = sum(f.raw for f in files)
    return (f"{out}: {len(files)} files, {len(encoded)} with .br and .gz beside them; "
            f"{raw:,} bytes raw, {sum(f.sent_gzip for f in files):,} sent gzip, "
            f"{sum(f.sent_brotli for f in files):,} sent brotli")
