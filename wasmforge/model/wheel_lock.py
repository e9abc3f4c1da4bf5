"""wheels.lock.json: the sdists of the packages the project builds wheels of, and the wheels of
their build requirements, each pinned by file name, size and sha256.

An sdist entry names the build requirements it is built with (keys of `build_requirements`);
an sdist given as a path and not in the lock is built with `default_build_requires`. The build
requirements are pure-Python wheels (py3-none-any): the toolchain image's own python3 imports
them, unpacked, with the network off.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmforge.core.errors import WheelError
from wasmforge.core.files import read_json, write_json_atomic
from wasmforge.core.hashing import Pin

LOCK_FILE = "wheels.lock.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class LockedFile:
    """One pinned distribution file; `spec` is its name==version."""

    spec: str
    file: str
    size: int
    sha256: str

    def pin(self) -> Pin:
        return Pin(name=self.file, size=self.size, sha256=self.sha256)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, kw_only=True)
class LockedSdist:
    source: LockedFile
    build_requires: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class WheelLock:
    path: Path
    sdists: dict[str, LockedSdist]
    build_requirements: dict[str, LockedFile]
    default_build_requires: tuple[str, ...]

    def sdist(self, spec: str) -> LockedSdist:
        found = self.sdists.get(normalize_spec(spec))
        if found is None:
            known = ", ".join(sorted(self.sdists)) or "none"
            raise WheelError(f"{self.path}: {spec} is not locked (locked: {known}); `invoke lock-wheel {spec}` pins it")
        return found

    def sdist_by_file(self, file_name: str) -> LockedSdist | None:
        return next((s for s in self.sdists.values() if s.source.file == file_name), None)

    def requirements(self, specs: tuple[str, ...]) -> tuple[LockedFile, ...]:
        return tuple(self.build_requirements[spec] for spec in specs)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "default_build_requires": list(self.default_build_requires),
            "build_requirements": {spec: f.to_json() for spec, f in sorted(self.build_requirements.items())},
            "sdists": {
                spec: {**s.source.to_json(), "build_requires": list(s.build_requires)}
                for spec, s in sorted(self.sdists.items())
            },
        }


def normalize_spec(spec: str) -> str:
    """`MarkupSafe == 3.0.3` -> `markupsafe==3.0.3` (PEP 503 names), or a WheelError."""
    name, sep, version = spec.replace(" ", "").partition("==")
    if not sep or not name or not version:
        raise WheelError(f"{spec!r}: give a package as name==version, or a path to an sdist")
    return f"{_canonical_name(name)}=={version}"


def _canonical_name(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def load_lock(path: Path) -> WheelLock:
    data = read_json(path, WheelError, "wheel lock")
    try:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise WheelError(f"{path}: schema_version must be {SCHEMA_VERSION}")
        requirements = {
            spec: _locked_file(path, f"build_requirements/{spec}", spec, entry)
            for spec, entry in data["build_requirements"].items()
        }
        sdists = {}
        for spec, entry in data["sdists"].items():
            needs = tuple(entry["build_requires"])
            for need in needs:
                if need not in requirements:
                    raise WheelError(f"{path}: sdists/{spec}/build_requires names {need}, which build_requirements does not pin")
            sdists[normalize_spec(spec)] = LockedSdist(source=_locked_file(path, f"sdists/{spec}", spec, entry), build_requires=needs)
        defaults = tuple(data["default_build_requires"])
    except KeyError as exc:
        raise WheelError(f"{path}: missing key {exc.args[0]!r}") from None
    except (AttributeError, TypeError) as exc:
        raise WheelError(f"{path}: malformed ({exc})") from None
    for need in defaults:
        if need not in requirements:
            raise WheelError(f"{path}: default_build_requires names {need}, which build_requirements does not pin")
    return WheelLock(path=path, sdists=sdists, build_requirements=requirements, default_build_requires=defaults)


def _locked_file(path: Path, key: str, spec: str, entry: dict[str, Any]) -> LockedFile:
    sha256, size, file = entry.get("sha256"), entry.get("size"), entry.get("file")
    if not (isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
        raise WheelError(f"{path}: {key}/sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or size <= 0:
        raise WheelError(f"{path}: {key}/size must be a positive integer")
    if not isinstance(file, str) or "/" in file or not file:
        raise WheelError(f"{path}: {key}/file must be a plain file name")
    return LockedFile(spec=spec, file=file, size=size, sha256=sha256)


def write_lock(lock: WheelLock) -> None:
    write_json_atomic(lock.path, lock.to_json())
