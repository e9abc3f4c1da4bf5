"""`invoke test` runs CPython's own regression tests inside the artifact and judges them against the
target's list of expected failures. The parsing and judging are specified on regrtest's real
output format; the whole runs the default subset in each target's runtime: headless Chromium for
the browser, Node.js for node, wasmtime for WASI (those runtimes themselves are
tests/test_runtimes.py)."""

import importlib.util
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from wasmforge.core.errors import RegrtestError
from wasmforge.model.manifest import manifest_for, write_manifest
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace
from wasmforge.verifying import regrtest
from wasmforge.verifying.runtimes import PythonJob, PythonRun
from wasmforge.verifying.runtimes.chromium import ChromiumRuntime, chromium_executable

from .conftest import BROWSER_TARGET, NEEDS_NODE, NEEDS_WASI, NODE_TARGET, ROOT, WASI_TARGET, built_dist

EXPECTATIONS = {
    BROWSER_TARGET: ROOT / "recipes" / "cpython" / "tests" / "regrtest-emscripten-browser.json",
    NODE_TARGET: ROOT / "recipes" / "cpython" / "tests" / "regrtest-emscripten-node.json",
    WASI_TARGET: ROOT / "recipes" / "cpython" / "tests" / "regrtest-wasi-wasi.json",
}
# Every extension module each build promises (tests/test_browser_artifact.py, tests/test_node_flavor.py,
# tests/test_wasi_flavor.py): its tests are in the default subset and pass.
EXTENSION_TESTS = {
    BROWSER_TARGET: {"test_zlib", "test_bz2", "test_lzma", "test_sqlite3", "test_ctypes", "test_decimal", "test_json"},
    NODE_TARGET: {"test_zlib", "test_bz2", "test_lzma", "test_sqlite3", "test_ctypes", "test_decimal", "test_json"},
    WASI_TARGET: {"test_zlib", "test_bz2", "test_lzma", "test_sqlite3", "test_decimal", "test_json"},
}

NODE = shutil.which("node") or shutil.which("nodejs")
needs_chromium = pytest.mark.skipif(not Path(chromium_executable()).exists(), reason="Debian's chromium is not installed")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/install-host-deps.sh installs nodejs)")
needs_wasmtime = pytest.mark.skipif(importlib.util.find_spec("wasmtime") is None,
                                    reason="the wasmtime package is not installed (pip install -e '.[test]')")
# What a run of each target's artifact needs: its runtime on the host, and the worker that has
# its artifact (tests/conftest.py).
RUNTIME_NEEDS = {
    BROWSER_TARGET: [pytest.mark.browser, needs_chromium],
    NODE_TARGET: [needs_node, NEEDS_NODE],
    WASI_TARGET: [needs_wasmtime, NEEDS_WASI],
}


def on_their_runtimes(*target_ids: str) -> list:
    """pytest parameters: each target with what its run needs (skipped when its runtime is missing)."""
    return [pytest.param(target_id, marks=RUNTIME_NEEDS[target_id], id=target_id) for target_id in target_ids]


# regrtest 3.13's output, as the browser run prints it (-W: a failing test's report is shown).
LOG = """\
Using random seed: 4135909999
0:00:00 load avg: 0.10 Run 4 tests sequentially in a single process
0:00:00 load avg: 0.10 [1/4] test_zlib
0:00:01 load avg: 0.10 [1/4] test_zlib passed
0:00:01 load avg: 0.10 [2/4] test_types
test_types skipped -- No module named '_testsinglephase'
0:00:01 load avg: 0.10 [2/4] test_types skipped
0:00:01 load avg: 0.10 [3/4] test_time
======================================================================
FAIL: test_process_time (test.test_time.TimeTestCase.test_process_time)
----------------------------------------------------------------------
AssertionError: 0.09999999999999432 not less than 0.02
======================================================================
FAIL: test_strftime_invalid_format (test.test_time.TimeTestCase.test_strftime_invalid_format) (format=' %~')
----------------------------------------------------------------------
AssertionError: 'embedded null byte' != 'Invalid format string'
test test_time failed
0:00:02 load avg: 0.10 [3/4/1] test_time failed (2 failures)
0:00:02 load avg: 0.10 [4/4/1] test_json
test test_json crashed -- Traceback (most recent call last):
  File "/usr/local/lib/python3.13/pdb.py", line 93, in <module>
ModuleNotFoundError: No module named 'rlcompleter'

0:00:02 load avg: 0.10 [4/4/2] test_json failed (uncaught exception)
"""


