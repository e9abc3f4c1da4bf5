"""The publisher remembers the last index it signed into each store: a store rolled back to an
older, validly signed index (or wiped, or swapped for another) is refused instead of silently
extended; `--recover-from` extends a store restored from backup on purpose. Publishers take the
store's lock, and a publish killed at any step leaves a store that pulls and publishes again."""

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from wasmforge.core.errors import StaleIndexError, StoreIdentityError
from wasmforge.releasing.release_index import INDEX

from .fault_support import Cli, killed, no_stray_processes, wait_for_stderr, wait_until_stopped  # noqa: F401 (an autouse fixture)
from .publish_support import Keys, make_dist, make_keys, publish_dist, pull_release


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


def index_of(store: Path) -> dict:
    return json.loads((store / INDEX).read_text())


def versions_in(store: Path) -> list[str]:
    return sorted(r["version"] for r in index_of(store)["releases"])


def test_a_store_rolled_back_to_an_older_index_is_not_extended(tmp_path, keys):
    store, backup = tmp_path / "store", tmp_path / "backup"
    publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    shutil.copytree(store, backup, symlinks=True)
    publish_dist(str(store), make_dist(tmp_path / "b", seed=2), keys, version="v2")
    shutil.rmtree(store)
    shutil.copytree(backup, store, symlinks=True)  # the older, validly signed index is back
    before = (store / INDEX).read_bytes()

    third = make_dist(tmp_path / "c", seed=3)
    with pytest.raises(StaleIndexError, match="last signed version 2.*--recover-from 1"):
        publish_dist(str(store), third, keys, version="v3")
    assert (store / INDEX).read_bytes() == before and not (store / "releases" / "v3").exists()

    recovered = publish_dist(str(store), third, keys, version="v3", recover_from=1)
    # Above every version this publisher signed, so clients that saw version 2 accept it.
    assert recovered.index.index_version == 3 and versions_in(store) == ["v1", "v3"]


def test_a_wiped_store_is_refused_and_recovered_under_its_old_identity(tmp_path, keys):
    store = tmp_path / "store"
    first = publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    shutil.rmtree(store)
    second = make_dist(tmp_path / "b", seed=2)
    with pytest.raises(StaleIndexError, match="holds no index.*--recover-from 0"):
        publish_dist(str(store), second, keys, version="v2")
    again = publish_dist(str(store), second, keys, version="v2", recover_from=0)
    assert again.index.store_id == first.index.store_id and again.index.index_version == 2


def test_another_store_in_place_of_the_one_this_publisher_signed_is_refused(tmp_path, keys):
    store, other = tmp_path / "store", tmp_path / "other"
    publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    publish_dist(str(other), make_dist(tmp_path / "b", seed=2), keys, version="v1")
    shutil.rmtree(store)
    shutil.copytree(other, store, symlinks=True)
    with pytest.raises(StoreIdentityError, match="last signed version 1 of store"):
        publish_dist(str(store), make_dist(tmp_path / "c", seed=3), keys, version="v2")


def test_a_newer_index_signed_elsewhere_with_the_same_key_is_extended(tmp_path, keys):
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    elsewhere = tmp_path / "elsewhere"  # another machine holding the same key
    shutil.copytree(keys.private.parent, elsewhere, ignore=shutil.ignore_patterns("publish-state.json*", ".publish*"))
    from .publish_support import load_keys
    publish_dist(str(store), make_dist(tmp_path / "b", seed=2), load_keys(elsewhere), version="v2")
    third = publish_dist(str(store), make_dist(tmp_path / "c", seed=3), keys, version="v3")
    assert third.index.index_version == 3 and versions_in(store) == ["v1", "v2", "v3"]


# Real processes: racing publishers and kill -9 --------------------------------------------


def publish_args(store: Path, dist: Path, keys: Keys, version: str) -> list[str]:
    return ["publish", "--target", "emscripten-browser", "--store", str(store), "--version", version,
            "--dist", str(dist), "--key", str(keys.private)]


def test_racing_publishers_take_turns_and_both_releases_are_kept(tmp_path, keys):
    store = tmp_path / "store"
    cli_a, cli_b = Cli(tmp_path / "cache-a"), Cli(tmp_path / "cache-b")  # two machines, one key
    first = cli_a.start(*publish_args(store, make_dist(tmp_path / "a", seed=1), keys, "v1"),
                        fault="publish-release-stored:stop")
    wait_until_stopped(first)
    second = cli_b.start(*publish_args(store, make_dist(tmp_path / "b", seed=2), keys, "v2"))
    waiting = wait_for_stderr(second, "waiting for publishing")  # blocked on the store's lock
    assert second.poll() is None
    os.kill(first.pid, signal.SIGCONT)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert "waiting for publishing" in waiting
    assert versions_in(store) == ["v1", "v2"] and index_of(store)["index_version"] == 2


@pytest.mark.parametrize("point", ["publish-release-stored", "store-index-pair-written", "publish-index-written"])
def test_a_publish_killed_at_any_step_leaves_a_store_that_pulls_and_publishes(tmp_path, keys, point):
    store = tmp_path / "store"
    cli = Cli(tmp_path / "cache")
    first = cli.run(*publish_args(store, make_dist(tmp_path / "a", seed=1), keys, "v1"))
    assert first.returncode == 0, first.stderr
    second = make_dist(tmp_path / "b", seed=2)
    assert killed(cli.run(*publish_args(store, second, keys, "v2"), fault=f"{point}:kill"))

    expected = ["v1", "v2"] if point == "publish-index-written" else ["v1"]
    assert versions_in(store) == expected
    pulled = pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "state.json", version="v1")
    assert pulled.release.version == "v1"

    after = cli.run(*publish_args(store, second, keys, "v2"))
    assert after.returncode == 0, after.stderr
    assert versions_in(store) == ["v1", "v2"]
