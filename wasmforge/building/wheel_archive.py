"""A built wheel rewritten as a pure function of its files' contents: entries sorted (the
.dist-info directory last, RECORD last of all, as the wheel spec recommends), every timestamp
SOURCE_DATE_EPOCH, modes 0644 (0755 under .data/scripts/), deflate level 9, and RECORD written
again from the bytes actually stored.
"""

import base64
import csv
import hashlib
import io
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.errors import WheelError
from wasmforge.core.files import atomic_output

ZIP_EPOCH_MIN = 315532800  # 1980-01-01: a zip timestamp cannot be older
SIGNATURES = ("RECORD.jws", "RECORD.p7s")


@dataclass(frozen=True, kw_only=True)
class WheelContents:
    names: tuple[str, ...]
    tags: tuple[str, ...]  # the WHEEL file's Tag lines

    def extension_modules(self, ext_suffix: str) -> tuple[str, ...]:
        return tuple(name for name in self.names if name.endswith(ext_suffix))


def normalize_wheel(source: Path, destination: Path, *, epoch: int) -> WheelContents:
    """Write `source` again as `destination` (atomically); return what it holds."""
    with zipfile.ZipFile(source) as wheel:
        files = {info.filename: wheel.read(info) for info in wheel.infolist() if not info.is_dir()}
    dist_info = _dist_info_dir(source.name, files)
    record = f"{dist_info}/RECORD"
    kept = {name: data for name, data in files.items() if name != record and name.rsplit("/", 1)[-1] not in SIGNATURES}
    names = sorted(kept, key=lambda name: (name.startswith(f"{dist_info}/"), name))
    stamp = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    with atomic_output(destination, mode=0o644) as handle:
        with zipfile.ZipFile(handle, "w") as out:
            for name in names:
                _write(out, name, kept[name], stamp)
            _write(out, record, _record(names, kept, record), stamp)
    return WheelContents(names=tuple(names), tags=_tags(kept.get(f"{dist_info}/WHEEL", b"").decode()))


def read_contents(wheel: Path) -> WheelContents:
    with zipfile.ZipFile(wheel) as archive:
        names = tuple(info.filename for info in archive.infolist() if not info.is_dir())
        dist_info = _dist_info_dir(wheel.name, dict.fromkeys(names, b""))
        return WheelContents(names=names, tags=_tags(archive.read(f"{dist_info}/WHEEL").decode()))


def record_hash(data: bytes) -> str:
    """The RECORD form of a sha256: urlsafe base64 without padding."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write(out: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
    info.create_system = 3  # Unix, so the mode below is what an unpacker sees
    mode = 0o755 if "/scripts/" in name and ".data/" in name else 0o644
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    out.writestr(info, data, compresslevel=9)


def _record(names: list[str], files: dict[str, bytes], record: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for name in names:
        writer.writerow([name, record_hash(files[name]), len(files[name])])
    writer.writerow([record, "", ""])
    return buffer.getvalue().encode()


def _dist_info_dir(wheel_name: str, files: dict[str, bytes]) -> str:
    found = sorted({name.split("/", 1)[0] for name in files if name.split("/", 1)[0].endswith(".dist-info")})
    if len(found) != 1:
        raise WheelError(f"{wheel_name}: a wheel has exactly one .dist-info directory, found {len(found)}")
    return found[0]


def _tags(wheel_metadata: str) -> tuple[str, ...]:
    return tuple(line.split(":", 1)[1].strip() for line in wheel_metadata.splitlines() if line.startswith("Tag:"))
