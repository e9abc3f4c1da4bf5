"""The CI workflows (.github/workflows/), rendered from the matrix and checked by actionlint.

They cannot run here (no GitHub runner); what can be checked is that actionlint accepts them,
that render --check catches a stale one, and that every step runs the project's own commands.
"""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from wasmforge.model.workspace import Workspace
from wasmforge.rendering import workflow
from wasmforge.rendering.bake import BAKE_FILE

from .conftest import ROOT

ACTIONLINT = shutil.which("actionlint")
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint is not installed (the test extra brings it: pip install -e '.[test]')"
)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT is not None
    return subprocess.run([ACTIONLINT, "-no-color"], cwd=cwd, capture_output=True, text=True)


def git_project(tmp_path: Path) -> Path:
    """actionlint looks for the repository root: a scratch git repository with the rendered files."""
    project = tmp_path / "repo"
    shutil.copytree(ROOT / ".github", project / ".github")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def runs(wf: workflow.Workflow) -> list[str]:
    return [step.run for job in wf.jobs for step in job.steps if step.run]


# --- actionlint ----------------------------------------------------------------------------------


@needs_actionlint
def test_actionlint_accepts_the_rendered_workflows() -> None:
    result = actionlint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_rejects_a_broken_workflow_and_an_undeclared_runner(tmp_path: Path) -> None:
    project = git_project(tmp_path)
    assert actionlint(project).returncode == 0

    ci = project / ".github" / "workflows" / "ci.yml"
    good = ci.read_text()
    ci.write_text(good.replace("    timeout-minutes: 90\n", "    timeout-minutes: 90\n    needs: [nowhere]\n", 1))
    result = actionlint(project)
    assert result.returncode == 1 and "nowhere" in result.stdout

    ci.write_text(good)
    (project / ".github" / "actionlint.yaml").unlink()
    result = actionlint(project)
    assert result.returncode == 1 and 'label "wasmforge" is unknown' in result.stdout


# --- render --check ------------------------------------------------------------------------------


def test_render_check_names_a_stale_or_orphaned_workflow(invoke_cli, project_copy) -> None:
    shutil.copytree(ROOT / ".github", project_copy / ".github")
    shutil.copy2(ROOT / BAKE_FILE, project_copy / BAKE_FILE)
    assert invoke_cli(["render", "--check"], cwd=project_copy).returncode == 0

    nightly = project_copy / ".github" / "workflows" / "nightly.yml"
    nightly.write_text(nightly.read_text().replace(workflow.NIGHTLY_CRON, "0 12 * * *"))
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1 and ".github/workflows/nightly.yml" in result.stderr

    orphan = project_copy / ".github" / "workflows" / "old.yml"
    orphan.write_text("name: old\n")
    result = invoke_cli(["render", "--check"], cwd=project_copy)
    assert result.returncode == 1 and ".github/workflows/old.yml" in result.stderr

    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    assert not orphan.exists() and nightly.read_text() == (ROOT / ".github/workflows/nightly.yml").read_text()


def test_a_new_supported_entry_gets_a_job(invoke_cli, project_copy, ws: Workspace) -> None:
    shutil.copytree(ROOT / ".github", project_copy / ".github")
    matrix_path = project_copy / "matrix.json"
    matrix = json.loads(matrix_path.read_text())
    promoted = next(entry for entry in matrix["entries"] if entry.get("support") == "experimental")
    promoted["support"] = "supported"
    matrix_path.write_text(json.dumps(matrix))
    assert invoke_cli(["render", "--check"], cwd=project_copy).returncode == 1
    assert invoke_cli(["render"], cwd=project_copy).returncode == 0
    copy = Workspace.load(root=project_copy)
    supported = [t.id for t in copy.matrix.targets if t.support == "supported"]
    assert len(supported) == len([t for t in ws.matrix.targets if t.support == "supported"]) + 1
    text = (project_copy / ".github" / "workflows" / "ci.yml").read_text()
    assert all(f"    name: {target_id}\n" in text for target_id in supported)


# --- what the jobs run ---------------------------------------------------------------------------


def test_one_job_per_supported_entry_builds_runs_its_regrtest_subset_and_reproduces(ws: Workspace) -> None:
    ci = workflow.ci_workflow(ws.matrix)
    jobs = {job.name: job for job in ci.jobs if job.id != "ci"}
    assert sorted(jobs) == sorted(t.id for t in ws.matrix.targets if t.support == "supported")
    for target_id, job in jobs.items():
        assert [step.run for step in job.steps if step.run] == [
            workflow.INSTALL,
            f"invoke build --target {target_id}",
            f"invoke test --target {target_id}",
            f"invoke reproduce --manifest dist/{target_id}/manifest.json",
        ]


def test_the_ci_job_is_this_projects_ci_script_and_installs_like_it(ws: Workspace) -> None:
    ci = workflow.ci_workflow(ws.matrix)
    [script] = [step.run for job in ci.jobs if job.id == "ci" for step in job.steps if step.run]
    assert script == "bash .ci/run"
    assert workflow.INSTALL in (ROOT / ".ci" / "run").read_text(), ".ci/run and the entry jobs must install alike"
    assert ci.jobs[0].minutes <= 90, "CI's limit for .ci/run"


def test_every_invoke_step_names_a_task_and_options_that_exist(invoke_cli, ws: Workspace) -> None:
    commands = [line for wf in workflow.workflows(ws.matrix) for run in runs(wf)
                for line in run.splitlines() if line.startswith("invoke ")]
    assert commands, "the workflows run the project's tasks"
    for command in commands:
        words = shlex.split(command)
        task, options = words[1], [w.split("=")[0] for w in words[2:] if w.startswith("--")]
        help_text = invoke_cli(["--help", task], cwd=ROOT)
        assert help_text.returncode == 0, f"{command}: no task {task!r}"
        for option in options:
            assert re.search(rf"{re.escape(option)}[=\s]", help_text.stdout), f"{command}: {task} has no {option}"


def test_the_nightly_publishes_signed_with_a_secret_key_and_attests_provenance() -> None:
    nightly = workflow.nightly_workflow()
    [job] = nightly.jobs
    assert nightly.cron == workflow.NIGHTLY_CRON and nightly.events == ("workflow_dispatch",)
    steps = {step.name: step for step in job.steps}
    key = steps["signing key"]
    assert key.env == {"SIGNING_KEY": "${{ secrets.WASMFORGE_SIGNING_KEY }}"} and "umask 077" in key.run
    publish = steps["build, smoke-test, publish"]
    assert publish.run == f'invoke nightly --store "$WASMFORGE_STORE" --key "{workflow.NIGHTLY_KEY}"'
    assert publish.env == {"WASMFORGE_STORE": "${{ vars.WASMFORGE_STORE }}"}
    names = [step.name for step in job.steps]
    assert names.index("attest provenance") > names.index("build, smoke-test, publish")
    assert steps["attest provenance"].uses == workflow.ATTEST
    assert job.permissions == {"contents": "read", "id-token": "write", "attestations": "write"}
    assert steps["forget the signing key"].if_ == "always()"
