"""A client remembers which store it found at each URL: another store signed with the same key,
put at that URL (a replay of an older store), is refused; a new URL is a first use, said so."""

import shutil
from pathlib import Path

from wasmforge.core.errors import StoreIdentityError

from .fault_support import Cli, error_line, no_stray_processes  # noqa: F401 (an autouse fixture)
from .publish_support import load_keys, make_dist, make_keys, publish_dist


def pull(cli: Cli, store: Path | str, pubkey: Path, dest: Path, *extra: str):
    return cli.run("pull", "--store", str(store), "--dest", str(dest), "--pubkey", str(pubkey), *extra)


def test_another_store_served_at_a_known_url_is_refused(tmp_path):
    keys = make_keys(tmp_path / "keys")
    other_keys_dir = tmp_path / "other-publisher"  # same key, another publisher state
    other_keys_dir.mkdir()
    for name in ("release.key.pem", "release.pub.pem"):
        shutil.copy2(keys.private.parent / name, other_keys_dir / name)
    store, old_store = tmp_path / "store", tmp_path / "old-store"
    publish_dist(str(old_store), make_dist(tmp_path / "old", seed=1), load_keys(other_keys_dir), version="v1")
    publish_dist(str(store), make_dist(tmp_path / "new", seed=2), keys, version="v2")
    cli = Cli(tmp_path / "cache")

    first = pull(cli, store, keys.public, tmp_path / "a")
    assert first.returncode == 0, first.stderr
    assert "first use of file://" in first.stderr

    # The other store, with its older build, now answers at the same URL.
    shutil.rmtree(store)
    shutil.copytree(old_store, store, symlinks=True)
    replayed = pull(cli, store, keys.public, tmp_path / "b")
    assert replayed.returncode == StoreIdentityError.exit_code
    assert "this machine found store" in error_line(replayed) and "--accept-new-store" in error_line(replayed)
    assert not (tmp_path / "b").exists()

    accepted = pull(cli, store, keys.public, tmp_path / "c", "--accept-new-store")
    assert accepted.returncode == 0, accepted.stderr
    assert pull(cli, store, keys.public, tmp_path / "d").returncode == 0  # remembered from now on


def test_the_same_store_under_another_spelling_of_its_path_is_the_same_store(tmp_path):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d", seed=1), keys)
    cli = Cli(tmp_path / "cache")
    assert pull(cli, store, keys.public, tmp_path / "a").returncode == 0
    again = pull(cli, f"file://{store}/", keys.public, tmp_path / "b")
    assert again.returncode == 0, again.stderr
    assert "first use" not in again.stderr

