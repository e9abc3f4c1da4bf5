"""`invoke test`: CPython's own regression tests (`python -m test`) inside an artifact's interpreter.

The tests come from the very source tarball the artifact was built from (its manifest names it by
sha256; the cache holds it). They run on the flavor's runtime (see wasmforge.runtimes), and each
target keeps a list of what is expected not to work on it, with one reason per entry:
recipes/<python recipe>/tests/regrtest-<sdk kind>-<flavor>[-<flag>].json (tests/ is not a build input).

An expectation key is either a regrtest test name ("test_os", "test.test_asyncio.test_tasks"),
which covers the whole module, or a test id under one ("test.test_os.FileTests.test_write"), which
covers a class or a single test. "skip" entries are never run (module names are left out, test
ids go to regrtest's --ignorefile); "fail" entries run, and their failures do not fail the run.
"""

import posixpath
import re
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.version import Version

from wasmforge.core import log
from wasmforge.core.cache import Pin
from wasmforge.core.errors import RegrtestError
from wasmforge.core.files import read_json
from wasmforge.model.manifest import read_manifest
from wasmforge.model.matrix import Target
from wasmforge.verifying.runtimes import PythonJob, PythonRun, Runtime
from wasmforge.model.workspace import Workspace

GUEST_JUNIT = "/tmp/wf-regrtest-junit.xml"
GUEST_IGNOREFILE = "/tmp/wf-regrtest-ignore.txt"
# regrtest's work directories (test_python_<pid>): under the run's own /tmp, not tempfile's
# default, which on node is the host's /tmp, shared by every run (and emscripten's pid is always 42).
GUEST_TEMPDIR = "/tmp/wf-regrtest"
# regrtest is silent while a module runs: a module silent for longer than this is taken as hung
# (the slowest in the default subset, test_tarfile, takes about 50 s in Chromium).
IDLE_SECONDS = 600.0
# Tests per interpreter: a fresh one every so often bounds what a crash loses (a crashed run writes
# no JUnit report) and how far a silent memory corruption (a C stack overrun) can carry.
BATCH_SIZE = 60

# ------------------------------------------------------------------------------------------------
# Which tests exist, and what each target expects of them


@dataclass(frozen=True, kw_only=True)
class SuiteEdit:
    drop_line: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Expectations:
    path: Path
    default: tuple[str, ...]  # the subset CI runs
    skip: dict[str, str]  # key -> reason; never run
    fail: dict[str, str]  # key -> reason; run, failures expected
    # Lib/-relative files the artifact's stdlib leaves out but tests import (e.g. _pydecimal.py,
    # the pure-Python twin test_decimal compares _decimal with) -> why; added next to the tests.
    support_files: dict[str, str]
    # Lib/-relative test file -> the one line dropped from it before the run, with the reason
    # (e.g. test_asyncio's package-wide skip without sockets, where its socketless modules run).
    test_edits: dict[str, SuiteEdit]


def expectations_path(ws: Workspace, target: Target) -> Path:
    """The flavor's file, or a flag's own file where one exists (regrtest-emscripten-browser-pthreads
    .json): a flag that changes what runs (real threads) changes which tests pass."""
    tests = ws.paths.recipes / target.python.recipe / "tests"
    base = f"regrtest-{target.sdk.kind}-{target.flavor.name}"
    for flag in target.flags:
        if (tests / f"{base}-{flag}.json").is_file():
            return tests / f"{base}-{flag}.json"
    return tests / f"{base}.json"


def load_expectations(path: Path, sdk_version: str | None = None) -> Expectations:
    """The file's expectations; with `sdk_version`, a `fail` entry that gives `sdk_before` counts
    only for a target whose SDK is older than that (one file serves every SDK version of a flavor,
    and a newer SDK fixes some failures)."""
    if not path.is_file():
        raise RegrtestError(f"{path}: no regression test expectations for this target; create it (see docs/testing-and-bench.md)")
    data = read_json(path, RegrtestError, "expectations file")
    unknown = set(data) - {"$comment", "default", "skip", "fail", "support_files", "test_edits"}
    if unknown:
        raise RegrtestError(f"{path}: unknown keys {sorted(unknown)} (allowed: default, skip, fail, support_files, test_edits)")
    for section in ("skip", "support_files"):
        for key, reason in data.get(section, {}).items():
            if not isinstance(reason, str) or not reason.strip():
                raise RegrtestError(f"{path}: $.{section}['{key}']: give the reason as a non-empty string")
    fail = _failures(path, data.get("fail", {}), sdk_version)
    both = set(data.get("skip", {})) & set(data.get("fail", {}))
    if both:
        raise RegrtestError(f"{path}: {sorted(both)} are in both skip and fail; keep one")
    return Expectations(
        path=path,
        default=tuple(data.get("default", [])),
        skip=dict(data.get("skip", {})),
        fail=fail,
        support_files=dict(data.get("support_files", {})),
        test_edits=_test_edits(path, data.get("test_edits", {})),
    )


