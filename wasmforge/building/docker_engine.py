"""Docker builds with the network off, and getting files out of the built image."""

import io
import os
import shutil
import subprocess
import tarfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

import docker
import docker.errors

from wasmforge.core import log
from wasmforge.core.errors import BuildError


def client() -> docker.DockerClient:
    try:
        result = docker.from_env(timeout=600)
        result.ping()
        return result
    except docker.errors.DockerException as exc:
        raise BuildError(f"cannot reach the Docker engine: {exc}") from exc


def build_image(context: Path, tag: str, *, jobs: int, nocache: bool, log_path: Path) -> None:
    """Build context/Dockerfile with BuildKit (the engine's own, through the docker CLI), every RUN
    step networkless, streaming progress to the log.

    BuildKit builds independent stages at once (the libraries beside the native build Python),
    which the classic builder ran one after another on a machine whose configure steps leave a
    core idle; and its cache is content-addressed, so a rebuild at another -j does not lead a later
    build down the rebuild's chain (docs/testing-and-bench.md)."""
    docker = shutil.which("docker")
    if docker is None:
        raise BuildError("the docker command is not installed (scripts/install-host-deps.sh installs it)")
    argv = [docker, "build", "--progress", "plain", "--network", "none", "--pull=false",
            "--build-arg", f"WF_JOBS={jobs}", "--tag", tag]
    if nocache:
        argv.append("--no-cache")
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    progress = _Progress()
    with log_path.open("w") as build_log:
        process = subprocess.Popen([*argv, str(context)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", env=env)
        assert process.stdout is not None
        for line in process.stdout:
            build_log.write(line)
            build_log.flush()
            line = line.rstrip()
            if not line:
                continue
            tail = (tail + [line])[-20:]
            shown = progress.read(line)
            if shown:
                log.detail(shown)
        returncode = process.wait()
    if returncode != 0:
        errors = [line for line in tail if "error" in line.lower()] or tail[-4:]
        raise BuildError(f"docker build of {tag} failed (exit {returncode}; log {log_path}): {' | '.join(errors[-4:])}")


class _Progress:
    """Picks from BuildKit's plain output what a person watching a long build wants: each RUN step
    as it starts and when it ends (or that the cache had it), and the recipes' own [wasmforge] lines."""

    def __init__(self) -> None:
        self.steps: dict[str, str] = {}

    def read(self, line: str) -> str | None:
        head, _, rest = line.partition(" ")
        if not (head.startswith("#") and head[1:].isdigit()):
            return None
        if rest.startswith("[") and "] RUN " in rest:
            # BuildKit repeats a step's header whenever the output switches between parallel steps.
            if head in self.steps:
                return None
            self.steps[head] = rest
            return rest
        if head in self.steps and rest.startswith(("DONE ", "CACHED", "ERROR")):
            return f"{self.steps[head]}: {rest.lower()}"
        if "[wasmforge]" in rest:
            return rest[rest.index("[wasmforge]"):]
        return None


@contextmanager
def created_container(image: str) -> Iterator[docker.models.containers.Container]:
    """A stopped container of `image`, always removed afterwards."""
    container = client().containers.create(image, command=["true"], network_disabled=True)
    try:
        yield container
    finally:
        container.remove(force=True)


def copy_out(image: str, path_in_image: str, destination: Path) -> None:
    """Copy the regular files under one directory of the image into `destination`, keeping their
    paths below it (the node flavor ships lib/python313.zip next to python.js)."""
    destination.mkdir(parents=True, exist_ok=True)
    with created_container(image) as container:
        stream, _ = container.get_archive(path_in_image)
        buffer = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=buffer) as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            # get_archive of "dir/." names members "./a", "./lib/b"; pathlib drops the ".".
            parts = PurePosixPath(member.name).parts
            if not parts or parts[0] == "/" or ".." in parts:
                raise BuildError(f"{image}: unexpected path {member.name!r} in {path_in_image}")
            target = destination.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = archive.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
