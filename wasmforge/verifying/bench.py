"""`invoke bench`: what an artifact costs a user — bytes to download, time to first output, memory,
run-time speed.

Measured for the artifact and, with --reference, for an unpacked Pyodide npm package in the same
run on the same machine, so that the ratios mean something. Sizes are raw, gzip -9 and brotli
(quality 11: what a static host would pre-compress). Cold start is the time from starting the
runtime to the first line Python prints — in Node (a new process each run) and in headless
Chromium (a new browser context each run; the server forbids caching) — as medians of --runs.
Peak memory is the Node process's maximum resident set size. Run-time speed is speed.py's
workload under Node, timed inside Python.

The Chromium runs are served as a static host serves them (webserver.py: `Content-Encoding: br` or
`gzip` as the browser asks), and the bytes Chromium itself counted on the wire (Playwright's
`request.sizes()`: encoded body and headers) are reported beside the computed sizes. The artifact's
breakdown (breakdown.py: python.wasm by component, python.data by package, python.js by part) goes
into the report too.
"""

import json
import os
import platform
import select
import statistics
import subprocess
import tarfile
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wasmforge.core import log
from wasmforge.core.errors import BenchError, RuntimeUnavailableError
from wasmforge.model.matrix import Target
from wasmforge.model.matrix_report import PAGE_START_FILES
from wasmforge.verifying import breakdown
from wasmforge.verifying.breakdown import data_package_files as _data_package_files
from wasmforge.verifying.runtimes import runtime_for
from wasmforge.verifying.runtimes.chromium import chromium_browser
from wasmforge.verifying.runtimes.node import node_executable
from wasmforge.verifying.speed import KERNELS, PHASES, SPEED_CODE, SpeedSample, run_speed, summarise
from wasmforge.verifying.webserver import ENCODED, ENCODINGS, Site, sent_compressed, serving

MARKER = "wf-first-output"
FIRST_OUTPUT_CODE = f"print('{MARKER}')"
NODE_TIMEOUT_SECONDS = 120.0
CHROMIUM_TIMEOUT_MS = 120_000
# A page's output handler: the time of the first line carrying MARKER, for the bench to read.
MARK_FIRST_OUTPUT = (
    f'(text) => {{ if (text.includes("{MARKER}") && window.wfFirstOutput === undefined) '
    'window.wfFirstOutput = performance.now(); }'
)
# The workload whose download the bench measures (issue 11: "the bytes fetched to run the smoke
# test"): the smoke test's modules and ctypes, each doing real work, then MARKER.
WORKLOAD_CODE = (
    "import bz2, ctypes, decimal, json, lzma, sqlite3, zlib\n"
    "data = json.dumps({'n': list(range(2000))}).encode()\n"
    "assert zlib.decompress(zlib.compress(data)) == bz2.decompress(bz2.compress(data)) == data\n"
    "assert lzma.decompress(lzma.compress(data)) == data\n"
    "assert sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0] == 42\n"
    "assert str(decimal.Decimal(1) / 8) == '0.125' and ctypes.c_int32(-1).value == -1\n"
    f"print('{MARKER}')\n"
)


# ------------------------------------------------------------------------------------------------
# What is measured: an artifact or a reference, behind one Protocol


class Subject(Protocol):
    label: str
    directory: Path

    def download_files(self) -> list[str]:
        """The files a browser fetches to start the interpreter, relative to `directory`."""
        ...

    def deferred_files(self) -> list[str]:
        """The files of the artifact a browser fetches only when code needs them (stdlib packs)."""
        ...

    def node_command(self, code: str) -> list[str]:
        """argv that starts the interpreter under Node and runs `code` (FIRST_OUTPUT_CODE prints MARKER)."""
        ...

    def chromium_page(self) -> str:
        """An HTML page (served from `directory`) that starts the interpreter, prints MARKER and
        sets window.wfFirstOutput = performance.now() when that line arrives."""
        ...

    def chromium_workload_page(self) -> str | None:
        """A page like chromium_page() that runs WORKLOAD_CODE instead, fetching what it needs
        first; None when the subject cannot run it as measured here."""
        ...


