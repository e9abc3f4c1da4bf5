"""wasmforge.core.files: a file is written whole or not at all, JSON is read with one-line errors
naming the file, and a gzip size is what `gzip -9` with a fixed header gives."""

import gzip
import os
from pathlib import Path

import pytest

from wasmforge.core.errors import MatrixError
from wasmforge.core.files import atomic_output, gzip_size, read_json, write_atomic


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_atomic_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    write_atomic(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    write_atomic(path, b"\0bytes")
    assert path.read_bytes() == b"\0bytes"
    assert names_in(tmp_path) == ["out.json"]


def test_write_atomic_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    write_atomic(path, "x")
    assert path.read_text() == "x" and names_in(path.parent) == ["out.txt"]


def test_a_write_failing_midway_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_output(path) as handle:
            handle.write(b"half of the new")
            raise OSError("disk full")
    assert path.read_text() == "old"
    assert names_in(tmp_path) == ["out.json"]


def test_a_write_failing_midway_creates_nothing_when_there_was_no_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "out.json") as handle:
            handle.write(b"half")
            raise KeyboardInterrupt
    assert names_in(tmp_path) == []


def test_the_mode_is_the_one_asked_for_or_what_the_umask_gives(tmp_path):
    write_atomic(tmp_path / "private", "x", mode=0o600)
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "default", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "default").stat().st_mode & 0o777 == 0o640, "like a plain write, not mkstemp's 0600"


def test_read_json_parses_a_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": [1, 2.5, null]}')
    assert read_json(path, MatrixError) == {"a": [1, 2.5, None]}


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "matrix.json"
    with pytest.raises(MatrixError) as caught:
        read_json(path, MatrixError, "matrix")
    assert str(caught.value) == f"{path}: no such matrix"


def test_bad_json_is_one_line_naming_the_file_line_and_column(tmp_path):
    path = tmp_path / "matrix.json"
    path.write_text('{"schema_version": 1,\n  "pythons": }')
    with pytest.raises(MatrixError) as caught:
        read_json(path, MatrixError)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: invalid JSON at line 2, column 14: ")


@pytest.mark.parametrize("data", [b"", b"wasmforge " * 1000, bytes(range(256)) * 64])
def test_gzip_size_is_gzip_9_with_no_name_and_mtime_0(tmp_path, data):
    expected = len(gzip.compress(data, 9, mtime=0))
    assert gzip_size(data) == expected
    path = tmp_path / "python.wasm"
    path.write_bytes(data)
    assert gzip_size(path) == expected, "a path is measured by its bytes"