def _failures(path: Path, data: dict[str, object], sdk_version: str | None) -> dict[str, str]:
    """id -> reason for every expected failure that applies to `sdk_version` (all when None)."""
    failures = {}
    for key, entry in data.items():
        where = f"{path}: $.fail['{key}']"
        if isinstance(entry, dict):
            if set(entry) != {"reason", "sdk_before"}:
                raise RegrtestError(f"{where}: give a reason string, or exactly reason and sdk_before")
            reason, before = entry["reason"], entry["sdk_before"]
            if not isinstance(before, str) or _VERSION.fullmatch(before) is None:
                raise RegrtestError(f"{where}: sdk_before must be a version such as \"6.0.5\", not {before!r}")
        else:
            reason, before = entry, None
        if not isinstance(reason, str) or not reason.strip():
            raise RegrtestError(f"{where}: give the reason as a non-empty string")
        # Compared as the matrix compares SDK versions (packaging's Version: 6.0 == 6.0.0).
        if before is None or sdk_version is None or Version(sdk_version) < Version(before):
            failures[key] = reason
    return failures


_VERSION = re.compile(r"\d+(\.\d+)*")


def _test_edits(path: Path, data: object) -> dict[str, SuiteEdit]:
    if not isinstance(data, dict):
        raise RegrtestError(f"{path}: $.test_edits: give an object of test file -> {{drop_line, reason}}")
    edits = {}
    for name, edit in data.items():
        where = f"{path}: $.test_edits['{name}']"
        if not name.startswith("test/"):
            raise RegrtestError(f"{where}: only files under test/ may be edited")
        if not isinstance(edit, dict) or set(edit) != {"drop_line", "reason"}:
            raise RegrtestError(f"{where}: give exactly drop_line and reason")
        if not all(isinstance(edit[key], str) and edit[key].strip() for key in ("drop_line", "reason")):
            raise RegrtestError(f"{where}: drop_line and reason must be non-empty strings")
        edits[name] = SuiteEdit(drop_line=edit["drop_line"], reason=edit["reason"])
    return edits


def apply_test_edits(files: dict[str, bytes], edits: dict[str, SuiteEdit], path: Path) -> None:
    """Drop each edit's line from its file; a line that is not there exactly once is an error
    (another CPython release changed the file, and the edit must be looked at again)."""
    for name, edit in edits.items():
        lines = files.get(name, b"").decode().splitlines(keepends=True)
        matching = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == edit.drop_line]
        if len(matching) != 1:
            raise RegrtestError(f"{path}: $.test_edits['{name}']: {edit.drop_line!r} occurs {len(matching)} times "
                                f"in Lib/{name}, not once")
        del lines[matching[0]]
        files[name] = "".join(lines).encode()


def find_tests(entries: set[str], split_dirs: frozenset[str], directory: str = "", base: str = "") -> list[str]:
    """regrtest's own discovery (libregrtest.findtests), from the file names under Lib/test/.

    `entries` are file paths relative to Lib/test ("test_os.py", "test_json/__init__.py").
    """
    prefix = f"{directory}/" if directory else ""
    names = {entry[len(prefix):].split("/", 1)[0] for entry in entries if entry.startswith(prefix)}
    tests: list[str] = []
    for name in names:
        module, extension = posixpath.splitext(name)
        if not module.startswith("test_"):
            continue
        full = f"{base}.{module}" if base else module
        if full in split_dirs:
            tests += find_tests(entries, split_dirs, f"{prefix}{name}", full if base else f"test.{module}")
        elif extension in (".py", ""):
            tests.append(full)
    return sorted(tests)


