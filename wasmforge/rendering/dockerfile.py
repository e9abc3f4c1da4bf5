"""Render docker/<target-id>/Dockerfile from a build plan: one stage per component, then the
stage BuildKit exports as files (`artifacts`) and the image a classic `docker build` leaves."""

import shlex
from pathlib import Path

from wasmforge.model.plan import WF_ROOT, BuildPlan, Stage
from wasmforge.rendering.generated import HEADER, RenderedFile

EPOCH_ARG = "SOURCE_DATE_EPOCH"
TOOLCHAIN_ARG = "TOOLCHAIN_IMAGE"
ARTIFACTS_STAGE = "artifacts"
IMAGE_STAGE = "build-image"


def render_dockerfile(plan: BuildPlan) -> str:
    target, lock = plan.target, plan.toolchain_lock
    flags = ", ".join(target.flags) or "none"
    lines = [
        HEADER,
        f"# target: {target.id} (python {target.python.version}, {target.sdk.kind} {target.sdk.version}, "
        f"flavor {target.flavor.name}, flags: {flags})",
        f"# toolchain: {lock.toolchain}, lock sha256 {lock.digest}",
        "# Every RUN step is built with the network disabled; sources come from the build context.",
        "",
        *base_lines(plan),
    ]
    for stage in plan.stages:
        lines += ["", *stage_lines(stage)]
    lines += ["", *_final_stages(plan)]
    return "\n".join(lines) + "\n"


def base_lines(plan: BuildPlan) -> list[str]:
    """The stage every component starts from: the locked toolchain and the base environment.
    SOURCE_DATE_EPOCH is a build argument (docker-bake.hcl's variable) defaulting to the plan's."""
    env = dict(plan.base_env)
    # A build argument, so that a builder without this engine's images can be given the same
    # toolchain from a registry, pinned by digest (docker-bake.hcl's TOOLCHAIN_REGISTRY).
    lines = [f"ARG {TOOLCHAIN_ARG}={plan.toolchain_lock.image_tag}", f"FROM ${{{TOOLCHAIN_ARG}}} AS base"]
    if EPOCH_ARG in env:
        lines.append(f"ARG {EPOCH_ARG}={env[EPOCH_ARG]}")
        env[EPOCH_ARG] = "${" + EPOCH_ARG + "}"
    return [*lines, _env_lines(env), f"COPY recipes/lib/ {WF_ROOT}/recipes/lib/"]


def render_all(plans: list[BuildPlan], docker_dir: Path) -> list[RenderedFile]:
    return [RenderedFile(path=docker_dir / plan.target.id / "Dockerfile", text=render_dockerfile(plan)) for plan in plans]


def stage_lines(stage: Stage) -> list[str]:
    component = stage.component
    source = f"COPY sources/{component.source.file} {WF_ROOT}/sources/"
    recipe_dir = f"{WF_ROOT}/recipes/{component.name}/"
    steps = component.recipe.steps
    if stage.shared_step is not None:
        lines = [*_shared_stage_lines(stage, source), "", f"FROM {stage.shared_stage_name} AS {component.name}", "ARG WF_JOBS=2"]
        steps = steps[1:]
    else:
        lines = [f"FROM base AS {component.name}", "ARG WF_JOBS=2", source]
    lines += [f"COPY recipes/{component.name}/ {recipe_dir}", _env_lines(stage.env)]
    for index, step in enumerate(steps):
        if index == len(steps) - 1:
            for dependency in stage.prefix_inputs:
                lines.append(f"COPY --from={dependency} {WF_ROOT}/prefix/ {WF_ROOT}/prefix/")
        lines.append(_run_line(component.name, step.script))
    return lines


def _shared_stage_lines(stage: Stage, source: str) -> list[str]:
    """The recipe's shared first step in a stage of its own: it sees only the component's source
    and its own files, so every target of this toolchain gets the same layer."""
    step = stage.shared_step
    assert step is not None
    name = stage.component.name
    files = " ".join(f"recipes/{name}/{file}" for file in (step.script, *step.files))
    return [
        f"FROM base AS {stage.shared_stage_name}",
        "ARG WF_JOBS=2",
        source,
        f"COPY {files} {WF_ROOT}/recipes/{name}/",
        _env_lines(stage.shared_env),
        _run_line(name, step.script),
    ]


def _run_line(component: str, script: str) -> str:
    return "RUN bash " + shlex.quote(f"{WF_ROOT}/recipes/{component}/{script}")


def _final_stages(plan: BuildPlan) -> list[str]:
    main = plan.main.component.name
    return [
        f"# Only {WF_ROOT}/out/: what `docker buildx bake` exports as files (type=local).",
        f"FROM scratch AS {ARTIFACTS_STAGE}",
        f"COPY --from={main} {WF_ROOT}/out/ /",
        "",
        f"# The {main} stage as an image: the build tree `invoke sizes` and `invoke xbuildenv` read.",
        f"FROM {main} AS {IMAGE_STAGE}",
    ]


def _env_lines(env: dict[str, str]) -> str:
    pairs = [f"{key}={_quote(value)}" for key, value in env.items()]
    return "ENV " + " \\\n    ".join(pairs)


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:=+,@" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
