"""README.md's matrix table is generated from matrix.json and kept current like the Dockerfiles."""

import json
import shutil

from wasmforge.errors import RenderError

from .conftest import ROOT


def test_the_committed_readme_table_is_current(invoke_cli):
    result = invoke_cli(["matrix", "--check-readme"], cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_update_readme_rewrites_only_between_the_markers(invoke_cli, project_copy):
    shutil.copy(ROOT / "README.md", project_copy / "README.md")
    matrix_path = project_copy / "matrix.json"
    data = json.loads(matrix_path.read_text())
    data["entries"][1]["support"] = "experimental"
    matrix_path.write_text(json.dumps(data))
    before = (project_copy / "README.md").read_text()

    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 1
    assert invoke_cli(["matrix", "--update-readme"], cwd=project_copy).returncode == 0
    after = (project_copy / "README.md").read_text()
    assert "| `cpython3.13-emscripten3.1.69-node` | `emscripten-node` | 3.13.5 | emscripten 3.1.69 | node (node) | dynamic-linking | experimental |" in after
    head, tail = before.split("<!-- matrix:start -->")[0], before.split("<!-- matrix:end -->")[1]
    assert after.startswith(head + "<!-- matrix:start -->\n") and after.endswith("<!-- matrix:end -->" + tail)
    assert invoke_cli(["matrix", "--check-readme"], cwd=project_copy).returncode == 0


def test_a_readme_without_markers_is_refused(invoke_cli, project_copy):
    (project_copy / "README.md").write_text("# no table here\n")
    result = invoke_cli(["matrix", "--update-readme"], cwd=project_copy)
    assert result.returncode == RenderError.exit_code
    assert "README.md: no <!-- matrix:start --> ... <!-- matrix:end --> markers" in result.stderr
    assert (project_copy / "README.md").read_text() == "# no table here\n"
