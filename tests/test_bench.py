"""`invoke bench` reports what an artifact costs a user — bytes, cold start, memory — next to
Pyodide measured in the same run; the parts are checked on small inputs, the whole on the real
artifact and the real Pyodide package."""

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from wasmforge.verifying import bench
from wasmforge.verifying.runtimes.chromium import chromium_executable

from .conftest import PYODIDE_TARBALL, ROOT, built_dist


def test_wasm_sections_are_counted_by_kind_and_custom_sections_by_name(tmp_path):
    module = tmp_path / "tiny.wasm"
    custom_payload = b"\x04name" + b"xyz"  # a custom section: name length, name, then its bytes
    module.write_bytes(
        b"\0asm\x01\0\0\0"
        + b"\x01\x04\x01\x60\x00\x00"  # type section: one () -> () signature
        + b"\x00" + bytes([len(custom_payload)]) + custom_payload
    )
    assert bench.wasm_sections(module) == {"type": 4, "custom:name": 8}


def test_a_file_that_is_not_wasm_is_refused(tmp_path):
    path = tmp_path / "python.wasm"
    path.write_bytes(b"not wasm")
    with pytest.raises(bench.BenchError, match="not a WebAssembly module"):
        bench.wasm_sections(path)


def test_sizes_are_raw_gzip_9_and_brotli_and_add_up(tmp_path):
    (tmp_path / "python.js").write_text("var Module;\n" * 200)
    (tmp_path / "python.wasm").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "python.data").write_bytes(b"\0" * 5000)
    artifact = bench.EmscriptenBrowserArtifact(label="x", directory=tmp_path)
    sizes = bench.measure_sizes(tmp_path, artifact.download_files())
    assert [s.name for s in sizes] == ["python.js", "python.wasm", "python.data"]
    js = sizes[0]
    assert js.raw == 2400 and js.gzip == len(gzip.compress((tmp_path / "python.js").read_bytes(), 9, mtime=0))
    assert 0 < js.brotli < js.raw
    assert bench.total(sizes).raw == 2400 + 16384 + 5000


def test_packs_are_fetched_on_demand_and_count_as_sent_a_zip_as_it_is_a_side_module_compressed(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "json.zip").write_bytes(b"PK" + bytes(range(256)) * 8)
    (tmp_path / "packs" / "_decimal.wasm").write_bytes(b"\0asm" + bytes(4096))
    (tmp_path / "packs" / "index.json").write_text(json.dumps({"packs": {
        "json": {"file": "json.zip", "kind": "zip"},
        "_decimal": {"file": "_decimal.wasm", "kind": "extension", "library": "_decimal.cpython-313-wasm32-emscripten.so"},
    }}))
    artifact = bench.EmscriptenBrowserArtifact(label="x", directory=tmp_path)
    assert artifact.deferred_files() == ["packs/_decimal.wasm", "packs/json.zip"]
    side_module, pack = bench.measure_sizes(tmp_path, artifact.deferred_files())
    assert pack.raw == pack.gzip == pack.brotli == 2050
    assert side_module.raw == 4100 and side_module.gzip < 100 and side_module.brotli < 100


def test_an_artifact_over_a_budget_says_which_and_by_how_much():
    size = bench.FileSize(name="total", raw=10, gzip=5_000, brotli=4)
    full = bench.FileSize(name="full", raw=10, gzip=9_000, brotli=4)
    report = bench.SubjectReport(label="x", files=[], download=size, deferred=full, deferred_files=1, full=full,
                                 budget_gzip=4_000, full_budget_gzip=10_000)
    assert report.budget_overruns == ["initial download 5,000 bytes gzip -9 > size_budget_gzip 4,000"]
    report.full_budget_gzip = 8_000
    assert len(report.budget_overruns) == 2 and report.over_budget
    report.full_budget_brotli = 3
    assert report.budget_overruns[2] == "full artifact 4 bytes brotli > full_budget_brotli 3"


def test_the_data_package_index_is_read_from_the_loader(tmp_path):
    (tmp_path / "python.js").write_text(
        'loadPackage({files:[{filename:"/usr/local/lib/python3.13/os.py",start:0,end:41},'
        '{filename:"/usr/local/lib/python313.zip",start:41,end:100}],remote_package_size:100})'
    )
    assert bench.data_package_files(tmp_path) == [
        ("/usr/local/lib/python3.13/os.py", 0, 41), ("/usr/local/lib/python313.zip", 41, 100),
    ]


def test_ratios_are_ours_over_the_reference():
    assert bench.ratio(50.0, 200.0) == "0.25×"
    assert bench.ratio(None, 200.0) == "–"


def test_a_reference_that_is_not_a_pyodide_package_is_refused(tmp_path):
    with pytest.raises(bench.BenchError, match="not an unpacked Pyodide npm package"):
        bench.PyodidePackage.open(tmp_path)


