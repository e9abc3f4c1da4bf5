"""Docker builds with the network off, and getting files out of the built image."""

import io
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
    """Build context/Dockerfile with every RUN step networkless, streaming progress to the log."""
    api = client().api
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with log_path.open("w") as build_log:
        stream = api.build(
            path=str(context), tag=tag, network_mode="none", rm=True, forcerm=True, decode=True,
            nocache=nocache, pull=False, buildargs={"WF_JOBS": str(jobs)},
        )
        for chunk in stream:
            if "error" in chunk:
                build_log.write(chunk["error"] + "\n")
                raise BuildError(f"docker build of {tag} failed: {chunk['error'].strip()} (log {log_path}): {' | '.join(tail[-4:])}")
            text = chunk.get("stream", "")
            if not text:
                continue
            build_log.write(text)
            build_log.flush()
            for line in text.splitlines():
                line = line.rstrip()
                if not line:
                    continue
                tail = (tail + [line])[-20:]
                if line.startswith("Step ") or "[wasmforge]" in line or line.startswith(" ---> Using cache"):
                    log.detail(line)


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
