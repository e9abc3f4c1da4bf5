"""A cross-build environment published with its artifact: accepted only when it describes the very
build being published, signed through the index, pulled verified, and listed by a directory store
in cross-build-environments.json (Pyodide's list of environments is the shape it follows)."""

import json
import os
import urllib.parse
from pathlib import Path

import pytest

from wasmforge.building.xbuildenv import INFO_FILE, write_archive
from wasmforge.core.errors import PublishError
from wasmforge.core.hashing import sha256_file
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.stores import open_writable_store
from wasmforge.releasing.xbuildenv_release import ENVIRONMENTS

from .conftest import BROWSER_TARGET, ROOT, built_dist
from .publish_support import NOW, SCHEMA, Keys, make_dist, make_keys, publish_dist, publisher_state, pull_release

ENVIRONMENT = f"xbuildenv-{BROWSER_TARGET}.tar.gz"


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


def environment_for(dist: Path, destination: Path, target_id: str = BROWSER_TARGET) -> Path:
    """An environment whose xbuildenv.json names `dist`'s manifest, written as `invoke xbuildenv` writes one."""
    info = {"target": {"id": target_id}, "artifact": {"manifest_sha256": sha256_file(dist / "manifest.json")}}
    files = {INFO_FILE: json.dumps(info).encode(), "include/python3.13/Python.h": b"/* headers */\n"}
    write_archive(destination, f"xbuildenv-{target_id}", files, 1764028800)
    return destination


def publish_with_environment(store: Path, dist: Path, keys: Keys, environment: Path, version: str = "v1"):
    request = PublishRequest(target_id=BROWSER_TARGET, dist=dist, version=version, key=keys.signing, schema=SCHEMA,
                             now=NOW, state=publisher_state(keys), xbuildenv=environment)
    return publish(open_writable_store(str(store)), request)


def listed(store: Path) -> list[dict]:
    return json.loads((store / ENVIRONMENTS).read_text())["environments"]


def test_the_environment_travels_in_the_release_and_a_pull_brings_it_verified(tmp_path, keys):
    dist = make_dist(tmp_path / "dist")
    environment = environment_for(dist, tmp_path / ENVIRONMENT)
    result = publish_with_environment(tmp_path / "store", dist, keys, environment)
    assert result.release.file(ENVIRONMENT).sha256 == sha256_file(environment)
    pull_release(str(tmp_path / "store"), tmp_path / "out", keys.verifying, tmp_path / "seen.json")
    assert (tmp_path / "out" / ENVIRONMENT).read_bytes() == environment.read_bytes()


def test_the_store_lists_every_release_that_carries_an_environment_and_its_url_resolves(tmp_path, keys):
    store = tmp_path / "store"
    dist = make_dist(tmp_path / "dist")
    publish_dist(str(store), dist, keys, version="v1")
    assert listed(store) == []
    environment = environment_for(dist, tmp_path / ENVIRONMENT)
    publish_with_environment(store, dist, keys, environment, version="v2")
    publish_with_environment(store, dist, keys, environment, version="v3")
    entries = listed(store)
    assert [(e["version"], e["target"]) for e in entries] == [("v2", BROWSER_TARGET), ("v3", BROWSER_TARGET)]
    entry = entries[0]
    assert (entry["python_version"], entry["emscripten_version"], entry["sdk"]) == ("3.13.5", "3.1.69", "emscripten")
    assert entry["published_at"] == "2026-11-25T12:00:00Z"
    served = Path(urllib.parse.urljoin(f"{store.as_uri()}/{ENVIRONMENTS}", entry["url"]).removeprefix("file://"))
    assert sha256_file(served) == entry["sha256"] == sha256_file(environment)
    assert (store / ENVIRONMENTS).is_symlink(), "swapped with the index it is derived from"


def test_an_environment_of_another_build_is_refused_before_anything_is_written(tmp_path, keys):
    dist = make_dist(tmp_path / "dist")
    other = environment_for(make_dist(tmp_path / "other", seed=2), tmp_path / ENVIRONMENT)
    with pytest.raises(PublishError, match=rf"{ENVIRONMENT}: describes another build .*invoke xbuildenv --target {BROWSER_TARGET}"):
        publish_with_environment(tmp_path / "store", dist, keys, other)
    assert not (tmp_path / "store").exists()


def test_a_file_that_is_not_an_environment_is_refused_with_one_line(tmp_path, keys):
    dist = make_dist(tmp_path / "dist")
    (tmp_path / ENVIRONMENT).write_bytes(b"not a tarball")
    with pytest.raises(PublishError, match=rf"{ENVIRONMENT}: not a readable cross-build environment"):
        publish_with_environment(tmp_path / "store", dist, keys, tmp_path / ENVIRONMENT)
    assert not (tmp_path / "store").exists()


@pytest.mark.docker
def test_the_browser_builds_real_environment_is_published_and_listed_through_the_cli(tmp_path, keys, invoke_cli):
    built_dist(BROWSER_TARGET)
    env = {**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")}
    store = tmp_path / "store"
    done = invoke_cli(["publish", "--target", "emscripten-browser", "--store", str(store), "--version", "v1",
                       "--key", str(keys.private), "--xbuildenv"], cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    [entry] = listed(store)
    environment = ROOT / "dist" / "xbuildenv" / ENVIRONMENT
    assert entry["sha256"] == sha256_file(environment)
    assert entry["manifest_sha256"] == sha256_file(ROOT / "dist" / BROWSER_TARGET / "manifest.json")
