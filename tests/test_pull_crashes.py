"""`invoke pull --force` over a good copy, killed with SIGKILL at every step, raced by other
pulls, or blocked by one: the destination is always one complete, verified release, and the next
run cleans up whatever a killed one left."""

import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from wasmforge.core.errors import LockError, PullError

from .fault_support import Cli, error_line, killed, no_stray_processes, siblings, wait_for_stderr, wait_until_stopped  # noqa: F401 (an autouse fixture)
from .publish_support import make_dist, make_keys, publish_dist


@dataclass(frozen=True)
class Puller:
    """`invoke pull --force` of one store into one destination, on one machine."""

    cli: Cli
    store: Path
    pubkey: Path
    dest: Path

    def args(self, version: str) -> list[str]:
        return ["pull", "--store", str(self.store), "--dest", str(self.dest), "--pubkey", str(self.pubkey),
                "--version", version, "--force"]

    def run(self, version: str, fault: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return self.cli.run(*self.args(version), fault=fault, **env)

    def start(self, version: str, fault: str | None = None, **env: str) -> subprocess.Popen[str]:
        return self.cli.start(*self.args(version), fault=fault, **env)


@pytest.fixture
def puller(tmp_path: Path) -> Puller:
    """A store with v1 and v2, and a machine that has already pulled v1."""
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d1", seed=1), keys, version="v1")
    publish_dist(str(store), make_dist(tmp_path / "d2", seed=2), keys, version="v2")
    puller = Puller(Cli(tmp_path / "cache"), store, keys.public, tmp_path / "out")
    first = puller.run("v1")
    assert first.returncode == 0, first.stderr
    return puller


def release_in(dest: Path) -> str:
    """Which release `dest` holds, after checking every file against its SHA256SUMS."""
    for line in (dest / "SHA256SUMS").read_text().splitlines():
        sha256, name = line.split("  ")
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == sha256, name
    return {"// loader 1": "v1", "// loader 2": "v2"}[(dest / "python.js").read_text().splitlines()[0]]


@pytest.mark.parametrize("point", ["pull-downloaded", "pull-verified", "dirswap-exchanged"])
def test_a_pull_killed_at_any_step_leaves_the_old_or_the_new_copy(puller, point):
    assert killed(puller.run("v2", fault=f"{point}:kill"))
    assert release_in(puller.dest) == ("v2" if point == "dirswap-exchanged" else "v1")
    again = puller.run("v2")
    assert again.returncode == 0, again.stderr
    assert release_in(puller.dest) == "v2" and siblings(puller.dest) == []


def test_without_rename_exchange_a_kill_between_the_renames_is_repaired_by_the_next_run(puller):
    fallback = {"WASMFORGE_TEST_NO_RENAME_EXCHANGE": "1"}
    assert killed(puller.run("v2", fault="dirswap-between-renames:kill", **fallback))
    # The window that the exchange closes: old copy parked, new one staged, no destination.
    assert not puller.dest.exists() and len(siblings(puller.dest)) == 2
    again = puller.run("v1", **fallback)
    assert again.returncode == 0, again.stderr
    assert "restored" in again.stderr
    assert release_in(puller.dest) == "v1" and siblings(puller.dest) == []


def test_racing_forced_pulls_all_succeed_and_leave_one_complete_copy(puller):
    processes = [puller.start(version) for version in ("v2", "v1", "v2", "v1")]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert release_in(puller.dest) in ("v1", "v2") and siblings(puller.dest) == []


def test_a_second_pull_waits_for_the_first_then_goes_ahead(puller):
    first = puller.start("v2", fault="pull-verified:stop")
    wait_until_stopped(first)
    second = puller.start("v1")
    waiting = wait_for_stderr(second, "waiting for destination")  # blocked on the destination's lock
    assert second.poll() is None
    os.kill(first.pid, signal.SIGCONT)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert "waiting for destination" in waiting and release_in(puller.dest) == "v1"


def test_a_pull_that_cannot_get_the_lock_in_time_names_the_lock_and_its_holder(puller):
    holder = puller.start("v2", fault="pull-downloaded:stop")
    wait_until_stopped(holder)
    try:
        blocked = puller.run("v2", WASMFORGE_LOCK_TIMEOUT="1")
        assert blocked.returncode == LockError.exit_code
        line = error_line(blocked)
        assert f".{puller.dest.name}.lock" in line and f"pid {holder.pid}" in line and "waited 1 s" in line
    finally:
        holder.kill()
        holder.communicate()
    # The killed holder's lock died with it; its staging folder is cleaned by the next pull.
    assert siblings(puller.dest) != []
    after = puller.run("v2")
    assert after.returncode == 0, after.stderr
    assert release_in(puller.dest) == "v2" and siblings(puller.dest) == []


def test_a_destination_that_cannot_be_written_is_a_one_line_error(tmp_path, puller):
    (tmp_path / "a-file").write_text("not a folder")
    blocked = Puller(puller.cli, puller.store, puller.pubkey, tmp_path / "a-file" / "out").run("v2")
    assert blocked.returncode == PullError.exit_code
    assert "cannot write the destination" in error_line(blocked)