def expectations(**fail: str) -> regrtest.Expectations:
    return regrtest.Expectations(path=Path("x.json"), default=(), skip={}, fail=fail, support_files={}, test_edits={})


def test_the_log_gives_each_modules_state_skip_reason_and_failed_test_ids():
    parsed = regrtest.parse_log(LOG)
    assert parsed.states == {"test_zlib": "passed", "test_types": "skipped", "test_time": "failed", "test_json": "failed"}
    assert parsed.reasons["test_types"] == "No module named '_testsinglephase'"
    assert parsed.reasons["test_json"] == "ModuleNotFoundError: No module named 'rlcompleter'"
    assert parsed.failed_ids["test_time"] == [
        "test.test_time.TimeTestCase.test_process_time",
        "test.test_time.TimeTestCase.test_strftime_invalid_format (format=' %~')",
    ]
    assert parsed.running is None


def test_a_module_that_started_and_never_finished_is_the_one_running_at_a_crash():
    parsed = regrtest.parse_log(LOG + "0:00:03 load avg: 0.10 [5/6/2] test_exceptions\n")
    assert parsed.running == "test_exceptions"


def test_a_crash_blames_the_running_module_and_the_next_run_starts_after_it():
    results: dict[str, regrtest.ModuleResult] = {}
    run = PythonRun(exit_code=None, collected={}, seconds=1.0, crash="RangeError: Maximum call stack size exceeded",
                    output="[1/3] test_a\n[1/3] test_a passed\n[2/3] test_b\n")
    remaining = regrtest._absorb(run, ["test_a", "test_b", "test_c"], results)
    assert remaining == ["test_c"]
    assert results["test_a"].state == "passed"
    assert results["test_b"].state == "crashed" and "RangeError" in results["test_b"].reason


def test_a_runtime_that_fails_before_any_test_is_an_error_not_a_crashed_module():
    run = PythonRun(exit_code=None, output="", collected={}, seconds=1.0, crash="worker error: python.js not found")
    with pytest.raises(RegrtestError, match="before any test started"):
        regrtest._absorb(run, ["test_a"], {})


def test_listed_test_ids_make_a_failure_expected_and_anything_else_unexpected():
    results = {
        "test_time": regrtest.ModuleResult(name="test_time", state="failed", failed_ids=[
            "test.test_time.TimeTestCase.test_process_time",
            "test.test_time.TimeTestCase.test_strftime_invalid_format (format=' %~')",
        ]),
        "test_os": regrtest.ModuleResult(name="test_os", state="failed", failed_ids=["test.test_os.FileTests.test_write"]),
        "test_json": regrtest.ModuleResult(name="test_json", state="failed", reason="ModuleNotFoundError: rlcompleter"),
        "test_zlib": regrtest.ModuleResult(name="test_zlib", state="passed"),
    }
    regrtest.classify(results, expectations(**{
        # A test id covers its subtests; a class covers its tests; a module name covers all.
        "test.test_time.TimeTestCase.test_strftime_invalid_format": "strftime differs",
        "test.test_time.TimeTestCase.test_process_time": "coarse clock",
        "test.test_os.UtimeTests": "one timestamp",
    }))
    assert results["test_time"].verdict == "expected-failure"
    assert results["test_os"].verdict == "UNEXPECTED-FAILURE"
    assert results["test_os"].unexpected_ids == ["test.test_os.FileTests.test_write"]
    assert results["test_json"].verdict == "UNEXPECTED-FAILURE", "a failure with no test ids is never covered by test ids"
    assert results["test_zlib"].verdict == "ok"


def test_a_listed_failure_that_now_passes_is_reported_as_stale():
    results = {
        "test_time": regrtest.ModuleResult(name="test_time", state="passed", cases=[
            regrtest.CaseResult(id="test.test_time.TimeTestCase.test_process_time", outcome="passed", seconds=0.1),
        ]),
        "test_sys": regrtest.ModuleResult(name="test_sys", state="passed"),
    }
    stale = regrtest.stale_expectations(results, expectations(**{
        "test.test_time.TimeTestCase.test_process_time": "coarse clock", "test_sys": "whole module", "test_re": "did not run",
    }))
    assert stale == ["test.test_time.TimeTestCase.test_process_time", "test_sys"]


