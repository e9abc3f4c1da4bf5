"""matrix.json: every malformed or inconsistent input is refused with one line naming the file
and the JSON path, by the loader and by the CLI before it writes anything, and the shipped matrix
is valid."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wasmforge.core.errors import ExcludedTargetError, MatrixError, UnknownTargetError
from wasmforge.model.matrix import load_matrix

from .conftest import BROWSER_TARGET, ROOT


def load(data: dict[str, Any], tmp_path: Path):
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(data))
    return load_matrix(path, ROOT / "schemas" / "matrix.schema.json", ROOT / "recipes", ROOT / "recipes" / "toolchains")


def refused(data: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(MatrixError) as caught:
        load(data, tmp_path)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith("matrix.json: "), "errors name the file"
    return message


def test_the_shipped_matrix_is_valid_and_resolves_the_browser_alias(matrix_data, tmp_path):
    matrix = load(matrix_data, tmp_path)
    target = matrix.resolve("emscripten-browser")
    assert target.id == BROWSER_TARGET
    assert target.aliases == ("emscripten-browser",)
    assert "dynamic-linking" in target.flags


def test_an_unknown_key_is_refused_with_its_path_and_a_suggestion(matrix_data, tmp_path):
    matrix_data["entries"][0]["flavour"] = "browser"
    message = refused(matrix_data, tmp_path)
    assert "$.entries[0]" in message and "'flavour' was unexpected" in message
    assert "did you mean 'flavor'" in message


def test_a_wrong_type_is_refused_with_its_path(matrix_data, tmp_path):
    matrix_data["entries"][0]["flags"] = "dynamic-linking"
    message = refused(matrix_data, tmp_path)
    assert "$.entries[0].flags" in message and "is not of type 'array'" in message


def test_a_missing_required_key_is_refused(matrix_data, tmp_path):
    del matrix_data["entries"][0]["support"]
    assert "'support' is a required property" in refused(matrix_data, tmp_path)


def test_an_unknown_support_level_is_refused(matrix_data, tmp_path):
    matrix_data["entries"][0]["support"] = "mostly"
    assert "$.entries[0].support" in refused(matrix_data, tmp_path)


def test_a_duplicate_target_id_is_refused(matrix_data, tmp_path):
    matrix_data["entries"].append(copy.deepcopy(matrix_data["entries"][0]))
    duplicate = len(matrix_data["entries"]) - 1
    message = refused(matrix_data, tmp_path)
    assert f"$.entries[{duplicate}]" in message and f"duplicate target id '{BROWSER_TARGET}'" in message


def test_a_variant_makes_a_second_entry_of_the_same_combination_distinct(matrix_data, tmp_path):
    second = copy.deepcopy(matrix_data["entries"][0])
    second["variant"] = "static"
    second["flags"] = []
    matrix_data["entries"].append(second)
    assert f"{BROWSER_TARGET}-static" in load(matrix_data, tmp_path).target_ids()


def test_an_alias_pointing_nowhere_is_refused(matrix_data, tmp_path):
    matrix_data["aliases"]["emscripten-browser"] = "cpython3.13-emscripten3.1.69-browzer"
    message = refused(matrix_data, tmp_path)
    assert "$.aliases['emscripten-browser']" in message and "unknown target" in message
    assert f"did you mean '{BROWSER_TARGET}'" in message


def test_an_alias_may_not_shadow_a_target_id(matrix_data, tmp_path):
    matrix_data["aliases"][BROWSER_TARGET] = BROWSER_TARGET
    assert "shadows a target id" in refused(matrix_data, tmp_path)


def test_a_flag_not_allowed_for_the_flavor_is_refused(matrix_data, tmp_path):
    matrix_data["flags"]["pthreads"]["flavors"] = ["node"]
    matrix_data["exclusions"] = []
    matrix_data["entries"][0]["flags"] = ["pthreads"]
    message = refused(matrix_data, tmp_path)
    assert "$.entries[0].flags[0]" in message and "not allowed for flavor 'browser'" in message


def test_a_flag_without_the_flag_it_requires_is_refused(matrix_data, tmp_path):
    matrix_data["entries"][0]["flags"] = ["side-modules"]
    message = refused(matrix_data, tmp_path)
    assert "$.entries[0].flags[0]" in message and "flag 'side-modules' needs flag 'dynamic-linking'" in message


def test_a_flag_requiring_an_unknown_flag_is_refused(matrix_data, tmp_path):
    matrix_data["flags"]["side-modules"]["requires"] = ["dynamic-linkin"]
    assert "$.flags['side-modules'].requires[0]: unknown flag 'dynamic-linkin'" in refused(matrix_data, tmp_path)


def test_an_unknown_flag_is_refused(matrix_data, tmp_path):
    matrix_data["entries"][0]["flags"] = ["turbo"]
    assert "unknown flag 'turbo'" in refused(matrix_data, tmp_path)


def test_unknown_python_sdk_and_flavor_references_are_refused(matrix_data, tmp_path):
    for key, value in (("python", "3.99"), ("sdk", "emscripten-9"), ("flavor", "toaster")):
        data = copy.deepcopy(matrix_data)
        data["entries"][0][key] = value
        assert f"$.entries[0].{key}" in refused(data, tmp_path)


def test_a_flavor_on_the_wrong_kind_of_sdk_is_refused(matrix_data, tmp_path):
    matrix_data["flavors"]["browser"]["sdk_kind"] = "wasi"
    assert "needs a wasi SDK" in refused(matrix_data, tmp_path)


def test_sdk_versions_are_compared_as_versions_not_strings(matrix_data, tmp_path):
    # "3.1.100" sorts before "3.1.69" as a string but is newer as a version.
    matrix_data["pythons"]["3.13"]["sdk_requirements"]["emscripten"] = ">=3.1.100"
    message = refused(matrix_data, tmp_path)
    assert "needs emscripten>=3.1.100, got 3.1.69" in message


def test_an_invalid_version_specifier_is_refused(matrix_data, tmp_path):
    matrix_data["pythons"]["3.13"]["sdk_requirements"]["emscripten"] = "at least 3"
    assert "invalid version specifier" in refused(matrix_data, tmp_path)


def test_an_entry_matching_an_exclusion_is_refused_with_the_reason(matrix_data, tmp_path):
    matrix_data["entries"][0]["flags"] = ["dynamic-linking", "pthreads"]
    message = refused(matrix_data, tmp_path)
    assert "entry is excluded" in message and "dynamic linking with pthreads is experimental" in message


def test_a_missing_toolchain_spec_or_recipe_is_refused(matrix_data, tmp_path):
    data = copy.deepcopy(matrix_data)
    data["sdks"]["emscripten-3.1.69"]["toolchain"] = "emscripten-0.0.1"
    assert "$.sdks['emscripten-3.1.69'].toolchain" in refused(data, tmp_path)
    matrix_data["pythons"]["3.13"]["recipe"] = "pypy"
    assert "$.pythons['3.13'].recipe" in refused(matrix_data, tmp_path)


def test_a_version_of_another_minor_release_is_refused(matrix_data, tmp_path):
    matrix_data["pythons"]["3.13"]["version"] = "3.12.9"
    assert "is not a 3.13 release" in refused(matrix_data, tmp_path)


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "matrix.json"
    path.write_text('{"schema_version": 1,\n  "pythons": }')
    with pytest.raises(MatrixError, match=r"invalid JSON at line 2, column 14"):
        load_matrix(path, ROOT / "schemas" / "matrix.schema.json", ROOT / "recipes", ROOT / "recipes" / "toolchains")


def test_the_cli_refuses_a_malformed_matrix_in_one_line_and_writes_nothing(invoke_cli, project_copy):
    matrix_path = project_copy / "matrix.json"
    data = json.loads(matrix_path.read_text())
    data["entries"][0]["flags"] = ["dynamic-linking", "warp-drive"]
    matrix_path.write_text(json.dumps(data))
    before = sorted(p for p in project_copy.rglob("*"))
    result = invoke_cli(["render"], cwd=project_copy)
    assert result.returncode == MatrixError.exit_code
    assert result.stderr.strip() == (
        "error: matrix.json: $.entries[0].flags[1]: unknown flag 'warp-drive' (known: dynamic-linking, pthreads, debug, side-modules)"
    )
    assert sorted(p for p in project_copy.rglob("*")) == before, "nothing is written"


def test_an_unknown_target_lists_the_valid_ones(matrix_data, tmp_path):
    matrix = load(matrix_data, tmp_path)
    with pytest.raises(UnknownTargetError) as caught:
        matrix.resolve("emscripten-browsr")
    message = str(caught.value)
    assert "did you mean 'emscripten-browser'" in message and BROWSER_TARGET in message


def test_asking_for_an_excluded_combination_fails_with_its_reason(matrix_data, tmp_path):
    matrix = load(matrix_data, tmp_path)
    with pytest.raises(ExcludedTargetError, match="dynamic linking with pthreads is experimental"):
        matrix.resolve(f"{BROWSER_TARGET}-pthreads+dynamic-linking")


def test_a_python_asked_for_with_an_sdk_older_than_it_needs_fails_with_the_requirement(matrix_data, tmp_path):
    # Without the exclusions that explain it, the sdk_requirements still refuse the pair.
    matrix_data["exclusions"] = [e for e in matrix_data["exclusions"] if e.get("python") != "3.14"]
    matrix = load(matrix_data, tmp_path)
    with pytest.raises(ExcludedTargetError, match=r"python 3.14 needs emscripten>=4.0, got 3.1.69"):
        matrix.resolve("cpython3.14-emscripten3.1.69-browser")


def test_an_entry_for_a_python_with_an_sdk_older_than_it_needs_is_refused(matrix_data, tmp_path):
    matrix_data["entries"].append({"python": "3.14", "sdk": "emscripten-3.1.69", "flavor": "node", "flags": [], "support": "experimental"})
    matrix_data["exclusions"] = [e for e in matrix_data["exclusions"] if e.get("python") != "3.14"]
    assert "needs emscripten>=4.0, got 3.1.69" in refused(matrix_data, tmp_path)


def test_every_declared_pair_of_python_and_sdk_is_an_entry_or_excluded_with_a_reason(matrix_data, tmp_path):
    matrix = load(matrix_data, tmp_path)
    for python in matrix.pythons.values():
        for sdk in matrix.sdks.values():
            for flavor in (f for f in matrix.flavors.values() if f.sdk_kind == sdk.kind):
                name = f"cpython{python.minor}-{sdk.kind}{sdk.version}-{flavor.name}"
                if any(t.id.startswith(name) for t in matrix.targets):
                    continue
                try:
                    matrix.resolve(name)
                except ExcludedTargetError as excluded:
                    assert ": " in str(excluded)
                except UnknownTargetError:
                    assert python.minor == "3.13", f"{name}: a new python's pairs are declared or excluded"
                else:
                    pytest.fail(f"{name} resolves, but no target id starts with it")
