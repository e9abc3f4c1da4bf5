"""Wheels published with their artifact: checked as an install checks them, signed through the
index like every other file, pulled verified, and found by pip through a PEP 503 simple index
that works from the store, from a static mirror of it and from the folder a pull verified."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmforge.core.errors import PublishError, WheelError
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.stores import open_writable_store
from wasmforge.model.wheel_tags import ArtifactTags
from wasmforge.releasing.wheel_release import PublishedWheel, WheelSet, simple_pages

from .conftest import BROWSER_TARGET, ROOT
from .publish_support import (  # noqa: F401 (oci_registry and static_mirror are fixtures)
    NOW, SCHEMA, Keys, make_dist, make_keys, oci_registry, oci_url, publish_dist, publisher_state, pull_release,
    static_mirror,
)
from .wheel_support import OUR_TAG, fake_wheel

BROWSER_TAGS = ArtifactTags(target_id=BROWSER_TARGET, platform="emscripten-3.1.69-wasm32", python="cp313", abi="cp313")
PIP_TARGET = ["--platform", "emscripten_3_1_69_wasm32", "--python-version", "3.13", "--implementation", "cp", "--abi", "cp313"]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


@pytest.fixture
def wheels(tmp_path: Path) -> tuple[Path, ...]:
    folder = tmp_path / "wheels"
    folder.mkdir()
    return (
        fake_wheel(folder / f"demo-1.0-{OUR_TAG}.whl", {"demo/__init__.py": b"VALUE = 1\n"}),
        fake_wheel(folder / f"demo_pkg-2.0-{OUR_TAG}.whl", {"demo_pkg/__init__.py": b"VALUE = 2\n"}, name="demo_pkg", version="2.0"),
    )


def publish_with_wheels(store: str, dist: Path, keys: Keys, wheels: tuple[Path, ...], version: str = "v1"):
    request = PublishRequest(target_id=BROWSER_TARGET, dist=dist, version=version, key=keys.signing, schema=SCHEMA,
                             now=NOW, state=publisher_state(keys), wheels=WheelSet(paths=wheels, tags=BROWSER_TAGS))
    return publish(open_writable_store(store), request)


def pip_download(index_url: str, dest: Path, *projects: str) -> subprocess.CompletedProcess[str]:
    """pip as a user runs it for another platform; --isolated keeps this machine's pip settings out."""
    command = [sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--no-deps",
               "--only-binary=:all:", *PIP_TARGET, "--index-url", index_url, "--dest", str(dest), *projects]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PIP_")})


def test_wheels_become_release_files_and_a_pull_brings_them_verified(tmp_path, keys, wheels):
    dist = make_dist(tmp_path / "dist")
    result = publish_with_wheels(str(tmp_path / "store"), dist, keys, wheels)
    names = {item.name for item in result.release.files}
    assert {f"wheels/{w.name}" for w in wheels} <= names
    assert {"simple/index.html", "simple/demo/index.html", "simple/demo-pkg/index.html"} <= names
    pull_release(str(tmp_path / "store"), tmp_path / "out", keys.verifying, tmp_path / "seen.json")
    for wheel in wheels:
        assert (tmp_path / "out" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()


def test_pip_finds_the_wheels_in_the_store_through_a_static_mirror_and_in_the_pulled_folder(tmp_path, keys, wheels, static_mirror):
    store = tmp_path / "store"
    publish_with_wheels(str(store), make_dist(tmp_path / "dist"), keys, wheels)
    served = pip_download(f"{static_mirror(store)}/releases/v1/{BROWSER_TARGET}/simple/", tmp_path / "got", "demo", "demo.pkg")
    assert served.returncode == 0, served.stderr
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == sorted(w.name for w in wheels)
    assert (tmp_path / "got" / wheels[1].name).read_bytes() == wheels[1].read_bytes()

    pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "seen.json")
    offline = pip_download((tmp_path / "out" / "simple").as_uri() + "/", tmp_path / "offline", "demo")
    assert offline.returncode == 0, offline.stderr
    assert [p.name for p in (tmp_path / "offline").iterdir()] == [wheels[0].name]


def test_pip_refuses_a_wheel_whose_bytes_differ_from_the_index_page(tmp_path, keys, wheels, static_mirror):
    store = tmp_path / "store"
    publish_with_wheels(str(store), make_dist(tmp_path / "dist"), keys, wheels)
    served_copy = store / "releases" / "v1" / BROWSER_TARGET / "wheels" / wheels[0].name
    served_copy.write_bytes(served_copy.read_bytes() + b"\0")
    got = pip_download(f"{static_mirror(store)}/releases/v1/{BROWSER_TARGET}/simple/", tmp_path / "got", "demo")
    assert got.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in got.stderr