@dataclass(frozen=True)
class EmscriptenBrowserArtifact:
    """wasmforge's browser build: the classic loader, as the README tells users to embed it."""

    label: str
    directory: Path

    def download_files(self) -> list[str]:
        # python.worker.js is CPython's own demo REPL worker (Tools/wasm): a page never fetches it.
        return list(PAGE_START_FILES)

    def deferred_files(self) -> list[str]:
        # Zips of stdlib modules and, with the side-modules flag, side modules (.wasm).
        index = self.directory / "packs" / "index.json"
        if not index.is_file():
            return []
        return sorted(f"packs/{pack['file']}" for pack in json.loads(index.read_text())["packs"].values())

    def node_command(self, code: str) -> list[str]:
        # The browser build runs under Node too: the stdlib comes from python.data and the packs,
        # which Node reads synchronously.
        return [node_executable(), str(self.directory / "python.js"), "-c", code]

    def chromium_page(self) -> str:
        return f"""<!doctype html><meta charset="utf-8"><title>cold start</title>
<script>
  var Module = {{
    arguments: ["-c", {json.dumps(FIRST_OUTPUT_CODE)}],
    print: {MARK_FIRST_OUTPUT},
    printErr: (text) => console.error(text),
  }};
</script>
<script src="python.js"></script>
"""

    def chromium_workload_page(self) -> str:
        # As README's embedding example: the packs the code imports are fetched before it runs.
        return f"""<!doctype html><meta charset="utf-8"><title>workload</title>
<script>
  var wfCode = {json.dumps(WORKLOAD_CODE)};
  var Module = {{
    noInitialRun: true,
    print: {MARK_FIRST_OUTPUT},
    printErr: (text) => console.error(text),
    onRuntimeInitialized: async () => {{
      await Module.loadPackagesFromImports(wfCode);
      callMain(["-c", wfCode]);
    }},
  }};
</script>
<script src="python.js"></script>
"""


@dataclass(frozen=True)
class PyodidePackage:
    """Pyodide's npm package, started with loadPyodide() and nothing else (no packages, no network)."""

    label: str
    directory: Path

    @classmethod
    def open(cls, path: Path) -> "PyodidePackage":
        if not (path / "pyodide.mjs").is_file() or not (path / "package.json").is_file():
            raise BenchError(f"{path}: not an unpacked Pyodide npm package (no pyodide.mjs and package.json)")
        version = json.loads((path / "package.json").read_text())["version"]
        return cls(label=f"pyodide {version}", directory=path)

    def download_files(self) -> list[str]:
        return ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]

    def deferred_files(self) -> list[str]:
        # The npm package is the core distribution: the stdlib modules Pyodide unvendors (sqlite3,
        # ssl, lzma, ...) are packages of its full distribution, which is not here to measure.
        return []

    def node_command(self, code: str) -> list[str]:
        module = (self.directory / "pyodide.mjs").as_uri()
        script = (
            f"import {{ loadPyodide }} from {json.dumps(module)};"
            f"const pyodide = await loadPyodide();"
            f"pyodide.runPython({json.dumps(code)});"
        )
        return [node_executable(), "--input-type=module", "-e", script]

    def chromium_page(self) -> str:
        return f"""<!doctype html><meta charset="utf-8"><title>cold start</title>
<script type="module">
  import {{ loadPyodide }} from "./pyodide.mjs";
  const pyodide = await loadPyodide({{
    stdout: {MARK_FIRST_OUTPUT},
  }});
  pyodide.runPython({json.dumps(FIRST_OUTPUT_CODE)});
</script>
"""

    def chromium_workload_page(self) -> None:
        # sqlite3 and lzma are packages of Pyodide's full distribution, not of its npm package.
        return None


def open_reference(path: Path, scratch: Path) -> PyodidePackage:
    """An unpacked package directory, or its .tgz (unpacked into `scratch`)."""
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path) as archive:
            archive.extractall(scratch, filter="data")
        path = scratch / "package"
    if not path.is_dir():
        raise BenchError(f"{path}: no such reference directory")
    return PyodidePackage.open(path)


# ------------------------------------------------------------------------------------------------
# Sizes


@dataclass(frozen=True, kw_only=True)
class FileSize:
    name: str
    raw: int
    gzip: int
    brotli: int


def measure_sizes(directory: Path, names: list[str]) -> list[FileSize]:
    # The very bodies the bench's server sends (compressed once, shared with it): what is computed
    # here is what Chromium is sent. A type a static host sends as it is (a deflated zip) counts its
    # raw size.
    sizes = []
    for name in names:
        path = directory / name
        raw = path.stat().st_size
        if sent_compressed(name, path):
            sizes.append(FileSize(name=name, raw=raw, gzip=len(ENCODED.get(path, "gzip")), brotli=len(ENCODED.get(path, "br"))))
        else:
            sizes.append(FileSize(name=name, raw=raw, gzip=raw, brotli=raw))
    return sizes


