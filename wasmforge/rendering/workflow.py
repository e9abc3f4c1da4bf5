"""Render the CI workflows (.github/workflows/) from the matrix, for a GitHub Actions-style runner.

- `ci.yml`, on every push and pull request:
  - `ci` runs `bash .ci/run`, the very script this project's CI runs (host dependencies, the
    README's main job, the test command);
  - one job per supported entry: host dependencies as .ci/run installs them, `invoke build`,
    `invoke test` (the entry's regrtest subset) and `invoke reproduce --manifest` (a no-cache
    rebuild under varied conditions that must give the same bytes).
- `nightly.yml`, every night and on demand: `invoke nightly`, as run here, publishing to the OCI
  store named by the repository variable WASMFORGE_STORE and signing with the private key in the
  secret WASMFORGE_SIGNING_KEY, then a provenance attestation of what it published.

Every step runs a project command, never a copy of one: what the workflows run and what .ci/run
and `invoke nightly` run here cannot drift. The jobs need a self-hosted runner labelled
`wasmforge` (Debian with Docker Engine, as root, like the machines .ci/run runs on), declared in
.github/actionlint.yaml so that actionlint knows the label.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from wasmforge.model.matrix import Matrix, Target
from wasmforge.rendering.bake import bake_name
from wasmforge.rendering.generated import HEADER, RenderedFile

RUNNER = ("self-hosted", "linux", "x64", "wasmforge")
RUNNER_LABEL = "wasmforge"
# Versions actionlint knows (it checks their inputs); checkout@v4 runs on the deprecated node20.
CHECKOUT = "actions/checkout@v5"
ATTEST = "actions/attest-build-provenance@v3"
INSTALL = "bash scripts/install-host-deps.sh"
NIGHTLY_KEY = "$RUNNER_TEMP/wasmforge-signing-key.pem"
NIGHTLY_CRON = "17 2 * * *"
# .ci/run must finish within CI's 90 minutes; a cold entry (build, regrtest, no-cache rebuild)
# takes about 80 on 2 cores; the nightly builds every supported entry one after another.
CI_MINUTES = 90
ENTRY_MINUTES = 150
NIGHTLY_MINUTES = 360
YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    run: str | None = None
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    if_: str | None = None


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    name: str
    minutes: int
    steps: tuple[Step, ...]
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Workflow:
    file: str
    name: str
    events: tuple[str, ...]  # what starts it, besides `cron`
    cron: str | None = None  # a schedule, in UTC
    jobs: tuple[Job, ...]
    concurrency: str


def workflows(matrix: Matrix) -> list[Workflow]:
    return [ci_workflow(matrix), nightly_workflow()]


def ci_workflow(matrix: Matrix) -> Workflow:
    ci = Job(id="ci", name=".ci/run", minutes=CI_MINUTES, steps=(_checkout(), Step(name=".ci/run", run="bash .ci/run")))
    entries = tuple(entry_job(target) for target in matrix.targets if target.support == "supported")
    return Workflow(
        file="ci.yml", name="ci", events=("push", "pull_request"), jobs=(ci, *entries),
        concurrency="ci-${{ github.ref }}",
    )


def entry_job(target: Target) -> Job:
    steps = (
        _checkout(),
        Step(name="host dependencies", run=INSTALL),
        Step(name="build", run=f"invoke build --target {target.id}"),
        Step(name="regrtest subset", run=f"invoke test --target {target.id}"),
        Step(name="reproduce", run=f"invoke reproduce --manifest dist/{target.id}/manifest.json"),
    )
    return Job(id=bake_name(target.id, "matrix.json: target"), name=target.id, minutes=ENTRY_MINUTES, steps=steps)


def nightly_workflow() -> Workflow:
    steps = (
        _checkout(),
        Step(name="host dependencies", run=INSTALL),
        Step(
            name="signing key",
            # Only the key's file holds the secret; the environment variable dies with the step.
            run=f'umask 077\nprintf \'%s\\n\' "$SIGNING_KEY" > "{NIGHTLY_KEY}"',
            env={"SIGNING_KEY": "${{ secrets.WASMFORGE_SIGNING_KEY }}"},
        ),
        Step(
            name="build, smoke-test, publish",
            run=f'invoke nightly --store "$WASMFORGE_STORE" --key "{NIGHTLY_KEY}"',
            env={"WASMFORGE_STORE": "${{ vars.WASMFORGE_STORE }}"},
        ),
        Step(
            name="attest provenance",
            uses=ATTEST,
            # A manifest names every output by sha256, SHA256SUMS every file: attesting both covers all.
            with_={"subject-path": "dist/nightly/*/*/manifest.json\ndist/nightly/*/*/SHA256SUMS\n"},
        ),
        Step(name="forget the signing key", run=f'rm -f "{NIGHTLY_KEY}"', if_="always()"),
    )
    job = Job(
        id="nightly", name="invoke nightly", minutes=NIGHTLY_MINUTES, steps=steps,
        permissions={"contents": "read", "id-token": "write", "attestations": "write"},
    )
    return Workflow(
        file="nightly.yml", name="nightly", events=("workflow_dispatch",), cron=NIGHTLY_CRON, jobs=(job,),
        concurrency="nightly",
    )


def render_workflow(workflow: Workflow) -> str:
    lines = [HEADER, f"name: {workflow.name}", "on:"]
    if workflow.cron:
        lines += ["  schedule:", f"    - cron: {json.dumps(workflow.cron)}"]
    lines += [f"  {event}:" for event in workflow.events]
    lines += ["permissions:", "  contents: read", "concurrency:", f"  group: {_scalar(workflow.concurrency)}",
              "  cancel-in-progress: false", "jobs:"]
    for job in workflow.jobs:
        lines += _job(job)
    return "\n".join(lines) + "\n"


def render_actionlint_config() -> str:
    return "\n".join([
        HEADER,
        "# The runner label the workflows ask for, so that actionlint knows it.",
        "self-hosted-runner:",
        "  labels:",
        f"    - {RUNNER_LABEL}",
    ]) + "\n"


def render_all(matrix: Matrix, root: Path) -> list[RenderedFile]:
    github = root / ".github"
    rendered = [RenderedFile(path=github / "workflows" / w.file, text=render_workflow(w)) for w in workflows(matrix)]
    return rendered + [RenderedFile(path=github / "actionlint.yaml", text=render_actionlint_config())]


def managed_dir(root: Path) -> Path:
    return root / ".github" / "workflows"


def _checkout() -> Step:
    return Step(name="checkout", uses=CHECKOUT)


def _job(job: Job) -> list[str]:
    lines = [f"  {job.id}:", f"    name: {_scalar(job.name)}", f"    runs-on: [{', '.join(RUNNER)}]",
             f"    timeout-minutes: {job.minutes}"]
    if job.permissions:
        lines += ["    permissions:", *(f"      {key}: {value}" for key, value in job.permissions.items())]
    lines.append("    steps:")
    for step in job.steps:
        lines += _step(step)
    return lines


def _step(step: Step) -> list[str]:
    lines = [f"      - name: {_scalar(step.name)}"]
    if step.if_:
        lines.append(f"        if: {step.if_}")
    if step.uses:
        lines.append(f"        uses: {step.uses}")
    for key, values in (("with", step.with_), ("env", step.env)):
        if values:
            lines += [f"        {key}:", *(line for k, v in values.items() for line in _field(k, v, "          "))]
    if step.run:
        # A script goes in a literal block unless it is a plain scalar: its quotes stay as written.
        lines += _field("run", step.run, "        ", literal=True)
    return lines


def _field(key: str, value: str, indent: str, literal: bool = False) -> list[str]:
    if _scalar(value) == value or not (literal or "\n" in value):
        return [f"{indent}{key}: {_scalar(value)}"]
    return [f"{indent}{key}: |", *(f"{indent}  {line}" for line in value.rstrip("\n").split("\n"))]


def _scalar(value: str) -> str:
    # Plain where YAML reads it back as that string; otherwise a JSON string, which YAML reads as is.
    plain = (
        value and all(c.isalnum() or c in " -_./" for c in value) and value[0] not in "-. " and value[-1] != " "
        and value.lower() not in YAML_WORDS and not value.replace(".", "").isdigit()
    )
    return value if plain else json.dumps(value)