def split_test_dirs(findtests_source: bytes) -> frozenset[str]:
    """The packages regrtest runs as one test per submodule: SPLITTESTDIRS in that version's
    libregrtest/findtests.py, read rather than copied so that each CPython gets its own."""
    import ast

    for node in ast.parse(findtests_source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "SPLITTESTDIRS" and node.value is not None:
            return frozenset(ast.literal_eval(node.value))
    raise RegrtestError("Lib/test/libregrtest/findtests.py defines no SPLITTESTDIRS; is this CPython 3.12 or newer?")


def module_path(test_name: str) -> str:
    """The dotted module a regrtest test name imports: test_os -> test.test_os."""
    return test_name if test_name.startswith("test.") else f"test.{test_name}"


def owning_test(test_id: str, tests: list[str]) -> str | None:
    """The regrtest test a unittest id belongs to (the longest matching module path)."""
    best: str | None = None
    for name in tests:
        path = module_path(name)
        if (test_id == path or test_id.startswith(path + ".")) and (best is None or len(path) > len(module_path(best))):
            best = name
    return best


def check_expectations(expectations: Expectations, sources: "SuiteSources") -> None:
    """Every key must name a test that exists in this CPython, or a test id under one or under
    another Lib/test module (test_datetime runs test.datetimetester's): no typos."""
    tests = sources.tests
    known = set(tests)
    for section, entries in (("skip", expectations.skip), ("fail", expectations.fail)):
        for key in entries:
            if key not in known and owning_test(key, tests) is None and not _under_test_module(key, sources.files):
                raise RegrtestError(f"{expectations.path}: $.{section}['{key}']: no such test in this CPython's Lib/test")
    for name in expectations.default:
        if name not in known:
            raise RegrtestError(f"{expectations.path}: $.default: no test '{name}' in this CPython's Lib/test")


def _under_test_module(test_id: str, files: dict[str, bytes]) -> bool:
    parts = test_id.split(" ", 1)[0].split(".")
    for end in range(len(parts), 1, -1):
        path = "/".join(parts[:end])
        if f"{path}.py" in files or f"{path}/__init__.py" in files:
            return True
    return False


# ------------------------------------------------------------------------------------------------
# The tests themselves, from the artifact's own source tarball


@dataclass(frozen=True, kw_only=True)
class SuiteSources:
    files: dict[str, bytes]  # path relative to Lib/ ("test/test_os.py", "_pydecimal.py") -> bytes
    tests: list[str]  # regrtest test names, as its discovery finds them


def source_tarball(ws: Workspace, dist: Path) -> Path:
    manifest = read_manifest(dist / "manifest.json")
    cpython = next((i for i in manifest.inputs if i.component == "cpython"), None)
    if cpython is None:
        raise RegrtestError(f"{dist / 'manifest.json'}: no cpython input recorded")
    path = ws.cache.lookup(Pin(cpython.file, cpython.size, cpython.sha256))
    if path is None:
        raise RegrtestError(
            f"{cpython.file} (sha256 {cpython.sha256[:16]}…) is not in the cache {ws.cache.root}: "
            f"run `invoke fetch --target {manifest.target['id']}`"
        )
    return path


def read_test_sources(tarball: Path, support_files: list[str]) -> SuiteSources:
    """Lib/test/ of a CPython source tarball (about 33 MB for 3.13) plus the named Lib/ files
    (a name ending in "/" means that whole directory)."""
    wanted_files = {name for name in support_files if not name.endswith("/")}
    wanted_dirs = tuple(name for name in support_files if name.endswith("/"))
    files: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            if len(parts) < 3 or parts[1] != "Lib" or not member.isfile():
                continue
            relative = "/".join(parts[2:])
            if relative.startswith(("test/", *wanted_dirs)) or relative in wanted_files:
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[relative] = extracted.read()
    tests_dir = {path[len("test/"):] for path in files if path.startswith("test/")}
    if not tests_dir:
        raise RegrtestError(f"{tarball}: no Lib/test/ inside; is it a CPython source tarball?")
    missing = sorted(wanted_files - set(files)) + [d for d in wanted_dirs if not any(f.startswith(d) for f in files)]
    if missing:
        raise RegrtestError(f"{tarball}: no Lib/{', Lib/'.join(missing)} (listed under support_files)")
    split = split_test_dirs(files.get("test/libregrtest/findtests.py", b""))
    return SuiteSources(files=files, tests=find_tests(tests_dir, split))


def suite_sources(tarball: Path, expectations: Expectations) -> SuiteSources:
    """The tests as this target runs them: Lib/test/ and its support files, edits applied."""
    sources = read_test_sources(tarball, sorted(expectations.support_files))
    apply_test_edits(sources.files, expectations.test_edits, expectations.path)
    return sources


def guest_lib_dir(target: Target) -> str:
    # The build installs under /usr/local (recipes/cpython/build.sh), and prefix/lib/pythonX.Y is
    # on the interpreter's default sys.path (after the stdlib zip, if any): tests placed there
    # import as the `test` package, and support files fill in only what the zip lacks. Every
    # runtime backs this guest directory with one of its own for the run (wasmforge.runtimes).
    return f"/usr/local/lib/python{target.python.minor}"


# ------------------------------------------------------------------------------------------------
# Parsing what regrtest reports


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    id: str
    outcome: str  # passed | failed | skipped
    seconds: float
    message: str = ""
    details: str = ""


@dataclass(kw_only=True)
class ModuleResult:
    name: str
    state: str  # passed | failed | skipped | crashed | not-run | env-changed
    reason: str = ""  # why skipped or not run; the crash text
    cases: list[CaseResult] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verdict: str = ""  # ok | expected-failure | UNEXPECTED-FAILURE (set by classify)
    unexpected_ids: list[str] = field(default_factory=list)

    def all_failed_ids(self) -> list[str]:
        """Failed test ids from the log and from JUnit, each once, in order."""
        ids = self.failed_ids + [case.id for case in self.cases if case.outcome == "failed"]
        return list(dict.fromkeys(ids))


PROGRESS = re.compile(r"^(?:\d+:\d\d:\d\d )?(?:load avg: \S+ )?\[\s*\d+/\d+(?:/\d+)?\] (\S+)(?: (.*))?$")
SKIPPED = re.compile(r"^(\S+) skipped -- (.*)$")
FAILED = re.compile(r"^test (\S+) (?:failed|crashed)(?: -- (.*))?$")
UNITTEST_PROBLEM = re.compile(r"^(?:FAIL|ERROR): \S+ \(([^)]*)\)(.*)$")


@dataclass(kw_only=True)
class RegrtestLog:
    """What regrtest's output says, per test module."""

    states: dict[str, str] = field(default_factory=dict)  # in finishing order
    reasons: dict[str, str] = field(default_factory=dict)  # why skipped, or the error that failed it
    failed_ids: dict[str, list[str]] = field(default_factory=dict)  # from unittest's FAIL:/ERROR: lines
    running: str | None = None  # started and never finished: the one running at a crash


def parse_log(output: str) -> RegrtestLog:
    """regrtest prints "[ 3/30] test_x" before a test and "[ 3/30] test_x passed" (or "failed …",
    "skipped", …) after it; with -W a failing test's unittest report comes in between. Subtest
    failures appear only there ("FAIL: test_y (test.test_x.Case.test_y) (arg=1)"): regrtest's
    JUnit report leaves them out."""
    parsed = RegrtestLog()
    in_traceback: str | None = None  # the test whose "crashed -- Traceback" is being printed
    for line in output.splitlines():
        if in_traceback is not None:
            # The exception line is the first unindented one after the traceback's frames.
            if line and not line[0].isspace() and not line.startswith("Traceback"):
                parsed.reasons[in_traceback] = line
                in_traceback = None
            continue
        progress = PROGRESS.match(line)
        if progress:
            name, outcome = progress.group(1), progress.group(2)
            if outcome is None:
                parsed.running = name
            else:
                parsed.states[name] = _state_from(outcome)
                parsed.running = None
            continue
        report = UNITTEST_PROBLEM.match(line)
        if report and parsed.running is not None:
            test_id = report.group(1) + (f" {report.group(2).strip()}" if report.group(2).strip() else "")
            parsed.failed_ids.setdefault(parsed.running, []).append(test_id)
            continue
        said = SKIPPED.match(line) or FAILED.match(line)
        if said and said.group(2):
            if said.group(2).startswith("Traceback"):
                in_traceback = said.group(1)
            else:
                parsed.reasons.setdefault(said.group(1), said.group(2))
    return parsed


def _state_from(outcome: str) -> str:
    if outcome.startswith("passed"):
        return "passed"
    if outcome.startswith("skipped") or outcome.startswith("ran no tests"):
        return "skipped"
    if outcome.startswith("failed (env changed)"):
        return "env-changed"
    return "failed"


def parse_junit(xml_text: str) -> list[list[CaseResult]]:
    """regrtest's --junit-xml: a <testsuite> per test module that ran, in run order, holding a
    <testcase> per test id with <failure>, <error> or <skipped>."""
    if not xml_text.strip():
        return []
    return [_suite_cases(suite) for suite in ET.fromstring(xml_text).iter("testsuite")]


def _suite_cases(suite: ET.Element) -> list[CaseResult]:
    cases: list[CaseResult] = []
    for case in suite.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped")
        seconds = float(case.get("time", "0") or 0)
        if problem is not None:
            cases.append(CaseResult(id=case.get("name", ""), outcome="failed", seconds=seconds,
                                    message=problem.get("message", "").strip(), details=problem.text or ""))
        elif skipped is not None:
            cases.append(CaseResult(id=case.get("name", ""), outcome="skipped", seconds=seconds, message=(skipped.text or "").strip()))
        else:
            cases.append(CaseResult(id=case.get("name", ""), outcome="passed", seconds=seconds))
    return cases


# ------------------------------------------------------------------------------------------------
# Running: one interpreter per batch; a crash (a wasm trap ends the interpreter) starts the next
# batch after the test that crashed.


@dataclass(frozen=True, kw_only=True)
class Selection:
    run: list[str]  # in order
    not_run: dict[str, str]  # test -> reason (listed under skip)
    ignore_patterns: list[str]  # test ids under skip


def select(tests: list[str], wanted: list[str], expectations: Expectations) -> Selection:
    known = set(tests)
    missing = [name for name in wanted if name not in known]
    if missing:
        raise RegrtestError(f"no such tests in this CPython: {', '.join(missing)}")
    skipped_modules = {k: v for k, v in expectations.skip.items() if k in known}
    return Selection(
        run=[name for name in wanted if name not in skipped_modules],
        not_run={name: skipped_modules[name] for name in wanted if name in skipped_modules},
        ignore_patterns=sorted(k for k in expectations.skip if k not in known),
    )


def regrtest_args(batch: list[str], ignore: bool) -> tuple[str, ...]:
    # -W: show a failing test's output (tracebacks) in the log; no -j: there are no subprocesses.
    args = ["-m", "test", "-W", "--junit-xml", GUEST_JUNIT, "--tempdir", GUEST_TEMPDIR]
    if ignore:
        args += ["--ignorefile", GUEST_IGNOREFILE]
    return tuple(args + batch)


def run_batches(runtime: Runtime, dist: Path, target: Target, sources: SuiteSources, selection: Selection,
                echo: bool) -> tuple[dict[str, ModuleResult], list[PythonRun]]:
    lib_dir = guest_lib_dir(target)
    files = {f"{lib_dir}/{relative}": data for relative, data in sources.files.items()}
    if selection.ignore_patterns:
        files[GUEST_IGNOREFILE] = "".join(f"{pattern}\n" for pattern in selection.ignore_patterns).encode()
    results: dict[str, ModuleResult] = {}
    runs: list[PythonRun] = []
    queue = list(selection.run)
    while queue:
        batch = queue[:BATCH_SIZE]
        job = PythonJob(
            args=regrtest_args(batch, bool(selection.ignore_patterns)), files=files, collect=(GUEST_JUNIT,),
            timeout_seconds=IDLE_SECONDS * (len(batch) + 1), idle_timeout_seconds=IDLE_SECONDS,
        )
        log.info(f"==> python -m test: {len(batch)} of {len(queue)} remaining test(s) on {runtime.name}")
        run = runtime.run_python(dist, job, _echo if echo else None)
        runs.append(run)
        queue = _absorb(run, batch, results) + queue[len(batch):]
    return results, runs


def _echo(stream: str, text: str) -> None:
    log.detail(text.rstrip("\n"))


def _absorb(run: PythonRun, batch: list[str], results: dict[str, ModuleResult]) -> list[str]:
    """Record what one run reported; return the tests still to run (those after a crash)."""
    parsed = parse_log(run.output)
    states, running = parsed.states, parsed.running
    for name in batch:
        if name in states:
            results[name] = ModuleResult(name=name, state=states[name], reason=parsed.reasons.get(name, ""),
                                         failed_ids=parsed.failed_ids.get(name, []))
    suites = parse_junit(run.collected.get(GUEST_JUNIT, ""))
    for owner, cases in assign_suites(suites, [n for n in states if n in batch], states).items():
        # Nameless test cases are the parents of failed subtests: the log names those.
        results[owner].cases += [case for case in cases if case.id]
        results[owner].seconds += sum(case.seconds for case in cases)
    if run.crash is None:
        if not states and run.exit_code not in (0, 2, 4):
            raise RegrtestError(f"python -m test exited {run.exit_code} without running a test:\n{_tail(run.output)}")
        unreported = [name for name in batch if name not in states]
        for name in unreported:
            results[name] = ModuleResult(name=name, state="crashed", reason=f"regrtest ended (exit {run.exit_code}) without a result")
        return []
    # The interpreter died: blame the test that was running, go on after it.
    crashed = running if running in batch else None
    if crashed is None:
        raise RegrtestError(f"the runtime failed before any test started: {run.crash}\n{_tail(run.output)}")
    results[crashed] = ModuleResult(name=crashed, state="crashed", reason=(run.crash or "").strip(),
                                    failed_ids=parsed.failed_ids.get(crashed, []))
    log.warning(f"{crashed} crashed the interpreter: {(run.crash or '').splitlines()[0] if run.crash else ''}")
    return batch[batch.index(crashed) + 1:]


def assign_suites(suites: list[list[CaseResult]], finished: list[str], states: dict[str, str]) -> dict[str, list[CaseResult]]:
    """Which test module each JUnit suite belongs to.

    Mostly the test ids say (test.test_os.… is test_os's), but some modules run tests defined
    elsewhere (test_datetime runs test.datetimetester): such a suite belongs to the next module,
    in run order, that ran unittest cases.
    """
    owners: dict[str, list[CaseResult]] = {}
    position = 0
    for cases in suites:
        named = {case_owner(case.id, finished) for case in cases} - {None}
        if len(named) == 1:
            owner = named.pop()
        else:
            owner = next((n for n in finished[position:] if n not in owners and states[n] != "skipped"), None)
        if owner is None:
            continue
        owners.setdefault(owner, []).extend(cases)
        position = max(position, finished.index(owner) + 1)
    return owners


def case_owner(case_id: str, batch: list[str]) -> str | None:
    # Fixture errors are reported as "setUpClass (test.test_x.Case)": the dotted part names it.
    fixture = re.search(r"\(([\w.]+)\)$", case_id)
    return owning_test(fixture.group(1) if fixture else case_id, batch)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------
# Judging the results against the expectations


def _covered(test_id: str, keys: dict[str, str]) -> str | None:
    """The fail entry covering a test id: the id itself, or a class or module above it."""
    for key, reason in keys.items():
        if test_id == key or test_id.startswith((key + ".", key + " ")):
            return reason
    return None


def classify(results: dict[str, ModuleResult], expectations: Expectations) -> None:
    for result in results.values():
        module_reason = expectations.fail.get(result.name)
        if result.state in ("passed", "skipped", "not-run", "env-changed"):
            result.verdict = "ok"
            continue
        if module_reason is not None:
            result.verdict = "expected-failure"
            result.reason = result.reason or module_reason
            continue
        failed = result.all_failed_ids()
        result.unexpected_ids = [test_id for test_id in failed if _covered(test_id, expectations.fail) is None]
        if result.state == "failed" and failed and not result.unexpected_ids:
            result.verdict = "expected-failure"
        else:
            result.verdict = "UNEXPECTED-FAILURE"


def stale_expectations(results: dict[str, ModuleResult], expectations: Expectations) -> list[str]:
    """fail entries whose tests ran and passed: the list should lose them."""
    stale: list[str] = []
    for key in expectations.fail:
        module = results.get(key)
        if module is not None:
            if module.state == "passed":
                stale.append(key)
            continue
        covered = [c for r in results.values() for c in r.cases if c.id == key or c.id.startswith(key + ".")]
        if any(c.outcome == "passed" for c in covered) and not any(c.outcome == "failed" for c in covered):
            stale.append(key)
    return stale


# ------------------------------------------------------------------------------------------------
# Reporting


@dataclass(frozen=True, kw_only=True)
class Report:
    target: Target
    runtime: str
    modules: list[ModuleResult]
    stale: list[str]
    seconds: float
    runs: int
    expectations_fail: dict[str, str]
    runs_without_junit: int = 0

    def count(self, verdict: str | None = None, state: str | None = None) -> int:
        return sum(1 for m in self.modules if (verdict is None or m.verdict == verdict) and (state is None or m.state == state))

    @property
    def unexpected(self) -> list[ModuleResult]:
        return [m for m in self.modules if m.verdict == "UNEXPECTED-FAILURE"]

    def case_counts(self) -> dict[str, int]:
        cases = [case for module in self.modules for case in module.cases]
        return {
            "run": len(cases),
            "passed": sum(1 for c in cases if c.outcome == "passed"),
            "failed": sum(1 for c in cases if c.outcome == "failed"),
            "skipped": sum(1 for c in cases if c.outcome == "skipped"),
        }


def format_report(report: Report) -> str:
    m = report.modules
    lines = [
        f"regrtest {report.target.id} on {report.runtime}: {len(m)} test modules, "
        f"{report.runs} interpreter run(s), {log.format_seconds(report.seconds)}",
        f"  modules: {report.count(state='passed') + report.count(state='env-changed')} passed, "
        f"{len(report.unexpected)} failed unexpectedly, {report.count('expected-failure')} failed as expected, "
        f"{report.count(state='skipped')} skipped by regrtest, {report.count(state='not-run')} not run (listed)",
    ]
    cases = report.case_counts()
    source = f" (from {report.runs - report.runs_without_junit} of {report.runs} runs: a crashed run writes no JUnit)" if report.runs_without_junit else ""
    lines.append(f"  test cases{source}: {cases['run']:,} run, {cases['passed']:,} passed, {cases['failed']:,} failed, {cases['skipped']:,} skipped")
    expected = [x for x in m if x.verdict == "expected-failure"]
    if expected:
        lines.append("  expected failures:")
        lines += [f"    {x.name}: {_why_expected(x, report.expectations_fail)}" for x in expected]
    if report.stale:
        lines.append("  listed as failing but passed (remove from the list):")
        lines += [f"    {key}" for key in report.stale]
    if report.unexpected:
        lines.append("  UNEXPECTED FAILURES:")
        for x in report.unexpected:
            lines.append(f"    {x.name} ({x.state}): {_what_failed(x)}")
    else:
        lines.append("  unexpected failures: none")
    return "\n".join(lines)


def _why_expected(module: ModuleResult, fail: dict[str, str]) -> str:
    if module.name in fail:
        return fail[module.name]
    ids = module.all_failed_ids()
    reasons = list(dict.fromkeys(reason for reason in (_covered(i, fail) for i in ids) if reason))
    other = f" (and {len(reasons) - 1} other reason{'s' if len(reasons) > 2 else ''})" if len(reasons) > 1 else ""
    return f"{len(ids)} listed test id{'s' if len(ids) != 1 else ''}: {reasons[0] if reasons else ''}{other}"


def _what_failed(module: ModuleResult) -> str:
    if module.unexpected_ids:
        more = len(module.unexpected_ids) - 5
        shown = ", ".join(module.unexpected_ids[:5])
        return shown + (f" and {more} more" if more > 0 else "")
    return module.reason.strip().splitlines()[0] if module.reason.strip() else "no test ids reported"


def junit_xml(report: Report) -> bytes:
    """One <testsuite> per test module, a <testcase> per test id. Failures expected by the list
    are <skipped> with the reason; a module that ran no test ids (skipped, listed, crashed,
    failed to import) is one <testcase> carrying its state."""
    root = ET.Element("testsuites", name=f"regrtest {report.target.id}")
    for module in report.modules:
        suite = ET.SubElement(root, "testsuite", name=module.name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        details = {case.id: case for case in module.cases if case.outcome == "failed"}
        failed = module.all_failed_ids()
        for case in module.cases:
            if case.outcome != "failed":
                _junit_case(suite, module, case.id, case.seconds, counts, skipped=case.message if case.outcome == "skipped" else None)
        for test_id in failed:
            case = details.get(test_id)
            seconds = case.seconds if case else 0.0
            if test_id in module.unexpected_ids:
                _junit_case(suite, module, test_id, seconds, counts, failure=case or CaseResult(id=test_id, outcome="failed", seconds=0.0, message="failed (see the log: a subtest)"))
            else:
                _junit_case(suite, module, test_id, seconds, counts, skipped=f"expected failure: {_covered(test_id, report.expectations_fail) or module.reason}")
        if not module.cases and not failed:
            if module.verdict == "UNEXPECTED-FAILURE":
                _junit_case(suite, module, module_path(module.name), module.seconds, counts, error=f"{module.state}: {module.reason}")
            elif module.state in ("passed", "env-changed"):
                _junit_case(suite, module, module_path(module.name), module.seconds, counts)
            else:
                label = "expected failure" if module.verdict == "expected-failure" else module.state
                _junit_case(suite, module, module_path(module.name), module.seconds, counts, skipped=f"{label}: {module.reason}")
        elif module.verdict == "UNEXPECTED-FAILURE" and not module.unexpected_ids:
            _junit_case(suite, module, module_path(module.name), 0.0, counts, error=f"{module.state}: {module.reason}")
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _junit_case(suite: ET.Element, module: ModuleResult, test_id: str, seconds: float, counts: dict[str, int], *,
                skipped: str | None = None, failure: CaseResult | None = None, error: str | None = None) -> None:
    element = ET.SubElement(suite, "testcase", classname=module.name, name=test_id, time=f"{seconds:.3f}")
    counts["tests"] += 1
    if failure is not None:
        counts["failures"] += 1
        ET.SubElement(element, "failure", message=failure.message[:500]).text = failure.details
    elif error is not None:
        counts["errors"] += 1
        ET.SubElement(element, "error", message=error.splitlines()[0][:500] if error else "").text = error
    elif skipped is not None:
        counts["skipped"] += 1
        ET.SubElement(element, "skipped", message=skipped[:500])


# ------------------------------------------------------------------------------------------------
# The task


@dataclass(frozen=True, kw_only=True)
class RegrtestRequest:
    tests: list[str] | None = None  # None: the target's default subset
    run_all: bool = False
    junit: Path | None = None
    echo: bool = True


def run_regrtest(ws: Workspace, target: Target, runtime: Runtime, request: RegrtestRequest) -> Report:
    dist = ws.paths.dist_of(target)
    if not (dist / "manifest.json").is_file():
        raise RegrtestError(f"{dist}: no artifact; run `invoke build --target {target.id}` first")
    runtime.check()
    expectations = load_expectations(expectations_path(ws, target), target.sdk.version)
    tarball = source_tarball(ws, dist)
    log.info(f"reading Lib/test from {tarball.name} …")
    sources = suite_sources(tarball, expectations)
    check_expectations(expectations, sources)
    wanted = sources.tests if request.run_all else (request.tests or list(expectations.default))
    selection = select(sources.tests, wanted, expectations)
    start = time.monotonic()
    results, runs = run_batches(runtime, dist, target, sources, selection, request.echo)
    for name, reason in selection.not_run.items():
        results[name] = ModuleResult(name=name, state="not-run", reason=reason)
    classify(results, expectations)
    order = {name: index for index, name in enumerate(wanted)}
    report = Report(
        target=target, runtime=runtime.name, modules=sorted(results.values(), key=lambda r: order.get(r.name, len(order))),
        stale=stale_expectations(results, expectations), seconds=time.monotonic() - start, runs=len(runs),
        expectations_fail=expectations.fail,
        runs_without_junit=sum(1 for run in runs if GUEST_JUNIT not in run.collected),
    )
    if request.junit is not None:
        request.junit.parent.mkdir(parents=True, exist_ok=True)
        request.junit.write_bytes(junit_xml(report))
    return report