def test_the_pages_are_pep_503_with_relative_links_and_a_function_of_the_wheels_alone():
    one = PublishedWheel(file_name=f"demo_pkg-2.0-{OUR_TAG}.whl", project="demo-pkg", sha256="a" * 64)
    two = PublishedWheel(file_name=f"demo-1.0-{OUR_TAG}.whl", project="demo", sha256="b" * 64)
    pages = simple_pages([one, two])
    assert pages == simple_pages([two, one])
    assert sorted(pages) == ["simple/demo-pkg/index.html", "simple/demo/index.html", "simple/index.html"]
    assert b'<a href="demo/">demo</a>' in pages["simple/index.html"]
    assert (f'<a href="../../wheels/demo_pkg-2.0-{OUR_TAG}.whl#sha256={"a" * 64}">demo_pkg-2.0-{OUR_TAG}.whl</a>'.encode()
            in pages["simple/demo-pkg/index.html"])


def test_a_wheel_for_another_platform_is_refused_before_anything_is_written(tmp_path, keys, wheels):
    linux = fake_wheel(tmp_path / "demo-1.0-cp313-cp313-linux_x86_64.whl", {"demo/__init__.py": b""}, tag="cp313-cp313-linux_x86_64")
    with pytest.raises(WheelError, match=r"demo-1.0-cp313-cp313-linux_x86_64.whl.*linux_x86_64"):
        publish_with_wheels(str(tmp_path / "store"), make_dist(tmp_path / "dist"), keys, (*wheels, linux))
    assert not (tmp_path / "store").exists()


def test_a_wheel_that_does_not_match_its_record_is_refused(tmp_path, keys, wheels):
    broken = tmp_path / wheels[0].name
    broken.write_bytes(wheels[0].read_bytes().replace(b"VALUE = 1", b"VALUE = 9"))
    with pytest.raises(WheelError, match=rf"{broken.name}: (demo/__init__.py does not match its RECORD line|not a readable wheel)"):
        publish_with_wheels(str(tmp_path / "store"), make_dist(tmp_path / "dist"), keys, (broken,))
    assert not (tmp_path / "store").exists()


def test_wheels_cannot_be_added_to_a_version_already_published(tmp_path, keys, wheels):
    dist = make_dist(tmp_path / "dist")
    publish_dist(str(tmp_path / "store"), dist, keys, version="v1")
    with pytest.raises(PublishError, match="releases are immutable"):
        publish_with_wheels(str(tmp_path / "store"), dist, keys, wheels, version="v1")
    publish_with_wheels(str(tmp_path / "store"), dist, keys, wheels, version="v1.1")


def test_wheels_round_trip_through_an_oci_registry(tmp_path, keys, wheels, oci_registry):
    store = oci_url(oci_registry)
    publish_with_wheels(store, make_dist(tmp_path / "dist"), keys, wheels)
    pull_release(store, tmp_path / "out", keys.verifying, tmp_path / "seen.json")
    assert (tmp_path / "out" / "wheels" / wheels[1].name).read_bytes() == wheels[1].read_bytes()
    assert (tmp_path / "out" / "simple" / "demo-pkg" / "index.html").is_file()


def test_cli_publishes_the_targets_wheel_folder_and_says_how_pip_finds_it(tmp_path, project_copy, keys, wheels, invoke_cli):
    env = {**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")}
    make_dist(project_copy / "dist")
    args = ["publish", "--target", "emscripten-browser", "--store", str(tmp_path / "store"), "--version", "v1",
            "--key", str(keys.private), "--wheels"]
    none = invoke_cli(args, cwd=project_copy, env=env)
    assert none.returncode == PublishError.exit_code
    assert none.stderr.strip().splitlines()[-1].startswith(f"error: {project_copy / 'dist' / 'wheels' / BROWSER_TARGET}: no wheels to publish")
    folder = project_copy / "dist" / "wheels" / BROWSER_TARGET
    folder.mkdir(parents=True)
    for wheel in wheels:
        (folder / wheel.name).write_bytes(wheel.read_bytes())
    done = invoke_cli(args, cwd=project_copy, env=env)
    assert done.returncode == 0, done.stderr
    assert f"--index-url {(tmp_path / 'store' / 'releases' / 'v1' / BROWSER_TARGET).as_uri()}/simple/" in done.stdout


def test_wasi_artifacts_have_no_wheels_to_publish(tmp_path, keys, invoke_cli):
    done = invoke_cli(["publish", "--target", "wasi", "--store", str(tmp_path / "store"), "--key", str(keys.private), "--wheels"],
                      cwd=ROOT, env={**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == WheelError.exit_code
    assert "wheels with extension modules are built for emscripten targets only" in done.stderr.strip().splitlines()[-1]