@pytest.mark.docker
@pytest.mark.browser
@pytest.mark.skipif(not PYODIDE_TARBALL.is_file(), reason="the Pyodide reference package is not beside the project")
@pytest.mark.skipif(not Path(chromium_executable()).exists(), reason="Debian's chromium is not installed")
def test_bench_measures_the_artifact_and_pyodide_in_one_run(invoke_cli, tmp_path):
    built_dist()
    with tarfile.open(PYODIDE_TARBALL) as archive:
        archive.extractall(tmp_path / "pyodide", filter="data")
    report_path = tmp_path / "bench.json"
    result = invoke_cli(["bench", "--target", "emscripten-browser", "--reference", str(tmp_path / "pyodide" / "package"),
                         "--runs", "2", "--json", str(report_path)], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    ours, reference = json.loads(report_path.read_text())["subjects"]
    assert [f["name"] for f in ours["files"]] == ["python.js", "python.wasm", "python.data"]
    for subject in (ours, reference):
        download = subject["download"]
        assert download["raw"] > download["gzip"] > 0 and download["raw"] > download["brotli"] > 0
        assert len(subject["node_start"]["values"]) == 2 and 0.05 < subject["node_start"]["median"] < 60
        assert subject["node_peak_rss"]["median"] > 20 * 2**20
        assert len(subject["chromium_start"]["values"]) == 2 and 0.05 < subject["chromium_start"]["median"] < 60
        # The speed workload ran in both, each kernel timed in both phases of both runs.
        for phase in ("first", "steady"):
            speed = subject["node_speed"][phase]
            assert len(speed["totals"]) == 2 and set(speed["kernels"]) == {"calls", "floats", "strings", "dicts", "json_and_re"}
            assert 0 < speed["total"] < 120
    # What a browser really fetched is what the size total counts.
    assert ours["chromium_fetched"] == ["python.data", "python.js", "python.wasm"]
    assert sorted(reference["chromium_fetched"]) == sorted(f["name"] for f in reference["files"])
    assert reference["label"] == "pyodide 314.0.7"
    assert ours["breakdown"]["stdlib"]["zip"] == "/usr/local/lib/python313.zip"
    assert ours["breakdown"]["python.wasm sections"]["code"] > 1_000_000
    # The breakdown: python.data by every top-level package, python.js by part (adding up to the
    # file), python.wasm by component when the build image is there to name its objects.
    packages = {row["name"]: row for row in ours["breakdown"]["python.data"]}
    assert {"asyncio", "encodings", "json", "sqlite3", "typing"} <= set(packages)
    assert sum(row["raw"] for row in packages.values()) > 7_000_000
    # Start-up needs the core only: the rest of the stdlib is on demand, and counted in full.
    assert packages["encodings"]["where"] == "python.data" and packages["json"]["where"] == "packs/json.zip"
    assert ours["deferred_files"] > 100 and ours["full"]["raw"] == ours["download"]["raw"] + ours["deferred"]["raw"]
    js = ours["breakdown"]["python.js"]
    assert sum(js["parts"].values()) == js["size"] == ours["files"][0]["raw"]
    wasm = ours["breakdown"]["python.wasm"]
    if "code" in wasm:
        components = {row["component"]: row for row in wasm["components"]}
        assert {"zlib", "libffi", "CPython Python/", "CPython Objects/"} <= set(components)
        # sqlite and mpdecimal went out with their side modules (the `side-modules` flag).
        assert not {"sqlite", "mpdecimal"} & set(components)
        assert wasm["code"]["unattributed"] < wasm["code"]["total"] / 2
    # What Chromium counted on the wire is what the computed sizes say, for each file in the
    # encoding the server chose: the server sends the very bodies the bench measures.
    for subject in (ours, reference):
        computed = {f["name"]: f for f in subject["files"]}
        transfers = subject["network"]["files"]
        assert sorted(t["name"] for t in transfers) == sorted(computed)
        for transfer in transfers:
            expected = {"br": "brotli", "gzip": "gzip", "identity": "raw"}[transfer["encoding"]]
            assert transfer["body"] == computed[transfer["name"]][expected], transfer
            assert 0 < transfer["headers"] < 2000
        assert subject["network"]["body"] == sum(t["body"] for t in transfers)
    assert {t["encoding"] for t in ours["network"]["files"]} <= {"br", "gzip"}
    zip_transfer = next(t for t in reference["network"]["files"] if t["name"] == "python_stdlib.zip")
    assert zip_transfer["encoding"] == "identity", "a zip is sent as it is, as CDNs do"
    assert "transferred, as Chromium counted it" in result.stdout
    # The workload (the smoke test's modules and ctypes at work) fetches the start files and the
    # packs its imports need, and no others; the reference's npm package cannot run it.
    workload_files = {t["name"] for t in ours["workload_network"]["files"]}
    assert {"python.js", "python.wasm", "python.data", "packs/sqlite3.zip", "packs/ctypes.zip", "packs/lzma.zip"} <= workload_files
    assert "packs/asyncio.zip" not in workload_files and "packs/tkinter.zip" not in workload_files
    assert ours["download"]["gzip"] < ours["workload"]["gzip"] < ours["full"]["gzip"]
    assert reference["workload"] is None and reference["workload_network"] is None
    assert "workload download" in result.stdout
    ratios = json.loads(report_path.read_text())["ratios"]
    assert set(ratios) >= {"download_gzip", "node_cold_start", "chromium_cold_start", "node_peak_rss",
                           "node_run_time_first", "node_run_time_steady"}
    assert "Node run time of the speed workload, steady" in result.stdout
    assert f"ratios, {ours['label']} / pyodide 314.0.7:" in result.stdout
    assert ("OVER ITS SIZE BUDGET" in result.stderr) == ours["over_budget"], "the warning comes exactly when over budget"