def total(sizes: list[FileSize], name: str = "total") -> FileSize:
    return FileSize(name=name, raw=sum(s.raw for s in sizes), gzip=sum(s.gzip for s in sizes), brotli=sum(s.brotli for s in sizes))


# ------------------------------------------------------------------------------------------------
# What makes up the artifact: the preloaded file system and python.wasm's sections


def data_package_files(dist: Path) -> list[tuple[str, int, int]]:
    """(path, start, end) of each file in python.data, from the file packager's metadata in python.js."""
    return _data_package_files((dist / "python.js").read_text(errors="replace"))


def stdlib_breakdown(dist: Path, top: int = 12) -> dict[str, Any]:
    """The stdlib zip inside python.data: members, every top-level package by stored size (raw and
    gzip per package: breakdown.data_breakdown) and the largest members."""
    files = data_package_files(dist)
    zips = [(name, start, end) for name, start, end in files if name.endswith(".zip")]
    if not zips:
        return {}
    name, start, end = zips[0]
    with (dist / "python.data").open("rb") as data:
        data.seek(start)
        blob = data.read(end - start)
    groups: dict[str, int] = {}
    with zipfile.ZipFile(_bytes_file(blob)) as archive:
        infos = archive.infolist()
        for info in infos:
            head = info.filename.split("/", 1)[0] if "/" in info.filename else "(top-level modules)"
            groups[head] = groups.get(head, 0) + info.compress_size
    largest = sorted(groups.items(), key=lambda item: -item[1])
    biggest_members = sorted(infos, key=lambda info: -info.compress_size)[:top]
    return {
        "zip": name, "zip_size": end - start, "members": len(infos),
        "members_uncompressed": sum(info.file_size for info in infos),
        "other_files": [f for f, _, _ in files if f != name],
        "largest": [{"name": key, "stored": value} for key, value in largest],
        "largest_members": [{"name": info.filename, "stored": info.compress_size} for info in biggest_members],
    }


def _bytes_file(blob: bytes) -> Any:
    import io

    return io.BytesIO(blob)


WASM_SECTIONS = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
                 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount"}


def wasm_sections(path: Path) -> dict[str, int]:
    """Bytes per section of a wasm module (custom sections by their name)."""
    data = path.read_bytes()
    if data[:4] != b"\0asm":
        raise BenchError(f"{path}: not a WebAssembly module")
    sections: dict[str, int] = {}
    offset = 8
    while offset < len(data):
        section_id = data[offset]
        size, offset = _leb128(data, offset + 1)
        name = WASM_SECTIONS.get(section_id, f"id {section_id}")
        if section_id == 0:
            length, name_at = _leb128(data, offset)
            name = f"custom:{data[name_at:name_at + length].decode(errors='replace')}"
        sections[name] = sections.get(name, 0) + size
        offset += size
    return sections


def _leb128(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


# ------------------------------------------------------------------------------------------------
# Cold start and memory


@dataclass(frozen=True, kw_only=True)
class Sample:
    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: list[float]) -> "Sample":
        return cls(median=statistics.median(values), low=min(values), high=max(values), values=values)


@dataclass(frozen=True, kw_only=True)
class NodeStart:
    seconds: float
    peak_rss_bytes: int


def node_cold_start(subject: Subject) -> NodeStart:
    """One new Node process: seconds until MARKER is printed, and its peak RSS (from wait4)."""
    command = subject.node_command(FIRST_OUTPUT_CODE)
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=subject.directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    seen = b""
    first_output: float | None = None
    while first_output is None:
        remaining = NODE_TIMEOUT_SECONDS - (time.monotonic() - start)
        ready, _, _ = select.select([process.stdout], [], [], max(remaining, 0))
        if not ready:
            process.kill()
            break
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        seen += chunk
        if MARKER.encode() in seen:
            first_output = time.monotonic() - start
    process.stdout.read()
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if first_output is None:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"{subject.label}: no first output under Node (exit {process.returncode}): {' | '.join(tail)}")
    # Linux reports ru_maxrss in KiB.
    return NodeStart(seconds=first_output, peak_rss_bytes=usage.ru_maxrss * 1024)


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """One response as Chromium counted it on the wire."""

    name: str
    encoding: str  # the response's Content-Encoding, "identity" when none
    body: int  # encoded body bytes (Playwright: responseBodySize)
    headers: int  # response header bytes (responseHeadersSize)


