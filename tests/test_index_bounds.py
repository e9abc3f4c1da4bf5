"""An index is believed only for a bounded time: it must expire after it was signed and at most
a year later (a validly signed index "valid until 9966" is refused), and publish checks every
argument, the lifetime among them, before it writes anything."""

from datetime import timedelta

import pytest

from wasmforge.core.errors import PublishError, ReleaseIndexError

from .fault_support import Cli, error_line, no_stray_processes  # noqa: F401 (an autouse fixture)
from .publish_support import NOW, make_dist, make_keys, publish_dist, pull_release, resign_index


@pytest.fixture
def published(tmp_path):
    keys = make_keys(tmp_path / "keys")
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "d"), keys)
    return store, keys


@pytest.mark.parametrize(("expires", "message"), [
    ("9966-01-01T00:00:00Z", "more than 365 days after it was signed"),
    ("2026-11-25T11:59:59Z", "no later than it was signed"),
])
def test_an_index_valid_too_long_or_expiring_before_it_was_signed_is_refused(tmp_path, published, expires, message):
    store, keys = published
    resign_index(store, keys, lambda document: document.update(expires=expires))
    with pytest.raises(ReleaseIndexError, match=message):
        pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "state.json",
                     now=NOW - timedelta(seconds=10))
    assert not (tmp_path / "out").exists()


def test_the_longest_lifetime_a_client_believes_is_configurable(tmp_path, published):
    store, keys = published  # published for 30 days
    with pytest.raises(ReleaseIndexError, match="more than 7 days"):
        pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "state.json",
                     max_lifetime=timedelta(days=7))


@pytest.mark.parametrize("days", ["0", "-1", "366"])
def test_publish_refuses_an_unusable_lifetime_before_writing_anything(tmp_path, days):
    keys = make_keys(tmp_path / "keys")
    dist = make_dist(tmp_path / "d")
    store = tmp_path / "store"
    result = Cli(tmp_path / "cache").run(
        "publish", "--store", str(store), "--dist", str(dist), "--key", str(keys.private), "--version", "v1",
        "--expires-days", days,
    )
    assert result.returncode == PublishError.exit_code
    assert "--expires-days must be between 1 and 365" in error_line(result)
    assert not store.exists()


def test_publish_refuses_a_bad_version_before_writing_anything(tmp_path):
    keys = make_keys(tmp_path / "keys")
    with pytest.raises(PublishError, match="not usable"):
        publish_dist(str(tmp_path / "store"), make_dist(tmp_path / "d"), keys, version="../x")
    assert not (tmp_path / "store").exists()