def test_junit_suites_go_to_their_module_by_test_id_or_else_by_run_order():
    junit = """<testsuites>
      <testsuite><testcase name="test.test_zlib.ChecksumTestCase.test_crc32" status="run" result="completed" time="0.01"/></testsuite>
      <testsuite><testcase name="test.datetimetester.TestDate_Fast.test_today" status="run" result="completed" time="0.02"/>
                 <testcase name="test.datetimetester.TestDate_Fast.test_strftime_trailing_percent" time="0.01">
                   <error type="ValueError" message="embedded null byte">Traceback …</error></testcase>
                 <testcase name="test.datetimetester.TestDate_Fast.test_tz" time="0"><skipped>no tzset</skipped></testcase></testsuite>
    </testsuites>"""
    suites = regrtest.parse_junit(junit)
    owners = regrtest.assign_suites(suites, ["test_zlib", "test_types", "test_datetime"],
                                    {"test_zlib": "passed", "test_types": "skipped", "test_datetime": "failed"})
    assert [c.id for c in owners["test_zlib"]] == ["test.test_zlib.ChecksumTestCase.test_crc32"]
    assert [c.outcome for c in owners["test_datetime"]] == ["passed", "failed", "skipped"]
    assert owners["test_datetime"][1].message == "embedded null byte"


def test_discovery_matches_regrtest_including_split_packages():
    entries = {"test_os.py", "test_json/__init__.py", "test_json/test_dump.py", "test_asyncio/__init__.py",
               "test_asyncio/test_tasks.py", "test_asyncio/utils.py", "datetimetester.py", "test_data.txt", "support/__init__.py"}
    assert regrtest.find_tests(entries, frozenset({"test_asyncio"})) == ["test.test_asyncio.test_tasks", "test_json", "test_os"]
    assert regrtest.owning_test("test.test_asyncio.test_tasks.TaskTests.test_cancel", ["test.test_asyncio.test_tasks", "test_os"]) \
        == "test.test_asyncio.test_tasks"


def test_split_packages_are_read_from_that_cpythons_own_libregrtest():
    source = b'SPLITTESTDIRS: set[TestName] = {\n    "test_asyncio",\n    "test_gdb",\n}\n'
    assert regrtest.split_test_dirs(source) == frozenset({"test_asyncio", "test_gdb"})


def test_an_expectations_file_needs_a_reason_for_every_entry(tmp_path):
    path = tmp_path / "regrtest.json"
    path.write_text(json.dumps({"default": ["test_os"], "fail": {"test_os": ""}}))
    with pytest.raises(RegrtestError, match=r"\$.fail\['test_os'\]: give the reason"):
        regrtest.load_expectations(path)
    path.write_text(json.dumps({"defaults": []}))
    with pytest.raises(RegrtestError, match="unknown keys"):
        regrtest.load_expectations(path)


def test_a_failure_fixed_by_a_newer_sdk_is_expected_only_on_older_ones(tmp_path):
    path = tmp_path / "regrtest.json"
    path.write_text(json.dumps({"fail": {
        "test.test_time.TimeTestCase.test_strftime_invalid_format": {"reason": "strftime drops a trailing %", "sdk_before": "6.0.5"},
        "test.test_os.UtimeTests": "one timestamp",
    }}))
    assert set(regrtest.load_expectations(path, "3.1.69").fail) == {
        "test.test_time.TimeTestCase.test_strftime_invalid_format", "test.test_os.UtimeTests"}
    assert regrtest.load_expectations(path, "3.1.69").fail["test.test_time.TimeTestCase.test_strftime_invalid_format"] == "strftime drops a trailing %"
    # On 6.0.5 and later the test must pass: an entry that no longer applies is no expectation.
    assert set(regrtest.load_expectations(path, "6.0.5").fail) == {"test.test_os.UtimeTests"}
    assert set(regrtest.load_expectations(path, "19.1.7").fail) == {"test.test_os.UtimeTests"}
    # Without a version (checking the file itself), every entry counts.
    assert len(regrtest.load_expectations(path).fail) == 2


def test_a_scoped_failure_needs_a_reason_and_a_version(tmp_path):
    path = tmp_path / "regrtest.json"
    for entry, message in (({"reason": "x", "sdk_before": "six"}, r"sdk_before must be a version such as \"6.0.5\", not 'six'"),
                           ({"reason": "x"}, "give a reason string, or exactly reason and sdk_before"),
                           ({"reason": " ", "sdk_before": "4.0"}, "give the reason as a non-empty string")):
        path.write_text(json.dumps({"fail": {"test_os": entry}}))
        with pytest.raises(RegrtestError, match=rf"\$.fail\['test_os'\]: {message}"):
            regrtest.load_expectations(path, "3.1.69")