@dataclass(frozen=True, kw_only=True)
class NetworkBytes:
    """What the first cold start in Chromium transferred, per file of the download."""

    files: list[Transfer]
    accept_encoding: str  # what Chromium asked for

    @property
    def body(self) -> int:
        return sum(t.body for t in self.files)

    @property
    def headers(self) -> int:
        return sum(t.headers for t in self.files)


BENCH_PAGE = "wf-cold-start.html"
NOT_DOWNLOADS = {BENCH_PAGE, "favicon.ico"}


def _transfers(responses: list[Any]) -> tuple[list[Transfer], str]:
    # A file's response has arrived by the first output (Python ran on it), but its
    # "requestfinished" event may trail far behind on a loaded machine: sizes() waits for the
    # body to finish instead of a fixed deadline.
    transfers: dict[str, Transfer] = {}
    accept = ""
    for response in responses:
        name = _url_name(response.url)
        if name in NOT_DOWNLOADS or name in transfers:
            continue
        request = response.request
        sizes = request.sizes()
        encoding = response.headers.get("content-encoding") or "identity"
        accept = accept or request.all_headers().get("accept-encoding", "")
        transfers[name] = Transfer(name=name, encoding=encoding, body=sizes["responseBodySize"], headers=sizes["responseHeadersSize"])
    return sorted(transfers.values(), key=lambda t: t.name), accept


def _url_name(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0].split("/", 3)[-1]


def chromium_cold_starts(subject: Subject, runs: int) -> tuple[list[float], list[str], NetworkBytes]:
    return chromium_page_runs(subject, subject.chromium_page(), runs)


def chromium_page_runs(subject: Subject, page_html: str, runs: int) -> tuple[list[float], list[str], NetworkBytes]:
    """Seconds from navigation to MARKER, each in a fresh browser context; files fetched;
    the bytes Chromium counted on the wire in the first run (the server compresses as a static host
    does, and every run starts cold, so each run transfers the same)."""
    site = Site(root=subject.directory, encodings=ENCODINGS, extra={f"/{BENCH_PAGE}": page_html.encode()})
    seconds: list[float] = []
    network: NetworkBytes | None = None
    with serving(site, warm=subject.download_files()) as base, chromium_browser() as browser:
        for _ in range(runs):
            context = browser.new_context()
            try:
                page = context.new_page()
                errors: list[str] = []
                responses: list[Any] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                # Playwright wraps handlers by setting an attribute: a bound builtin will not do.
                page.on("response", lambda response: responses.append(response))
                site.requested.clear()
                page.goto(f"{base}/{BENCH_PAGE}")
                try:
                    page.wait_for_function("() => window.wfFirstOutput !== undefined", timeout=CHROMIUM_TIMEOUT_MS, polling=10)
                except Exception as exc:
                    raise BenchError(f"{subject.label}: no first output in Chromium: {exc}; page errors: {errors}") from None
                seconds.append(page.evaluate("() => window.wfFirstOutput") / 1000)
                if network is None:
                    files, accept = _transfers(responses)
                    network = NetworkBytes(files=files, accept_encoding=accept)
            finally:
                context.close()
        fetched = sorted({path.lstrip("/") for path in site.requested} - NOT_DOWNLOADS)
    assert network is not None
    return seconds, fetched, network


# ------------------------------------------------------------------------------------------------
# The report


