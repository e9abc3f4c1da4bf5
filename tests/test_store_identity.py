"""A client remembers which store it found at each URL: another store signed with the same key,
put at that URL (a replay of an older store), is refused; a new URL is a first use, said so.
A store whose signed index lists the URLs it is served from is refused at any other URL."""

import json
import shutil
from pathlib import Path

import pytest

from wasmforge.core.errors import PublishError, ReleaseIndexError, StoreIdentityError
from wasmforge.releasing.release_index import INDEX, parse_index
from wasmforge.releasing.stores import open_store

from .fault_support import Cli, error_line, no_stray_processes  # noqa: F401 (an autouse fixture)
from .publish_support import (  # noqa: F401 (static_mirror is a fixture)
    SCHEMA, load_keys, make_dist, make_keys, publish_dist, static_mirror,
)


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



def index_document(store: Path | str) -> dict:
    signed = open_store(str(store)).read_index()
    assert signed is not None
    return json.loads(signed.data)


def test_a_store_is_pulled_from_a_url_its_index_lists_and_refused_anywhere_else(tmp_path, static_mirror):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    store.mkdir()
    served = static_mirror(store)  # URL A
    publish_dist(str(store), make_dist(tmp_path / "d", seed=1), keys, serve_urls=(f"{served}/",))
    assert index_document(store)["serve_urls"] == [served]  # canonical: no trailing slash
    cli = Cli(tmp_path / "cache")

    from_a = pull(cli, served, keys.public, tmp_path / "a")
    assert from_a.returncode == 0, from_a.stderr
    assert "first use of" in from_a.stderr and "a URL its signed index lists" in from_a.stderr

    # The same bytes copied to URL B: a signed statement beats trust on first use.
    copy = tmp_path / "copy"
    shutil.copytree(store, copy, symlinks=True)
    other = static_mirror(copy)
    for url, dest in ((other, tmp_path / "b"), (copy, tmp_path / "c")):
        for extra in ((), ("--accept-new-store",)):
            refused = pull(cli, url, keys.public, dest, *extra)
            assert refused.returncode == StoreIdentityError.exit_code, refused.stderr
            line = error_line(refused)
            assert "says it is served from" in line and served in line, line
            assert (other if url == other else copy.as_uri()) in line
            assert not dest.exists()

    # The directory publish wrote is not a serve URL unless given.
    direct = pull(cli, store, keys.public, tmp_path / "e")
    assert direct.returncode == StoreIdentityError.exit_code
    assert not (tmp_path / "e").exists()


def test_a_local_directory_listed_as_a_path_is_its_file_url(tmp_path):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d", seed=1), keys, serve_urls=(str(store),))
    assert index_document(store)["serve_urls"] == [store.resolve().as_uri()]
    cli = Cli(tmp_path / "cache")
    assert pull(cli, store, keys.public, tmp_path / "a").returncode == 0
    again = pull(cli, f"file://{store}/", keys.public, tmp_path / "b")
    assert again.returncode == 0, again.stderr


def test_an_index_without_urls_is_pulled_from_anywhere_as_before(tmp_path):
    keys = make_keys(tmp_path / "keys")
    store, copy = tmp_path / "store", tmp_path / "copy"
    publish_dist(str(store), make_dist(tmp_path / "d", seed=1), keys)
    assert "serve_urls" not in index_document(store)
    shutil.copytree(store, copy, symlinks=True)
    cli = Cli(tmp_path / "cache")
    for where, dest in ((store, "a"), (copy, "b")):
        result = pull(cli, where, keys.public, tmp_path / dest)
        assert result.returncode == 0, result.stderr
        assert "first use of file://" in result.stderr


def test_the_url_list_is_kept_by_a_later_publish_and_replaced_when_given(tmp_path):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    cli = Cli(tmp_path / "cache")
    first = cli.run(
        "publish", "--store", str(store), "--dist", str(make_dist(tmp_path / "d1", seed=1)), "--key", str(keys.private),
        "--version", "v1", "--serve-url", "HTTPS://Example.org:443/store/", "--serve-url", "oci://ghcr.io/acme/python",
    )
    assert first.returncode == 0, first.stderr
    listed = ["https://example.org/store", "oci://ghcr.io/acme/python"]
    assert index_document(store)["serve_urls"] == listed

    publish_dist(str(store), make_dist(tmp_path / "d2", seed=2), keys, version="v2", serve_urls=())
    assert index_document(store)["serve_urls"] == listed  # kept

    publish_dist(str(store), make_dist(tmp_path / "d3", seed=3), keys, version="v3",
                 serve_urls=("https://mirror.example.net/py",))
    assert index_document(store)["serve_urls"] == ["https://mirror.example.net/py"]  # given ones win


@pytest.mark.parametrize("url", [
    "ftp://example.org/store", "https:///no-host", "https://example.org/s?x=1", "", "https://example.org/a b",
])
def test_publish_refuses_a_url_that_cannot_name_a_store_before_writing_anything(tmp_path, url):
    keys = make_keys(tmp_path / "keys")
    with pytest.raises(PublishError, match="--serve-url"):
        publish_dist(str(tmp_path / "store"), make_dist(tmp_path / "d", seed=1), keys, serve_urls=(url,))
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("serve_urls", [
    [], "https://example.org/store", [1], ["ftp://example.org/store"], ["https://example.org/a b"],
    ["https://example.org/s", "https://example.org/s"], ["https://example.org/s?x=1"], ["https://"],
])
def test_the_schema_rejects_a_malformed_url_list(tmp_path, serve_urls):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d", seed=1), keys)
    document = index_document(store)
    parse_index(json.dumps(document).encode(), SCHEMA, "ok")
    document["serve_urls"] = serve_urls
    with pytest.raises(ReleaseIndexError, match="serve_urls"):
        parse_index(json.dumps(document).encode(), SCHEMA, "bad")
