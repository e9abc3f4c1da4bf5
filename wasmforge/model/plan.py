"""A target's build plan: everything that decides its build, worked out once.

`plan_for` joins a matrix entry, the recipes and the toolchain lock into one frozen `BuildPlan`:
the components in build order, the stage each becomes (its WF_* environment and whose prefixes it
copies in), the recipe files the build reads, the recipe digest over them, the toolchain, and the
SOURCE_DATE_EPOCH of this build. The Dockerfile and Nix renderers, `build`, `reproduce`, the
manifest and the matrix report read the plan; none of them computes any of it again.

The WF_* variables are the whole interface between wasmforge and the recipe scripts: Docker and
Nix set the same ones, so both run the same scripts.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.hashing import canonical_json
from wasmforge.model.matrix import Target
from wasmforge.model.recipes import Component, Source, Step
from wasmforge.model.toolchains import ToolchainLock, ToolchainSpec
from wasmforge.model.workspace import Workspace

# Where the build happens inside the container; Nix maps it under $NIX_BUILD_TOP.
WF_ROOT = "/wf"


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One component's build: a Dockerfile stage, a Nix derivation."""

    component: Component
    main: bool
    # The variables this stage adds to the plan's base environment.
    env: dict[str, str]
    # The stages whose /wf/prefix this one copies in before its last step.
    prefix_inputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def shared_step(self) -> Step | None:
        """The first step when the recipe shares it between targets (recipes.Step.shared)."""
        first = self.component.recipe.steps[0]
        return first if first.shared else None

    @property
    def shared_stage_name(self) -> str:
        step = self.shared_step
        assert step is not None
        return f"{self.name}-{step.name}"

    @property
    def shared_env(self) -> dict[str, str]:
        """All a shared step sees of its component: which source, unpacked where."""
        return source_env(self.component)


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    target: Target
    source_date_epoch: int
    toolchain_spec: ToolchainSpec
    toolchain_lock: ToolchainLock
    # What every stage sees (SOURCE_DATE_EPOCH, locale, the SDK, where the prefix and outputs go).
    base_env: dict[str, str]
    # Dependencies first; the last one is the main component (CPython).
    stages: tuple[Stage, ...]
    # Every recipe file the build gets, under the recipes directory; the digest covers exactly these.
    recipes_dir: Path
    recipe_files: tuple[Path, ...]
    recipe_digest: str

    @property
    def main(self) -> Stage:
        return self.stages[-1]

    @property
    def libraries(self) -> tuple[Stage, ...]:
        return self.stages[:-1]

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(stage.component for stage in self.stages)

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(stage.component.source for stage in self.stages)

    def stage_env(self, stage: Stage) -> dict[str, str]:
        """The whole environment one stage's scripts run with."""
        return {**self.base_env, **stage.env}


def plan_for(ws: Workspace, target: Target, *, source_date_epoch: int | None = None) -> BuildPlan:
    """The plan for `target`; `source_date_epoch` overrides the matrix's (a nightly's night, or a
    deliberately different clock in `reproduce`)."""
    components = ws.book.components_for(target)
    epoch = target.source_date_epoch if source_date_epoch is None else source_date_epoch
    recipe_files = tuple(ws.book.shared_files()) + tuple(
        path for component in components for path in component.recipe.files_for(target)
    )
    spec = ws.toolchain_spec(target)
    return BuildPlan(
        target=target,
        source_date_epoch=epoch,
        toolchain_spec=spec,
        toolchain_lock=ws.toolchain_lock(target),
        base_env=_base_env(target, epoch),
        stages=_stages(target, components),
        recipes_dir=ws.book.directory,
        recipe_files=recipe_files,
        recipe_digest=_recipe_digest(target, components, recipe_files, ws.book.directory),
    )


def _base_env(target: Target, source_date_epoch: int) -> dict[str, str]:
    # The flavor and flags are left to the main stage, so that targets sharing a toolchain and
    # library options share the library layers too: the browser and node builds compile zlib once.
    return {
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "TZ": "UTC",
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "WF_SDK": target.sdk.kind,
        "WF_PREFIX": f"{WF_ROOT}/prefix",
        "WF_OUT": f"{WF_ROOT}/out",
    }


def _stages(target: Target, components: list[Component]) -> tuple[Stage, ...]:
    *libraries, main = components
    stages = [Stage(component=c, main=False, env=_component_env(c), prefix_inputs=()) for c in libraries]
    main_env = {**_component_env(main), "WF_FLAVOR": target.flavor.name, "WF_FLAGS": " ".join(target.flags)}
    stages.append(Stage(component=main, main=True, env=main_env, prefix_inputs=tuple(c.name for c in libraries)))
    return tuple(stages)


def source_env(component: Component) -> dict[str, str]:
    """Which source a component's scripts unpack, and where."""
    return {
        "WF_NAME": component.name,
        "WF_VERSION": component.version,
        "WF_SOURCE": f"{WF_ROOT}/sources/{component.source.file}",
        "WF_BUILD": f"{WF_ROOT}/build/{component.name}",
    }


def _component_env(component: Component) -> dict[str, str]:
    options = component.options
    return {
        **source_env(component),
        "WF_CFLAGS": " ".join(options.cflags),
        "WF_LDFLAGS": " ".join(options.ldflags),
        "WF_CONFIGURE_ARGS": " ".join(options.configure_args),
        "WF_MAKE_ARGS": " ".join(options.make_args),
    }


def _recipe_digest(target: Target, components: list[Component], recipe_files: tuple[Path, ...], recipes_dir: Path) -> str:
    """sha256 over what the recipes say for this target and every script it runs.

    Only the target's own inputs count, so adding a node-only file or a wasi-only option leaves the
    browser's digest (and its Docker layer cache) as it was.
    """
    digest = hashlib.sha256()
    effective = [c.recipe.effective_for(target, c.version) for c in components]
    digest.update(canonical_json(effective) + b"\0")
    for path in recipe_files:
        digest.update(str(path.relative_to(recipes_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
