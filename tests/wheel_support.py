"""Wheels made in a test, in the wheel format itself (a zip with WHEEL, METADATA and RECORD)."""

import zipfile
from pathlib import Path

from wasmforge.building import wheel_archive

OUR_TAG = "cp313-cp313-emscripten_3_1_69_wasm32"


def fake_wheel(path: Path, files: dict[str, bytes], *, tag: str = OUR_TAG, reverse: bool = False,
               date: tuple[int, ...] = (2020, 1, 1, 0, 0, 0), record: bool = True, name: str = "demo",
               version: str = "1.0") -> Path:
    """A wheel as a backend might write one: any order, any timestamps, RECORD optional."""
    dist_info = f"{name}-{version}.dist-info"
    entries = {**files, f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nTag: {tag}\n".encode(),
               f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()}
    if record:
        lines = [f"{name},{wheel_archive.record_hash(data)},{len(data)}" for name, data in entries.items()]
        entries[f"{dist_info}/RECORD"] = ("\n".join(lines + [f"{dist_info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(entries, reverse=reverse):
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = 0o100600 << 16
            archive.writestr(info, entries[name])
    return path
