"""Where things live: the project tree, the content-addressed cache, build and dist folders, and
the defaults every command falls back to (dist/<target-id>/, ./store, keys, pull state).

Commands resolve a default here and nowhere else, so `--help`, the docs and the code agree."""

import os
from dataclasses import dataclass
from pathlib import Path

from wasmforge.model.matrix import Target

PULL_STATE_FILE = "pull-state.json"
PUBLISH_STATE_FILE = "publish-state.json"
# How long a command waits for a lock another process holds (a destination, a state file, a store).
DEFAULT_LOCK_TIMEOUT = 300.0
PUBLIC_KEY_FILE = "release.pub.pem"


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

    def dist_of(self, target: Target) -> Path:
        return self.dist / target.id

    def site_of(self, target: Target) -> Path:
        """Where `invoke precompress` lays a browser artifact out for a static host."""
        return self.root / "site" / target.id

    def wheels_of(self, target: Target) -> Path:
        """Where `invoke wheel` writes the target's wheels and `invoke publish --wheels` takes them."""
        return self.dist / "wheels" / target.id

    def nightly_dist_of(self, version: str, target: Target) -> Path:
        return self.dist / "nightly" / version / target.id

    def build_of(self, target: Target) -> Path:
        """Scratch space of one target's builds: its Docker context, build log, rebuilds."""
        return self.build / target.id

    @property
    def default_store(self) -> str:
        return str(self.root / "store")

    def pulled_of(self, target: Target) -> Path:
        return self.root / "pulled" / target.id

    @property
    def pull_state(self) -> Path:
        """The versions this machine has seen per store (rollback protection); with the cache,
        so that every checkout on the machine shares it."""
        return self.cache / PULL_STATE_FILE

    @property
    def publish_state(self) -> Path:
        """The last index this machine signed into each store (publisher-side rollback protection)."""
        return self.cache / PUBLISH_STATE_FILE

    @staticmethod
    def lock_timeout() -> float:
        """Seconds to wait for a lock: $WASMFORGE_LOCK_TIMEOUT, else 300."""
        return float(os.environ.get("WASMFORGE_LOCK_TIMEOUT") or DEFAULT_LOCK_TIMEOUT)

    def public_key(self, explicit: str | None) -> Path:
        """The pinned release key: --pubkey, else $WASMFORGE_PUBKEY, else keys/release.pub.pem."""
        path = explicit or os.environ.get("WASMFORGE_PUBKEY")
        return Path(path) if path else self.root / "keys" / PUBLIC_KEY_FILE

    @staticmethod
    def signing_key(explicit: str | None) -> Path | None:
        """The private key: --key, else $WASMFORGE_SIGNING_KEY; None when neither is given."""
        path = explicit or os.environ.get("WASMFORGE_SIGNING_KEY")
        return Path(path) if path else None