@dataclass(kw_only=True)
class SubjectReport:
    label: str
    files: list[FileSize]
    download: FileSize
    # Fetched on demand (stdlib packs), and everything as shipped: the download plus those.
    deferred: FileSize
    deferred_files: int
    full: FileSize
    node_start: Sample | None = None
    node_peak_rss: Sample | None = None
    node_speed: SpeedSample | None = None
    chromium_start: Sample | None = None
    chromium_fetched: list[str] = field(default_factory=list)
    network: NetworkBytes | None = None
    # WORKLOAD_CODE's run in Chromium: what went over the wire, and those files' computed sizes.
    workload_network: NetworkBytes | None = None
    workload: FileSize | None = None
    budget_gzip: int | None = None
    full_budget_gzip: int | None = None
    full_budget_brotli: int | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)

    @property
    def budget_overruns(self) -> list[str]:
        """One line per size budget (matrix.json) this artifact exceeds."""
        overruns = []
        if self.budget_gzip is not None and self.download.gzip > self.budget_gzip:
            overruns.append(f"initial download {self.download.gzip:,} bytes gzip -9 > size_budget_gzip {self.budget_gzip:,}")
        if self.full_budget_gzip is not None and self.full.gzip > self.full_budget_gzip:
            overruns.append(f"full artifact {self.full.gzip:,} bytes gzip -9 > full_budget_gzip {self.full_budget_gzip:,}")
        if self.full_budget_brotli is not None and self.full.brotli > self.full_budget_brotli:
            overruns.append(f"full artifact {self.full.brotli:,} bytes brotli > full_budget_brotli {self.full_budget_brotli:,}")
        return overruns

    @property
    def over_budget(self) -> bool:
        return bool(self.budget_overruns)


@dataclass(frozen=True, kw_only=True)
class BenchRequest:
    runs: int = 5
    reference: Path | None = None
    node: bool = True
    chromium: bool = True


def measure(subject: Subject, request: BenchRequest) -> SubjectReport:
    log.info(f"==> {subject.label}: sizes")
    files = measure_sizes(subject.directory, subject.download_files())
    deferred = measure_sizes(subject.directory, subject.deferred_files())
    report = SubjectReport(label=subject.label, files=files, download=total(files), deferred=total(deferred, "deferred"),
                           deferred_files=len(deferred), full=total(files + deferred, "full"))
    if request.node:
        log.info(f"==> {subject.label}: Node cold start × {request.runs}")
        starts = [node_cold_start(subject) for _ in range(request.runs)]
        report.node_start = Sample.of([s.seconds for s in starts])
        report.node_peak_rss = Sample.of([float(s.peak_rss_bytes) for s in starts])
        log.info(f"==> {subject.label}: Node run-time speed × {request.runs} ({', '.join(KERNELS)})")
        report.node_speed = summarise([run_speed(subject.label, subject.node_command(SPEED_CODE), subject.directory)
                                       for _ in range(request.runs)])
    if request.chromium:
        log.info(f"==> {subject.label}: Chromium cold start × {request.runs}")
        seconds, fetched, network = chromium_cold_starts(subject, request.runs)
        report.chromium_start = Sample.of(seconds)
        report.chromium_fetched = fetched
        report.network = network
        workload_page = subject.chromium_workload_page()
        if workload_page is not None:
            log.info(f"==> {subject.label}: Chromium workload (the smoke test's modules and ctypes)")
            _, fetched, report.workload_network = chromium_page_runs(subject, workload_page, 1)
            report.workload = total(measure_sizes(subject.directory, fetched), "workload")
    return report


def run_bench(target: Target, dist: Path, request: BenchRequest) -> list[SubjectReport]:
    runtime = runtime_for(target)
    if not runtime.loads_in_a_page:
        raise RuntimeUnavailableError(
            f"{target.id}: bench measures artifacts a web page loads; this flavor runs on {runtime.name}"
        )
    if not (dist / "manifest.json").is_file():
        raise BenchError(f"{dist}: no artifact; run `invoke build --target {target.id}` first")
    if request.runs < 1:
        raise BenchError("--runs must be at least 1")
    artifact = EmscriptenBrowserArtifact(target.id, dist)
    reports = [measure(artifact, request)]
    reports[0].budget_gzip = target.size_budget_gzip
    reports[0].full_budget_gzip = target.full_budget_gzip
    reports[0].full_budget_brotli = target.full_budget_brotli
    log.info(f"==> {target.id}: breakdown")
    parts = breakdown.artifact_breakdown(target.id, dist)
    reports[0].breakdown = {"stdlib": stdlib_breakdown(dist), "python.wasm sections": wasm_sections(dist / "python.wasm"),
                            **breakdown.breakdown_json(parts)}
    if request.reference is not None:
        with tempfile.TemporaryDirectory(prefix="wasmforge-reference-") as scratch:
            reports.append(measure(open_reference(request.reference, Path(scratch)), request))
    return reports


def ratio(ours: float | None, reference: float | None) -> str:
    if not ours or not reference:
        return "–"
    return f"{ours / reference:.2f}×"


