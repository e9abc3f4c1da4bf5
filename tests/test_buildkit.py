"""`invoke build` runs the Dockerfile through BuildKit (the engine's own): every RUN step off the
network, independent stages at the same time, and a failing step reported in one line that names
the image, the log and what failed."""

import textwrap
from pathlib import Path
from typing import Iterator

import docker.errors

import pytest

from wasmforge.building import docker_engine, toolchain_image
from wasmforge.core.errors import BuildError
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace

from .conftest import BROWSER_TARGET, ROOT

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def toolchain_tag() -> str:
    """The browser's toolchain image: the one every Dockerfile of that SDK starts from."""
    ws = Workspace.load(root=ROOT)
    plan = plan_for(ws, ws.matrix.resolve(BROWSER_TARGET))
    return toolchain_image.ensure_image(plan.toolchain_spec, plan.toolchain_lock, ws.cache, ws.workdir)


@pytest.fixture(autouse=True, scope="module")
def remove_test_images() -> Iterator[None]:
    yield
    for tag in ("network", "parallel", "failing"):
        try:
            docker_engine.client().images.remove(f"wasmforge-test:buildkit-{tag}", force=True)
        except docker.errors.ImageNotFound:
            pass


def build(tmp_path: Path, dockerfile: str, tag: str) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    log_path = tmp_path / "build.log"
    docker_engine.build_image(context, tag, jobs=2, nocache=True, log_path=log_path)
    return log_path


def test_every_run_step_sees_only_the_loopback_interface(toolchain_tag, tmp_path):
    log_path = build(tmp_path, f"""\
        FROM {toolchain_tag}
        RUN echo "interfaces: $(ls /sys/class/net | tr '\\n' ' ')"
        """, "wasmforge-test:buildkit-network")
    assert "interfaces: lo \n" in log_path.read_text()


def test_independent_stages_are_built_at_the_same_time(toolchain_tag, tmp_path):
    # Each stage notes when it starts and ends (the container's clock, which is the host's).
    # Built one after another (the classic builder), one stage would end before the other started.
    build(tmp_path, f"""\
        FROM {toolchain_tag} AS first
        RUN mkdir /times && date +%s.%N >/times/first-start && sleep 3 && date +%s.%N >/times/first-end
        FROM {toolchain_tag} AS second
        RUN mkdir /times && date +%s.%N >/times/second-start && sleep 3 && date +%s.%N >/times/second-end
        FROM {toolchain_tag}
        COPY --from=first /times/ /times/
        COPY --from=second /times/ /times/
        """, "wasmforge-test:buildkit-parallel")
    docker_engine.copy_out("wasmforge-test:buildkit-parallel", "/times/.", tmp_path / "times")
    at = {path.name: float(path.read_text()) for path in (tmp_path / "times").iterdir()}
    assert max(at["first-start"], at["second-start"]) < min(at["first-end"], at["second-end"]), at


def test_a_failing_step_is_one_line_naming_the_image_the_log_and_the_error(toolchain_tag, tmp_path):
    with pytest.raises(BuildError) as failure:
        build(tmp_path, f"""\
            FROM {toolchain_tag}
            RUN echo "configure: error: no acceptable C compiler" >&2 && exit 3
            """, "wasmforge-test:buildkit-failing")
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("docker build of wasmforge-test:buildkit-failing failed (exit 1; log ")
    assert str(tmp_path / "build.log") in message and "exit code: 3" in message, message
