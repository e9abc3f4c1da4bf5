"""The pull state (versions seen per store, the store found at each URL) is read, checked and
written under a lock: concurrent pulls never lose each other's records, and a pull killed while
holding it leaves the last complete state."""

import json
import os
import signal
from pathlib import Path

from .fault_support import Cli, killed, no_stray_processes, wait_for_stderr, wait_until_stopped  # noqa: F401 (an autouse fixture)
from .publish_support import make_dist, make_keys, publish_dist


def stores(tmp_path: Path, count: int):
    keys = make_keys(tmp_path / "keys")
    made = []
    for n in range(count):
        store = tmp_path / f"store{n}"
        publish_dist(str(store), make_dist(tmp_path / f"d{n}", seed=n), keys)
        made.append(store)
    return keys, made


def pull_args(store: Path, dest: Path, pubkey: Path) -> list[str]:
    return ["pull", "--store", str(store), "--dest", str(dest), "--pubkey", str(pubkey)]


def state_of(cli: Cli) -> dict:
    return json.loads((cli.cache / "pull-state.json").read_text())


def test_concurrent_pulls_of_different_stores_are_all_recorded(tmp_path):
    keys, made = stores(tmp_path, 4)
    cli = Cli(tmp_path / "cache")
    processes = [cli.start(*pull_args(store, tmp_path / f"out{n}", keys.public)) for n, store in enumerate(made)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    state = state_of(cli)
    assert len(state["seen"]) == 4 and len(state["stores"]) == 4


def test_a_pull_waits_while_another_holds_the_state_and_neither_record_is_lost(tmp_path):
    keys, (first_store, second_store) = stores(tmp_path, 2)
    cli = Cli(tmp_path / "cache")
    first = cli.start(*pull_args(first_store, tmp_path / "a", keys.public), fault="pull-state-read:stop")
    wait_until_stopped(first)
    second = cli.start(*pull_args(second_store, tmp_path / "b", keys.public))
    waiting = wait_for_stderr(second, "waiting for the pull state")
    assert second.poll() is None
    os.kill(first.pid, signal.SIGCONT)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert "waiting for the pull state" in waiting and len(state_of(cli)["stores"]) == 2


def test_a_pull_killed_while_holding_the_state_leaves_it_readable(tmp_path):
    keys, (first_store, second_store) = stores(tmp_path, 2)
    cli = Cli(tmp_path / "cache")
    assert cli.run(*pull_args(first_store, tmp_path / "a", keys.public)).returncode == 0
    before = state_of(cli)
    assert killed(cli.run(*pull_args(second_store, tmp_path / "b", keys.public), fault="pull-state-read:kill"))
    assert state_of(cli) == before and not (tmp_path / "b").exists()
    after = cli.run(*pull_args(second_store, tmp_path / "b", keys.public))
    assert after.returncode == 0, after.stderr
    assert [p.name for p in cli.cache.iterdir() if p.name.endswith(".tmp")] == []
