"""Where things live: the project tree, the content-addressed cache, build and dist folders."""

import os
from dataclasses import dataclass
from pathlib import Path


def find_project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "matrix.json").is_file() and (candidate / "recipes").is_dir():
            return candidate
    # Fall back to the checkout this package was imported from.
    return Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    # Shared across clones so CI and a developer's checkouts reuse verified downloads.
    explicit = os.environ.get("WASMFORGE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "wasmforge"


@dataclass(frozen=True, kw_only=True)
class ProjectPaths:
    root: Path
    cache: Path

    @classmethod
    def discover(cls, root: Path | None = None, cache: Path | None = None) -> "ProjectPaths":
        return cls(root=root or find_project_root(), cache=cache or default_cache_dir())

    @property
    def matrix(self) -> Path:
        return self.root / "matrix.json"

    @property
    def schemas(self) -> Path:
        return self.root / "schemas"

    @property
    def recipes(self) -> Path:
        return self.root / "recipes"

    @property
    def toolchains(self) -> Path:
        return self.root / "recipes" / "toolchains"

    @property
    def docker(self) -> Path:
        return self.root / "docker"

    @property
    def nix(self) -> Path:
        return self.root / "nix"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def dist(self) -> Path:
        return self.root / "dist"