def format_reports(reports: list[SubjectReport]) -> str:
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.label}")
        lines.append(f"  {'file':<22}{'raw':>14}{'gzip -9':>14}{'brotli':>14}")
        for size in [*report.files, report.download]:
            lines.append(f"  {size.name:<22}{size.raw:>14,}{size.gzip:>14,}{size.brotli:>14,}")
        if report.deferred_files:
            deferred = report.deferred
            lines.append(f"  {f'+ {report.deferred_files} on demand':<22}{deferred.raw:>14,}{deferred.gzip:>14,}{deferred.brotli:>14,}"
                         "  (packs and side modules, each compressed whole; a deflated zip as it is)")
        lines.append(f"  {'full artifact':<22}{report.full.raw:>14,}{report.full.gzip:>14,}{report.full.brotli:>14,}")
        budgets = [f"{label} {value:,}" for label, value in (("initial gzip -9", report.budget_gzip),
                                                             ("full gzip -9", report.full_budget_gzip),
                                                             ("full brotli", report.full_budget_brotli)) if value is not None]
        if budgets:
            verdict = "OVER: " + "; ".join(report.budget_overruns) if report.over_budget else "within"
            lines.append(f"  size budgets: {', '.join(budgets)} — {verdict}")
        if report.node_start is not None and report.node_peak_rss is not None:
            lines.append(f"  Node cold start to first output: median {_ms(report.node_start.median)} "
                         f"(min {_ms(report.node_start.low)}, max {_ms(report.node_start.high)}, {len(report.node_start.values)} runs); "
                         f"peak RSS median {report.node_peak_rss.median / 2**20:.1f} MiB")
        if report.node_speed is not None:
            for phase in PHASES:
                sample = report.node_speed.phase(phase)
                kernels = ", ".join(f"{name} {_ms(seconds)}" for name, seconds in sample.kernels.items())
                lines.append(f"  Node run time of the speed workload, {phase}: median {_ms(sample.total)} ({kernels})")
        if report.chromium_start is not None:
            lines.append(f"  Chromium cold start to first output: median {_ms(report.chromium_start.median)} "
                         f"(min {_ms(report.chromium_start.low)}, max {_ms(report.chromium_start.high)}); fetched {', '.join(report.chromium_fetched)}")
        if report.network is not None:
            lines.extend(_network_lines(report))
        if report.workload is not None and report.workload_network is not None:
            workload = report.workload
            lines.append(f"  workload download (zlib, bz2, lzma, sqlite3, ctypes, decimal, json at work; "
                         f"{len(report.workload_network.files)} files): {report.workload_network.body:,} bytes on the wire, "
                         f"{workload.raw:,} raw, {workload.gzip:,} gzip -9, {workload.brotli:,} brotli")
        if report.breakdown:
            lines.extend(_breakdown_lines(report.breakdown))
    if len(reports) == 2:
        ours, reference = reports
        lines.append(f"ratios, {ours.label} / {reference.label}:")
        lines.append(f"  download raw {ratio(ours.download.raw, reference.download.raw)}, gzip {ratio(ours.download.gzip, reference.download.gzip)}, "
                     f"brotli {ratio(ours.download.brotli, reference.download.brotli)}, "
                     f"transferred {ratio(_network_body(ours), _network_body(reference))}")
        lines.append(f"  full artifact gzip {ratio(ours.full.gzip, reference.full.gzip)}, brotli {ratio(ours.full.brotli, reference.full.brotli)}")
        lines.append(f"  Node cold start {ratio(_median(ours.node_start), _median(reference.node_start))}, "
                     f"Node peak RSS {ratio(_median(ours.node_peak_rss), _median(reference.node_peak_rss))}, "
                     f"Node run time first {ratio(_speed_total(ours, 'first'), _speed_total(reference, 'first'))}, "
                     f"steady {ratio(_speed_total(ours, 'steady'), _speed_total(reference, 'steady'))}, "
                     f"Chromium cold start {ratio(_median(ours.chromium_start), _median(reference.chromium_start))}")
    return "\n".join(lines)


