"""Replacing a directory (pull destinations, dist/<target-id>/) leaves a complete old or new copy
at every instant, and `recover` repairs whatever an interrupted replacement left."""

from pathlib import Path

import pytest

from wasmforge.core import dirswap


def folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "file.txt").write_text(text)
    (path / "sub").mkdir()
    (path / "sub" / "more.txt").write_text(text)
    return path


def content(path: Path) -> str:
    assert (path / "sub" / "more.txt").read_text() == (path / "file.txt").read_text()
    return (path / "file.txt").read_text()


@pytest.mark.parametrize("exchange", [True, False], ids=["rename-exchange", "two-renames"])
def test_a_directory_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setenv(dirswap.NO_EXCHANGE_ENV, "1")
    dest = folder(tmp_path / "dest", "old")
    staging = dirswap.make_staging(dest)
    (staging / "file.txt").write_text("new")
    (staging / "sub").mkdir()
    (staging / "sub" / "more.txt").write_text("new")
    dirswap.replace_directory(staging, dest)
    assert content(dest) == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


def test_a_missing_destination_is_simply_renamed_into_place(tmp_path):
    staging = folder(tmp_path / ".dest.partial-x", "new")
    dirswap.replace_directory(staging, tmp_path / "dest")
    assert content(tmp_path / "dest") == "new"


def test_recover_puts_back_a_parked_old_copy_when_the_destination_is_gone(tmp_path):
    dest = tmp_path / "dest"
    folder(tmp_path / ".dest.old-1234abcd", "old")
    folder(tmp_path / ".dest.partial-xyz", "maybe unverified")
    done = dirswap.recover(dest)
    assert content(dest) == "old" and len(done) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


def test_recover_removes_leftovers_but_keeps_the_destination_the_lock_and_strangers(tmp_path):
    dest = folder(tmp_path / "dest", "current")
    folder(tmp_path / ".dest.partial-1", "staged")
    folder(tmp_path / ".dest.old-2", "parked")
    dirswap.lock_path(dest).write_text("")
    folder(tmp_path / ".destination.partial-3", "another destination's")
    dirswap.recover(dest)
    assert content(dest) == "current"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dest.lock", ".destination.partial-3", "dest"]
