"""The toolchain image in a container registry, for builders that do not share this engine's images.

A toolchain image is made here (`invoke toolchain`: debootstrap and `docker import`), so a remote
BuildKit builder cannot find it by tag. `push` puts it in a registry and returns the digest the
registry stored; a build then names it `<registry>/<tag>@<digest>`. The digest names bytes: a
registry serves a manifest under a digest only if its sha256 is that digest, so every builder runs
exactly the image that was pushed, whatever the tag points at later.

The settings are the bake file's variables, TOOLCHAIN_REGISTRY and TOOLCHAIN_DIGEST_<TOOLCHAIN>, so
that one `export` serves `invoke build` and `docker buildx bake` alike.
"""

import re
from dataclasses import dataclass
from typing import Mapping

import docker.errors

from wasmforge.building import docker_engine
from wasmforge.core import log
from wasmforge.core.errors import ToolchainError
from wasmforge.model.toolchains import DIGEST_VARIABLE_PREFIX, REGISTRY_VARIABLE, ToolchainLock, digest_variable

# host[:port][/path]: what may stand before `/<image tag>` in a reference.
REGISTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def checked_registry(registry: str, where: str) -> str:
    if not REGISTRY.fullmatch(registry):
        raise ToolchainError(f"{where}: '{registry}' is not a registry (host[:port][/path], no scheme, lower case)")
    return registry


@dataclass(frozen=True, kw_only=True)
class RegistryToolchains:
    """Where builders pull the toolchain images from: a registry, and each image's digest there."""

    registry: str
    digests: Mapping[str, str]  # TOOLCHAIN_DIGEST_<TOOLCHAIN> -> sha256:…

    def reference(self, lock: ToolchainLock) -> str:
        variable = digest_variable(lock.toolchain)
        digest = self.digests.get(variable)
        if digest is None:
            raise ToolchainError(
                f"{variable} is not set: a build from {self.registry} is pinned by digest "
                f"(`invoke toolchain --push {self.registry}` prints it)"
            )
        return f"{self.registry}/{lock.image_tag}@{digest}"


def from_environment(environ: Mapping[str, str]) -> RegistryToolchains | None:
    """The registry settings, or None when TOOLCHAIN_REGISTRY is empty."""
    registry = environ.get(REGISTRY_VARIABLE, "")
    if not registry:
        return None
    checked_registry(registry, REGISTRY_VARIABLE)
    digests = {key: value for key, value in environ.items() if key.startswith(DIGEST_VARIABLE_PREFIX) and value}
    for variable, value in digests.items():
        if not DIGEST.fullmatch(value):
            raise ToolchainError(f"{variable}: '{value}' is not a digest (sha256: and 64 hex digits)")
    return RegistryToolchains(registry=registry, digests=digests)


def push(tag: str, registry: str) -> str:
    """Push the image `tag` to `registry` under the same name and return the digest it stored."""
    checked_registry(registry, "--push")
    repository, _, version = f"{registry}/{tag}".rpartition(":")
    client = docker_engine.client()
    try:
        client.images.get(tag).tag(repository, version)
    except docker.errors.ImageNotFound:
        raise ToolchainError(f"{tag}: no such image here (`invoke toolchain` makes it)") from None
    log.info(f"pushing {tag} to {registry}")
    digest = None
    try:
        for event in client.api.push(repository, version, stream=True, decode=True):
            if "error" in event:
                raise ToolchainError(f"push of {tag} to {registry} failed: {event['error'].strip()}")
            if event.get("status") in ("Pushed", "Layer already exists"):
                log.detail(f"{event.get('id', '')}: {event['status'].lower()}")
            digest = event.get("aux", {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise ToolchainError(f"push of {tag} to {registry} failed: {exc.explanation or exc}") from None
    finally:
        client.api.remove_image(f"{repository}:{version}", noprune=True)
    if digest is None or not DIGEST.fullmatch(digest):
        raise ToolchainError(f"push of {tag} to {registry} ended without a digest")
    log.info(f"pushed {registry}/{tag}@{digest}")
    return digest
