"""README.md's matrix table is generated from matrix.json and kept current like the Dockerfiles."""

import json
import shutil
from pathlib import Path

from wasmforge.core.errors import RenderError
from wasmforge.model.manifest import Manifest, record_outputs, write_manifest
from wasmforge.model.workspace import Workspace
from wasmforge.model.plan import plan_for

from .conftest import BROWSER_TARGET, NODE_TARGET, ROOT


def fake_build(project: Path, target_id: str, *, fresh: bool) -> None:
    """A dist folder whose manifest names today's recipe digest (fresh) or another one (stale)."""
    ws = Workspace.load(root=project)
    target = ws.matrix.resolve(target_id)
    dist = project / "dist" / target_id
    dist.mkdir(parents=True)
    (dist / "python.wasm").write_bytes(b"\0asm" + bytes(range(256)) * 40)
    (dist / "python.js").write_text("var Module;\n" * 100)
    (dist / "python.data").write_bytes(b"PK" * 300)
    write_manifest(dist, Manifest(
        target={"id": target_id}, source_date_epoch=target.source_date_epoch,
        toolchain={"lock_digest": ws.toolchain_lock(target).digest},
        recipe_digest=plan_for(ws, target).recipe_digest if fresh else "0" * 64, inputs=(), outputs=record_outputs(dist),
    ))


def test_the_committed_readme_table_is_current(invoke_cli):
    result = invoke_cli(["matrix", "--check-readme"], cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_update_readme_rewrites_only_between_the_markers(invoke_cli, project_copy):
    shutil.copy(ROOT / "README.md", project_copy / "README.md")
    matrix_path = project_copy / "matrix.json"
    data = json.loads(matrix_path.read_text())
    node = next(e for e in data["entries"] if e["sdk"] == "emscripten-3.1.69" and e["flavor"] == "node" and "variant" not in e)
    node["support"] = "experimental"
    matrix_path.write_text(json.dumps(data))
    before = (project_copy / "README.md").read_text()

    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 1
    assert invoke_cli(["matrix", "--update-readme"], cwd=project_copy).returncode == 0
    after = (project_copy / "README.md").read_text()
    assert "| `cpython3.13-emscripten3.1.69-node` | `emscripten-node` | 3.13.5 | emscripten 3.1.69 | node (node) | dynamic-linking | experimental | " in after
    head, tail = before.split("<!-- matrix:start -->")[0], before.split("<!-- matrix:end -->")[1]
    assert after.startswith(head + "<!-- matrix:start -->\n") and after.endswith("<!-- matrix:end -->" + tail)
    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 0


def test_a_readme_without_markers_is_refused(invoke_cli, project_copy):
    (project_copy / "README.md").write_text("# no table here\n")
    result = invoke_cli(["matrix", "--update-readme"], cwd=project_copy)
    assert result.returncode == RenderError.exit_code
    assert "README.md: no <!-- matrix:start --> ... <!-- matrix:end --> markers" in result.stderr
    assert (project_copy / "README.md").read_text() == "# no table here\n"


def test_update_readme_records_sizes_of_fresh_builds_only_and_check_reads_the_record(invoke_cli, project_copy):
    shutil.copy(ROOT / "README.md", project_copy / "README.md")
    (project_copy / "build-sizes.json").unlink(missing_ok=True)
    fake_build(project_copy, BROWSER_TARGET, fresh=True)
    fake_build(project_copy, NODE_TARGET, fresh=False)

    assert invoke_cli(["matrix", "--update-readme"], cwd=project_copy).returncode == 0
    recorded = json.loads((project_copy / "build-sizes.json").read_text())
    assert set(recorded) == {BROWSER_TARGET}, "a build from other recipes is not recorded"
    raw = sum(p.stat().st_size for p in (project_copy / "dist" / BROWSER_TARGET).glob("python.*"))
    assert recorded[BROWSER_TARGET]["raw"] == raw
    assert len(recorded[BROWSER_TARGET]["recipe_digest"]) == len(recorded[BROWSER_TARGET]["lock_digest"]) == 64, \
        "the record says what built it, for `reproduce --target`"
    readme = (project_copy / "README.md").read_text()
    assert f"| {raw:,} / {recorded[BROWSER_TARGET]['gzip']:,} | {recorded[BROWSER_TARGET]['initial_gzip']:,} |" in readme
    assert "| `cpython3.13-emscripten3.1.69-node` |" in readme and "| not recorded |" in readme

    # The check never looks at dist/: removing the builds changes nothing.
    shutil.rmtree(project_copy / "dist")
    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 0
    recorded[BROWSER_TARGET]["gzip"] += 1
    (project_copy / "build-sizes.json").write_text(json.dumps(recorded))
    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 1
