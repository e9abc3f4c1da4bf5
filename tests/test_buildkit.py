"""`invoke build` runs through `docker buildx bake` (the engine's own BuildKit): every RUN step off
the network, the targets of one run and their independent stages at the same time, a stage that
two targets contain built once, and a failing step reported in one line that names the targets,
the log and what failed.

These build tiny Dockerfiles from the browser's toolchain image with bake files written here, so
they show what BuildKit and buildx do with the attributes `invoke build` gives
(tests/test_bake.py shows the rendered files give them)."""

import json
import textwrap
import uuid
from pathlib import Path

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


def bake(tmp_path: Path, dockerfiles: dict[str, str], *, nocache: bool = True, builder: str | None = None) -> Path:
    """Bake one networkless target per Dockerfile, each exported as files to tmp_path/out/<name>;
    returns the log."""
    targets = {}
    for name, dockerfile in dockerfiles.items():
        context = tmp_path / "contexts" / name
        context.mkdir(parents=True, exist_ok=True)
        (context / "Dockerfile").write_text(textwrap.dedent(dockerfile))
        (tmp_path / "out" / name).mkdir(parents=True, exist_ok=True)  # buildx asks leave to write the nearest existing one
        targets[name] = {"context": str(context), "network": "none", "no-cache": nocache,
                         "output": [f"type=local,dest={tmp_path / 'out' / name}"]}
    definition = tmp_path / "bake.json"
    definition.write_text(json.dumps({"target": targets}))
    log_path = tmp_path / "bake.log"
    docker_engine.bake([definition], list(targets), reads=[tmp_path / "contexts"], writes=[tmp_path / "out" / name for name in targets],
                       nocache=False, builder=builder, log_path=log_path)
    return log_path


def test_every_run_step_sees_only_the_loopback_interface(toolchain_tag, tmp_path):
    bake(tmp_path, {"network": f"""\
        FROM {toolchain_tag} AS probe
        RUN ls /sys/class/net | tr '\\n' ' ' >/interfaces
        FROM scratch
        COPY --from=probe /interfaces /
        """})
    assert (tmp_path / "out" / "network" / "interfaces").read_text() == "lo "


def test_two_targets_build_at_the_same_time_and_a_stage_they_share_once(toolchain_tag, tmp_path):
    # Each own stage notes when it starts and ends (the container's clock, which is the host's);
    # the shared stage notes a random number, which two builds of it would not both draw.
    shared = f"""\
        FROM {toolchain_tag} AS shared
        RUN mkdir /times && od -An -N8 -tx8 /dev/urandom >/times/shared
        """

    def own(name: str) -> str:
        return shared + f"""\
        FROM {toolchain_tag} AS own
        RUN mkdir /times && date +%s.%N >/times/{name}-start && sleep 3 && date +%s.%N >/times/{name}-end
        FROM scratch
        COPY --from=shared /times/ /
        COPY --from=own /times/ /
        """

    bake(tmp_path, {"first": own("first"), "second": own("second")})
    first, second = tmp_path / "out" / "first", tmp_path / "out" / "second"
    at = {path.name: float(path.read_text()) for path in [*first.glob("*-*"), *second.glob("*-*")]}
    assert max(at["first-start"], at["second-start"]) < min(at["first-end"], at["second-end"]), at
    assert (first / "shared").read_text() == (second / "shared").read_text(), "the shared stage ran twice"


def test_a_failing_step_is_one_line_naming_the_targets_the_log_and_the_error(toolchain_tag, tmp_path):
    with pytest.raises(BuildError) as failure:
        bake(tmp_path, {"failing": f"""\
            FROM {toolchain_tag}
            RUN echo "configure: error: no acceptable C compiler" >&2 && exit 3
            """})
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("docker buildx bake of failing failed (exit 1; log ")
    assert str(tmp_path / "bake.log") in message and "exit code: 3" in message, message


def test_progress_shows_a_step_when_it_runs_and_ends_and_one_line_when_the_cache_has_it(toolchain_tag, tmp_path, capfd):
    # A step no earlier run of this test can have left in the cache.
    dockerfile = f"""\
        FROM {toolchain_tag} AS step
        RUN echo "[wasmforge] progress: working" && echo {uuid.uuid4().hex} && od -An -N8 -tx8 /dev/urandom >/random
        FROM scratch
        COPY --from=step /random /
        """
    bake(tmp_path, {"progress": dockerfile}, nocache=False)
    first = capfd.readouterr().err.splitlines()
    bake(tmp_path, {"progress": dockerfile}, nocache=False)
    second = capfd.readouterr().err.splitlines()
    step = [line.strip() for line in first if "] RUN echo" in line]
    assert len(step) == 2 and step[1].startswith(step[0]) and ": done " in step[1], first
    assert any(line.strip() == "[wasmforge] progress: working" for line in first)
    assert [line.strip() for line in second if "] RUN echo" in line] == [step[0] + ": cached"], second


def test_the_builder_named_is_the_one_bake_uses(toolchain_tag, tmp_path):
    # This engine has one builder bake can select, `default` (a Docker context is listed as a
    # builder but needs `docker --context`; a second docker-driver builder cannot be created, and a
    # docker-container one needs a BuildKit image this machine cannot fetch): the name reaches bake.
    log_path = bake(tmp_path, {"named": f"""\
        FROM {toolchain_tag} AS step
        RUN echo built >/marker
        FROM scratch
        COPY --from=step /marker /
        """}, builder="default")
    assert "--builder default" in log_path.read_text().splitlines()[0]
    assert 'building with "default" instance' in log_path.read_text()
    assert (tmp_path / "out" / "named" / "marker").read_text() == "built\n"


def test_an_unknown_builder_is_one_line(toolchain_tag, tmp_path):
    with pytest.raises(BuildError) as failure:
        bake(tmp_path, {"nowhere": f"FROM {toolchain_tag}\n"}, builder="no-such-builder")
    message = str(failure.value)
    assert "\n" not in message and 'no-such-builder' in message, message