def test_a_test_edit_drops_one_named_line_with_a_reason_and_fails_loudly_when_the_line_moved(tmp_path):
    path = tmp_path / "regrtest.json"
    init = "test/test_asyncio/__init__.py"
    skip_line = "support.requires_working_socket(module=True)"
    path.write_text(json.dumps({"test_edits": {init: {"drop_line": skip_line, "reason": "its socketless modules run"}}}))
    edits = regrtest.load_expectations(path).test_edits
    files = {init: f"from test import support\n{skip_line}\nLOADED = True\n".encode()}
    regrtest.apply_test_edits(files, edits, path)
    assert files[init] == b"from test import support\nLOADED = True\n"
    with pytest.raises(RegrtestError, match=r"test_edits\['test/test_asyncio/__init__.py'\]: .* occurs 0 times"):
        regrtest.apply_test_edits(files, edits, path)
    path.write_text(json.dumps({"test_edits": {"asyncio/__init__.py": {"drop_line": "import sys", "reason": "no"}}}))
    with pytest.raises(RegrtestError, match="only files under test/ may be edited"):
        regrtest.load_expectations(path)
    path.write_text(json.dumps({"test_edits": {init: {"drop_line": skip_line}}}))
    with pytest.raises(RegrtestError, match="give exactly drop_line and reason"):
        regrtest.load_expectations(path)


def test_the_junit_report_has_a_suite_per_module_and_expected_failures_as_skipped():
    ws = Workspace.load(root=ROOT)
    target = ws.matrix.resolve("emscripten-browser")
    modules = [
        regrtest.ModuleResult(name="test_time", state="failed", verdict="expected-failure",
                              failed_ids=["test.test_time.TimeTestCase.test_process_time"],
                              cases=[regrtest.CaseResult(id="test.test_time.TimeTestCase.test_time", outcome="passed", seconds=0.5)]),
        regrtest.ModuleResult(name="test_os", state="failed", verdict="UNEXPECTED-FAILURE",
                              failed_ids=["test.test_os.FileTests.test_write"], unexpected_ids=["test.test_os.FileTests.test_write"]),
        regrtest.ModuleResult(name="test_subprocess", state="not-run", verdict="ok", reason="no subprocesses on wasm"),
    ]
    report = regrtest.Report(target=target, runtime="chromium", modules=modules, stale=[], seconds=1.0, runs=1,
                             expectations_fail={"test.test_time.TimeTestCase.test_process_time": "coarse clock"})
    root = ET.fromstring(regrtest.junit_xml(report))
    suites = {suite.get("name"): suite for suite in root}
    assert suites["test_time"].get("tests") == "2" and suites["test_time"].get("failures") == "0"
    assert suites["test_time"].find("testcase/skipped").get("message") == "expected failure: coarse clock"
    assert suites["test_os"].get("failures") == "1"
    assert suites["test_subprocess"].find("testcase/skipped").get("message") == "not-run: no subprocesses on wasm"
    assert "UNEXPECTED FAILURES:" in regrtest.format_report(report)


@pytest.mark.parametrize("target_id", [BROWSER_TARGET, NODE_TARGET, WASI_TARGET])
def test_each_targets_expectations_name_real_tests_with_reasons_and_a_subset_touching_every_extension(target_id):
    ws = Workspace.load(root=ROOT)
    target = ws.matrix.resolve(target_id)
    path = regrtest.expectations_path(ws, target)
    assert path == EXPECTATIONS[target_id]
    listed = regrtest.load_expectations(path)
    assert EXTENSION_TESTS[target_id] <= set(listed.default)
    assert 30 <= len(listed.default) <= 80
    tarball = ws.cache.path_for(next(c.source.sha256 for c in ws.book.components_for(target) if c.name == "cpython"))
    if not tarball.is_file():
        pytest.skip("the CPython source tarball is not in the cache (invoke fetch)")
    regrtest.check_expectations(listed, regrtest.suite_sources(tarball, listed))


class CannedRuntime:
    """A runtime that replays regrtest's output: the Protocol is all regrtest.py needs."""

    name = "canned"

    def __init__(self) -> None:
        self.jobs: list[PythonJob] = []

    def check(self) -> None:
        pass

    def run_python(self, dist, job, on_output=None):
        self.jobs.append(job)
        return PythonRun(exit_code=2, output=LOG, collected={}, seconds=2.0)


