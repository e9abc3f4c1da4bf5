"""Docker builds through `docker buildx bake` with the network off, and getting files out of an image."""

import os
import shutil
import subprocess
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import docker
import docker.errors

from wasmforge.core import log
from wasmforge.core.errors import BuildError
from wasmforge.model.toolchains import DIGEST_VARIABLE_PREFIX, REGISTRY_VARIABLE

# The bake file's variables: `invoke build`'s run file gives every value they decide (the toolchain
# reference too), so none may come from the caller's environment unseen.
BAKE_VARIABLES = ("WF_JOBS", "SOURCE_DATE_EPOCH", "CONTEXT_DIR", "OUTPUT_DIR", REGISTRY_VARIABLE)


def client() -> docker.DockerClient:
    try:
        result = docker.from_env(timeout=600)
        result.ping()
        return result
    except docker.errors.DockerException as exc:
        raise BuildError(f"cannot reach the Docker engine: {exc}") from exc


def bake(files: list[Path], targets: list[str], *, reads: list[Path], writes: list[Path], nocache: bool,
         builder: str | None, log_path: Path) -> None:
    """Run `docker buildx bake` of `targets` from the bake `files` (the rendered docker-bake.hcl,
    then the run's overrides), streaming progress to the log.

    One BuildKit run for every target: independent stages run side by side (the libraries beside
    the native build Python, one target's CPython beside another's), a stage that several targets
    contain is built once, and the cache is content-addressed, so a rebuild at another -j does not
    lead a later build down the rebuild's chain (docs/scale.md). The network is off in every RUN
    step: the bake file says `network = "none"` for each target. buildx asks for leave to read the
    contexts (`reads`) and write the exported files (`writes`) outside its working directory: the
    run grants exactly those, never fs=* nor BUILDX_BAKE_ENTITLEMENTS_FS=0."""
    docker = shutil.which("docker")
    if docker is None:
        raise BuildError("the docker command is not installed (scripts/install-host-deps.sh installs it)")
    argv = [docker, "buildx", "bake", "--progress", "plain"]
    for path in files:
        argv += ["--file", str(path)]
    argv += [f"--allow=fs.read={path}" for path in reads]
    argv += [f"--allow=fs.write={path}" for path in writes]
    if builder:
        argv += ["--builder", builder]
    if nocache:
        argv.append("--no-cache")
    # The run's files say every value; variables from the caller's environment must not leak in.
    env = {key: value for key, value in os.environ.items()
           if key not in BAKE_VARIABLES and not key.startswith(DIGEST_VARIABLE_PREFIX)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=20)
    progress = _Progress()
    with log_path.open("w") as build_log:
        build_log.write(" ".join([*argv, *targets]) + "\n")
        process = subprocess.Popen([*argv, *targets], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", env=env)
        assert process.stdout is not None
        for line in process.stdout:
            build_log.write(line)
            build_log.flush()
            line = line.rstrip()
            if not line:
                continue
            tail.append(line)
            for shown in progress.read(line):
                log.detail(shown)
        returncode = process.wait()
    if returncode != 0:
        errors = [line for line in tail if "error" in line.lower()] or list(tail)[-4:]
        what = ", ".join(targets)
        raise BuildError(f"docker buildx bake of {what} failed (exit {returncode}; log {log_path}): {' | '.join(errors[-4:])}")


class _Progress:
    """Picks from BuildKit's plain output what a person watching a long build wants: each RUN step
    once it runs and when it ends, one line for a step the cache had, and the recipes' own
    [wasmforge] lines."""

    def __init__(self) -> None:
        self.steps: dict[str, str] = {}
        self.waiting: set[str] = set()  # steps named but not yet shown: the cache may have them

    def read(self, line: str) -> list[str]:
        head, _, rest = line.partition(" ")
        if not (head.startswith("#") and head[1:].isdigit()):
            return []
        if rest.startswith("[") and "] RUN " in rest:
            # BuildKit repeats a step's header whenever the output switches between parallel steps.
            if head not in self.steps:
                self.steps[head] = rest
                self.waiting.add(head)
            return []
        if head not in self.steps:
            return [rest[rest.index("[wasmforge]"):]] if "[wasmforge]" in rest else []
        if rest.startswith("CACHED"):
            self.waiting.discard(head)
            return [f"{self.steps[head]}: cached"]
        shown = [self.steps[head]] if head in self.waiting else []
        self.waiting.discard(head)
        if rest.startswith(("DONE ", "ERROR")):
            shown.append(f"{self.steps[head]}: {rest.lower()}")
        elif "[wasmforge]" in rest:
            shown.append(rest[rest.index("[wasmforge]"):])
        return shown


@contextmanager
def created_container(image: str) -> Iterator[docker.models.containers.Container]:
    """A stopped container of `image`, always removed afterwards."""
    container = client().containers.create(image, command=["true"], network_disabled=True)
    try:
        yield container
    finally:
        container.remove(force=True)
