"""Toolchain specs and locks as data.

A toolchain is a Debian suite plus a list of packages (the spec, recipes/toolchains/<name>.json).
Its lock (<name>.lock.json) lists every .deb of the image with its version and sha256; the lock's
digest, not an image id, identifies the toolchain. building/toolchain_image.py makes locks and
images from these.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.hashing import Pin
from wasmforge.core.errors import ToolchainError
from wasmforge.core.files import read_json
from wasmforge.core.hashing import sha256_json

IMAGE_REPOSITORY = "wasmforge-toolchain"
# Unstable's Release file is valid for a week only; an archive copy that lags behind (the one this
# project's build machines reach does) is refused as "expired" without this. apt still checks the
# Release signature, and every .deb is then checked against the lock's sha256.
APT_UPDATE = "apt-get -o Acquire::Check-Valid-Until=false update -q"


@dataclass(frozen=True, kw_only=True)
class ToolchainSpec:
    name: str
    kind: str
    version: str
    suite: str
    variant: str
    architecture: str
    packages: tuple[str, ...]
    spec_path: Path

    @property
    def lock_path(self) -> Path:
        return self.spec_path.with_name(f"{self.name}.lock.json")


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str
    version: str
    architecture: str
    filename: str
    size: int
    sha256: str

    def pin(self) -> Pin:
        return Pin(name=self.filename, size=self.size, sha256=self.sha256)


@dataclass(frozen=True, kw_only=True)
class ToolchainLock:
    toolchain: str
    suite: str
    architecture: str
    packages: tuple[LockedPackage, ...]
    path: Path

    @property
    def digest(self) -> str:
        return sha256_json(lock_to_json(self))

    @property
    def image_tag(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.toolchain}-{self.digest[:16]}"

    def version_of(self, package: str) -> str | None:
        for locked in self.packages:
            if locked.name == package:
                return locked.version
        return None


def load_spec(path: Path) -> ToolchainSpec:
    data = read_json(path, ToolchainError, "toolchain spec")
    try:
        return ToolchainSpec(
            name=data["name"],
            kind=data["kind"],
            version=data["version"],
            suite=data["suite"],
            variant=data.get("variant", "minbase"),
            architecture=data.get("architecture", "amd64"),
            packages=tuple(data["packages"]),
            spec_path=path,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ToolchainError(f"{path}: not a toolchain spec ({exc!r})") from None


def load_lock(path: Path) -> ToolchainLock:
    if not path.is_file():
        raise ToolchainError(f"{path}: toolchain lock missing; run `invoke lock-toolchain` to create it")
    data = read_json(path, ToolchainError, "toolchain lock")
    try:
        packages = tuple(LockedPackage(**entry) for entry in data["packages"])
        return ToolchainLock(
            toolchain=data["toolchain"],
            suite=data["suite"],
            architecture=data["architecture"],
            packages=packages,
            path=path,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ToolchainError(f"{path}: malformed toolchain lock: {exc!r}") from None


def lock_to_json(lock: ToolchainLock) -> dict:
    return {
        "toolchain": lock.toolchain,
        "suite": lock.suite,
        "architecture": lock.architecture,
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "architecture": p.architecture,
                "filename": p.filename,
                "size": p.size,
                "sha256": p.sha256,
            }
            for p in sorted(lock.packages, key=lambda p: p.name)
        ],
    }


# Where a builder without this engine's images finds a toolchain: docker-bake.hcl's variables,
# which `invoke build` reads too.
REGISTRY_VARIABLE = "TOOLCHAIN_REGISTRY"
DIGEST_VARIABLE_PREFIX = "TOOLCHAIN_DIGEST_"


def digest_variable(toolchain: str) -> str:
    """The variable holding a toolchain image's digest in a registry (docker-bake.hcl's, and
    `invoke build`'s): TOOLCHAIN_DIGEST_EMSCRIPTEN_3_1_69 for emscripten-3.1.69."""
    return DIGEST_VARIABLE_PREFIX + re.sub(r"[^A-Z0-9]", "_", toolchain.upper())