def _network_lines(report: SubjectReport) -> list[str]:
    """What Chromium counted on the wire, beside the computed gzip -9 and brotli sizes."""
    assert report.network is not None
    computed = {size.name: size for size in report.files}
    lines = [f"  transferred, as Chromium counted it (Accept-Encoding: {report.network.accept_encoding or '-'}):",
             f"  {'file':<22}{'encoding':>10}{'body':>14}{'headers':>10}{'computed gzip':>15}{'computed br':>13}"]
    for transfer in report.network.files:
        size = computed.get(transfer.name)
        lines.append(f"  {transfer.name:<22}{transfer.encoding:>10}{transfer.body:>14,}{transfer.headers:>10,}"
                     f"{size.gzip if size else 0:>15,}{size.brotli if size else 0:>13,}")
    lines.append(f"  {'total':<22}{'':>10}{report.network.body:>14,}{report.network.headers:>10,}"
                 f"{report.download.gzip:>15,}{report.download.brotli:>13,}")
    return lines


def _breakdown_lines(parts: dict[str, Any], top: int = 8) -> list[str]:
    """A few lines of the breakdown; `invoke sizes` prints all of it."""
    lines = []
    wasm = parts.get("python.wasm", {})
    if "components" in wasm:
        whole = wasm["code"]["total"] + wasm["data"]["total"]
        unattributed = wasm["code"]["unattributed"] + wasm["data"]["unattributed"]
        lines.append(f"  python.wasm code + data by component ({100 * (whole - unattributed) / whole:.1f} % attributed; `invoke sizes` has all):")
        for row in wasm["components"][:top]:
            total = row["code"] + row["data"]
            lines.append(f"    {row['component']:<36}{total:>12,}  {100 * total / whole:5.1f} %")
        lines.append(f"    {'unattributed':<36}{unattributed:>12,}  {100 * unattributed / whole:5.1f} %")
    elif wasm.get("note"):
        lines.append(f"  python.wasm by component: not measured ({wasm['note']})")
    packages = parts.get("python.data", [])
    if packages:
        largest = ", ".join(f"{row['name']} {row['stored']:,}" for row in packages[:top])
        lines.append(f"  python.data, largest top-level packages and modules (stored bytes): {largest}")
    js = parts.get("python.js", {}).get("parts", {})
    if js:
        lines.append("  python.js: " + ", ".join(f"{name.split(' (')[0]} {size:,}" for name, size in js.items()))
    return lines


def _median(sample: Sample | None) -> float | None:
    return sample.median if sample is not None else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def reports_json(reports: list[SubjectReport], runs: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "node": _node_version()},
        "subjects": [],
    }
    for report in reports:
        entry = asdict(report)
        entry["over_budget"] = report.over_budget
        entry["budget_overruns"] = report.budget_overruns
        for key in ("network", "workload_network"):
            network = getattr(report, key)
            if network is not None:
                entry[key]["body"] = network.body
                entry[key]["headers"] = network.headers
        data["subjects"].append(entry)
    if len(reports) == 2:
        ours, reference = reports
        data["ratios"] = {
            "download_raw": ours.download.raw / reference.download.raw,
            "download_gzip": ours.download.gzip / reference.download.gzip,
            "download_brotli": ours.download.brotli / reference.download.brotli,
            "full_gzip": ours.full.gzip / reference.full.gzip,
            "full_brotli": ours.full.brotli / reference.full.brotli,
            "download_transferred": _safe_ratio(_network_body(ours), _network_body(reference)),
            "node_cold_start": _safe_ratio(_median(ours.node_start), _median(reference.node_start)),
            "node_peak_rss": _safe_ratio(_median(ours.node_peak_rss), _median(reference.node_peak_rss)),
            "node_run_time_first": _safe_ratio(_speed_total(ours, "first"), _speed_total(reference, "first")),
            "node_run_time_steady": _safe_ratio(_speed_total(ours, "steady"), _speed_total(reference, "steady")),
            "chromium_cold_start": _safe_ratio(_median(ours.chromium_start), _median(reference.chromium_start)),
        }
    return data


def _speed_total(report: SubjectReport, phase: str) -> float | None:
    return report.node_speed.phase(phase).total if report.node_speed is not None else None


def _network_body(report: SubjectReport) -> float | None:
    return float(report.network.body) if report.network is not None else None


def _safe_ratio(ours: float | None, reference: float | None) -> float | None:
    return ours / reference if ours and reference else None


def _node_version() -> str | None:
    try:
        return subprocess.run([node_executable(), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (RuntimeUnavailableError, subprocess.CalledProcessError):
        return None
