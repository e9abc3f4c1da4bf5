"""Render docker-bake.hcl: the whole matrix as one `docker buildx bake` definition.

- One bake target per matrix entry. It builds the entry's Dockerfile (docker/<target-id>/Dockerfile)
  from the context `invoke build` prepares (build/<target-id>/context: that Dockerfile, the
  sources, the recipe files the recipe digest covers) up to its `artifacts` stage, and exports
  that stage as files (`type=local`): the outputs and nothing else, no container to copy from.
- Every target's build steps run with `network = "none"` (bake has the attribute from buildx 0.14
  on; older versions ignore it, which is why scripts/install-docker-buildx.sh wants 0.14).
- Groups: `default` (= `supported`), `supported`, `experimental`, `all`, one per SDK
  (`sdk-<name>`), one per flavor (`flavor-<name>`), one per matrix alias, and `libraries`.
- Library stages: entries of one SDK and the same flags build identical library stages (same
  toolchain, environment, source, scripts). BuildKit's solver keys a step by its content, so one
  bake run builds each such stage once and every entry that needs it waits for that one build
  (checked with BuildKit 0.8, the one in Docker 20.10). The file lists each distinct stage once as
  a `lib-…` target (group `libraries`, output `cacheonly`) to build or warm a builder's cache with.
- Bake variables: WF_JOBS and SOURCE_DATE_EPOCH (build arguments of the Dockerfiles), CONTEXT_DIR,
  OUTPUT_DIR, and the toolchain's registry and digests (below).
- The toolchain: a Dockerfile starts `FROM ${TOOLCHAIN_IMAGE}`, a build argument defaulting to
  `wasmforge-toolchain:<name>-<lock digest prefix>`, an image made on the host by `invoke
  toolchain`. The docker driver finds it among the engine's images. A remote builder cannot: set
  TOOLCHAIN_REGISTRY (and TOOLCHAIN_DIGEST_<NAME>) and the argument becomes
  `<registry>/<that tag>@<digest>`, which any BuildKit pulls (a named context would do the same
  but needs BuildKit 0.10; Docker 20.10's is 0.8).
- `invoke build` runs this file (rendered afresh) with a second, JSON file of overrides for its
  run (`run_overrides`): each target's context and output directory, its arguments, and an
  `<name>-image` target that loads the entry's `build-image` stage into the engine.

Bake names allow only [A-Za-z0-9_-]: a target id's dots become underscores.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.errors import RenderError
from wasmforge.core.hashing import sha256_file, sha256_json
from wasmforge.model.matrix import Matrix
from wasmforge.model.plan import BuildPlan, Stage
from wasmforge.model.toolchains import ToolchainLock, digest_variable
from wasmforge.rendering.dockerfile import ARTIFACTS_STAGE, EPOCH_ARG, IMAGE_STAGE, TOOLCHAIN_ARG, base_lines, stage_lines
from wasmforge.rendering.generated import HEADER, RenderedFile

BAKE_FILE = "docker-bake.hcl"
NAME = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_JOBS = 2


@dataclass(frozen=True, kw_only=True)
class LibraryStage:
    """One library stage as BuildKit sees it, and the entries whose builds contain it."""

    component: str
    version: str
    key: str  # sha256 of the stage's Dockerfile lines, the files it copies and its inputs' keys
    target_ids: tuple[str, ...]

    @property
    def bake_name(self) -> str:
        return f"lib-{self.component}-{self.key[:12]}"


def bake_name(name: str, where: str) -> str:
    result = name.replace(".", "_")
    if not NAME.fullmatch(result):
        raise RenderError(f"{where}: '{name}' cannot name a bake target or group (letters, digits, '.', '_', '-')")
    return result


def render_bake(matrix: Matrix, plans: list[BuildPlan]) -> str:
    libraries = library_stages(plans)
    locks = _locks(plans)
    lines = [HEADER, *_preamble(), ""]
    lines += _variables(locks)
    lines += _function()
    lines += _groups(matrix, plans, libraries)
    for plan in plans:
        lines += ["", *_entry_target(plan)]
    by_id = {plan.target.id: plan for plan in plans}
    for library in libraries:
        lines += ["", *_library_target(library, by_id[library.target_ids[0]])]
    return "\n".join(lines) + "\n"


def render_all(matrix: Matrix, plans: list[BuildPlan], root: Path) -> list[RenderedFile]:
    return [RenderedFile(path=root / BAKE_FILE, text=render_bake(matrix, plans))]


# --- which library stages the entries share ------------------------------------------------------


def library_stages(plans: list[BuildPlan]) -> list[LibraryStage]:
    """Every distinct library stage, in the order plans first need them."""
    found: dict[str, LibraryStage] = {}
    for plan in plans:
        keys: dict[str, str] = {}
        for stage in plan.libraries:
            key = stage_key(plan, stage, keys)
            keys[stage.name] = key
            known = found.get(key)
            ids = (known.target_ids if known else ()) + (plan.target.id,)
            found[key] = LibraryStage(component=stage.name, version=stage.component.version, key=key, target_ids=ids)
    return list(found.values())


def stage_key(plan: BuildPlan, stage: Stage, keys: dict[str, str]) -> str:
    """What decides the stage's result: its Dockerfile lines and the base's, the content of every
    file it copies from the context, and the stages whose prefixes it copies in."""
    component = stage.component
    copied = [
        f"{path.relative_to(plan.recipes_dir).as_posix()} {sha256_file(path)}"
        for path in plan.recipe_files
        if path.relative_to(plan.recipes_dir).parts[0] in ("lib", component.name)
    ]
    parts = [
        *base_lines(plan), *stage_lines(stage), *copied,
        f"source {component.source.file} {component.source.sha256}",
        *(f"input {name} {keys[name]}" for name in stage.prefix_inputs),
    ]
    return sha256_json(parts)


# --- the file ------------------------------------------------------------------------------------


def _preamble() -> list[str]:
    return [
        "# docker buildx bake: every matrix entry (docs/scale.md). Each target builds its entry's",
        "# docker/<target-id>/Dockerfile from ${CONTEXT_DIR}/<target-id>/context, as `invoke build`",
        "# prepares it, with every RUN step off the network, and exports the `artifacts` stage (the",
        "# outputs alone) into ${OUTPUT_DIR}/<target-id>/. Bake names allow no dots: the target of",
        "# cpython3.13-wasi19.1.7-wasi is cpython3_13-wasi19_1_7-wasi. Entries of one SDK with the same",
        "# flags have identical library stages, which BuildKit builds once per run (group `libraries`).",
    ]


def _variables(locks: list[ToolchainLock]) -> list[str]:
    lines = [
        *_variable("WF_JOBS", str(DEFAULT_JOBS), "make -j inside every stage; does not change the outputs"),
        *_variable(EPOCH_ARG, "", "empty: each entry's own, from matrix.json (what build-sizes.json records)"),
        *_variable("CONTEXT_DIR", "build", "where the <target-id>/context directories are"),
        *_variable("OUTPUT_DIR", "build/bake-out", "each entry's outputs go to <OUTPUT_DIR>/<target-id>/"),
        *_variable("TOOLCHAIN_REGISTRY", "", "empty: the toolchain images are the engine's own (docker driver)"),
    ]
    for lock in locks:
        lines += _variable(digest_variable(lock.toolchain), "", f"sha256:… of {lock.image_tag} in TOOLCHAIN_REGISTRY; empty: by tag")
    return lines


def _variable(name: str, default: str, why: str) -> list[str]:
    return [f'variable "{name}" {{', f"  # {why}", f'  default = "{default}"', "}", ""]


def _function() -> list[str]:
    return [
        "# The toolchain image: the engine's own by tag, or from TOOLCHAIN_REGISTRY pinned by digest.",
        'function "toolchain" {',
        "  params = [tag, digest]",
        '  result = TOOLCHAIN_REGISTRY == "" ? tag : "${TOOLCHAIN_REGISTRY}/${tag}${digest == "" ? "" : "@${digest}"}"',
        "}",
        "",
    ]


def _groups(matrix: Matrix, plans: list[BuildPlan], libraries: list[LibraryStage]) -> list[str]:
    targets = [plan.target for plan in plans]
    groups: dict[str, list[str]] = {"default": ["supported"], "all": [t.id for t in targets]}
    for support in ("supported", "experimental"):
        groups[support] = [t.id for t in targets if t.support == support]
    for target in targets:
        groups.setdefault(f"sdk-{target.sdk.name}", []).append(target.id)
    for target in targets:
        groups.setdefault(f"flavor-{target.flavor.name}", []).append(target.id)
    groups["libraries"] = [library.bake_name for library in libraries]
    for alias, target_id in sorted(matrix.aliases.items()):
        if target_id not in groups["all"]:
            continue  # a file for some entries only (`invoke build`'s run)
        if bake_name(alias, f"{matrix.path}: $.aliases") in groups:
            raise RenderError(f"{matrix.path}: $.aliases['{alias}'] is also the name of a bake group; rename the alias")
        groups[alias] = [target_id]
    lines: list[str] = []
    for name, members in groups.items():
        names = [member if member in groups else bake_name(member, f"{matrix.path}: target") for member in members]
        lines += [f'group "{bake_name(name, f"{matrix.path}: group")}" {{', f"  targets = {_list(names)}", "}", ""]
    return lines[:-1]


def _entry_target(plan: BuildPlan) -> list[str]:
    target = plan.target
    flags = ", ".join(target.flags) or "none"
    return [
        f"# {target.id}: python {target.python.version}, {target.sdk.kind} {target.sdk.version}, "
        f"flavor {target.flavor.name}, flags: {flags}; {target.support}",
        f'target "{bake_name(target.id, "matrix.json: target")}" {{',
        *_build_lines(plan, ARTIFACTS_STAGE),
        f'  output = ["type=local,dest=${{OUTPUT_DIR}}/{target.id}"]',
        "}",
    ]


def _library_target(library: LibraryStage, plan: BuildPlan) -> list[str]:
    return [
        f"# {library.component} {library.version}, in: {', '.join(library.target_ids)}",
        f'target "{library.bake_name}" {{',
        *_build_lines(plan, library.component),
        '  output = ["type=cacheonly"]',
        "}",
    ]


def _build_lines(plan: BuildPlan, stage: str) -> list[str]:
    lock = plan.toolchain_lock
    epoch = f'{EPOCH_ARG} != "" ? {EPOCH_ARG} : "{plan.source_date_epoch}"'
    return [
        f'  context = "${{CONTEXT_DIR}}/{plan.target.id}/context"',
        '  dockerfile = "Dockerfile"',
        f'  target = "{stage}"',
        '  network = "none"',
        "  args = {",
        "    WF_JOBS = WF_JOBS",
        f"    {EPOCH_ARG} = {epoch}",
        f'    {TOOLCHAIN_ARG} = toolchain("{lock.image_tag}", {digest_variable(lock.toolchain)})',
        "  }",
    ]


def _locks(plans: list[BuildPlan]) -> list[ToolchainLock]:
    by_name = {plan.toolchain_lock.toolchain: plan.toolchain_lock for plan in plans}
    return [by_name[name] for name in sorted(by_name)]


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


# --- one `invoke build` run ----------------------------------------------------------------------

IMAGE_TARGET_SUFFIX = "-image"


@dataclass(frozen=True, kw_only=True)
class BakeRun:
    """One entry of an `invoke build` run: where its context is, where its outputs go, which
    image tag its build tree gets, and the arguments (which no environment variable overrides)."""

    plan: BuildPlan
    context: Path
    export: Path
    image_tag: str | None  # None: no build-image target (the build is not the one dist/ holds)
    jobs: int
    toolchain_image: str  # the lock's tag, or <registry>/<tag>@<digest> for a builder without it


def run_targets(runs: list[BakeRun]) -> list[str]:
    """The bake targets one run builds: each entry's outputs, and its build-image if it has a tag."""
    names = [bake_name(run.plan.target.id, "matrix.json: target") for run in runs]
    images = [name + IMAGE_TARGET_SUFFIX for name, run in zip(names, runs) if run.image_tag is not None]
    return [*names, *images]


def run_overrides(runs: list[BakeRun]) -> dict[str, object]:
    """A bake file (JSON) to read after docker-bake.hcl: it moves each entry's context and
    output to this run's directories, gives its arguments, and adds a target that loads the
    entry's build-image stage into the engine under `image_tag`. BuildKit solves both targets of
    an entry together, so the CPython stage is built once."""
    targets: dict[str, object] = {}
    for run in runs:
        name = bake_name(run.plan.target.id, "matrix.json: target")
        targets[name] = {
            "context": str(run.context),
            "args": {"WF_JOBS": str(run.jobs), EPOCH_ARG: str(run.plan.source_date_epoch), TOOLCHAIN_ARG: run.toolchain_image},
            "output": [f"type=local,dest={run.export}"],
        }
        if run.image_tag is None:
            continue
        targets[name + IMAGE_TARGET_SUFFIX] = {
            "inherits": [name],
            "target": IMAGE_STAGE,
            "tags": [run.image_tag],
            "output": ["type=docker"],
        }
    return {"target": targets}