def test_any_runtime_behind_the_protocol_can_run_the_suite(project_copy, tmp_path):
    ws = Workspace.load(root=project_copy)
    plan = plan_for(ws, ws.matrix.resolve("emscripten-browser"))
    if not ws.cache.path_for(plan.main.component.source.sha256).is_file():
        pytest.skip("the CPython source tarball is not in the cache (invoke fetch)")
    # Of the artifact, regrtest reads only the manifest (which CPython source it was built from);
    # the canned runtime runs nothing.
    dist = ws.paths.dist_of(plan.target)
    dist.mkdir(parents=True)
    write_manifest(dist, manifest_for(plan, outputs=()))
    runtime = CannedRuntime()
    request = regrtest.RegrtestRequest(tests=["test_zlib", "test_types", "test_time", "test_json"], junit=tmp_path / "j.xml", echo=False)
    report = regrtest.run_regrtest(ws, plan.target, runtime, request)
    job = runtime.jobs[0]
    assert job.args[:2] == ("-m", "test") and job.args[-4:] == ("test_zlib", "test_types", "test_time", "test_json")
    assert "/usr/local/lib/python3.13/test/libregrtest/main.py" in job.files
    assert "/usr/local/lib/python3.13/_pydecimal.py" in job.files
    assert [m.name for m in report.unexpected] == ["test_json"]
    assert (tmp_path / "j.xml").is_file()


# ------------------------------------------------------------------------------------------------
# CPython's suite in the real artifacts

# A test id each target lists as failing, and the module that runs it: taken off a copy of the
# list, its failure must be reported as unexpected.
LISTED_FAILURE = {
    NODE_TARGET: ("test_sys", "test.test_sys.SysModuleTest.test_stdlib_dir"),
    WASI_TARGET: ("test_sqlite3", "test.test_sqlite3.test_transactions.TransactionTests.test_insert_starts_transaction"),
}


@pytest.mark.docker
@pytest.mark.parametrize("target_id", on_their_runtimes(BROWSER_TARGET, NODE_TARGET, WASI_TARGET))
def test_the_default_subset_passes_with_only_listed_failures(target_id, invoke_cli, tmp_path):
    built_dist(target_id)
    junit = tmp_path / "regrtest.xml"
    result = invoke_cli(["test", "--target", target_id, "--junit", str(junit)], cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "unexpected failures: none" in result.stdout
    suites = {suite.get("name"): suite for suite in ET.parse(junit).getroot()}
    assert set(suites) == set(regrtest.load_expectations(EXPECTATIONS[target_id]).default)
    for name in sorted(EXTENSION_TESTS[target_id]):
        suite = suites[name]
        assert int(suite.get("tests")) > 50 and suite.get("failures") == "0" and suite.get("errors") == "0", name
    assert sum(int(suite.get("tests")) for suite in suites.values()) > 5000


@pytest.mark.docker
@pytest.mark.parametrize("target_id", on_their_runtimes(*LISTED_FAILURE))
def test_a_failure_the_list_does_not_name_fails_the_run(target_id, invoke_cli, project_copy, tmp_path):
    dist = built_dist(target_id)
    (project_copy / "dist").mkdir()
    (project_copy / "dist" / target_id).symlink_to(dist)
    module, test_id = LISTED_FAILURE[target_id]
    path = project_copy / EXPECTATIONS[target_id].relative_to(ROOT)
    listed = json.loads(path.read_text())
    del listed["fail"][test_id]
    path.write_text(json.dumps(listed))
    junit = tmp_path / "regrtest.xml"
    result = invoke_cli(["test", "--target", target_id, "--tests", module, "--junit", str(junit)], cwd=project_copy)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-4000:]
    assert "UNEXPECTED FAILURES:" in result.stdout and test_id in result.stdout
    failures = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase") if case.find("failure") is not None]
    assert test_id in failures


@pytest.mark.docker
@pytest.mark.browser
@needs_chromium
def test_pdb_and_doctest_import_in_the_artifact():
    """wasm_assets.py drops rlcompleter.py when there is no readline module, but pdb imports it
    and doctest imports pdb: recipes/cpython/build.sh adds it back."""
    run = ChromiumRuntime().run_python(built_dist(), PythonJob(args=("-c", "import doctest, pdb; print('imported')"), timeout_seconds=120))
    assert run.exit_code == 0 and "imported" in run.output, run.output


def test_a_flag_that_changes_what_passes_has_its_own_list_and_the_browser_threads_run_test_threading():
    ws = Workspace.load(root=ROOT)
    path = regrtest.expectations_path(ws, ws.matrix.resolve("cpython3.13-emscripten3.1.69-browser-pthreads"))
    assert path.name == "regrtest-emscripten-browser-pthreads.json"
    assert {"test_threading", "test_thread"} <= set(regrtest.load_expectations(path).default)
    node_pthreads = ws.matrix.resolve("cpython3.13-emscripten3.1.69-node-pthreads")
    assert regrtest.expectations_path(ws, node_pthreads).name == "regrtest-emscripten-node.json", "no file of its own: the flavor's"
