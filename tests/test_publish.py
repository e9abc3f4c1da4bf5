"""Publish signed releases to a directory, a static HTTP mirror and a real OCI registry; pull them
back verified; and refuse every hostile store: tampered, unsigned, incomplete, stale or unsafe."""

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from wasmforge.core.errors import (
    IntegrityError, PublishError, PullError, ReleaseIndexError, ReleaseNotFoundError, SignatureError,
    StaleIndexError, StoreError,
)
from wasmforge.model.manifest import CHECKSUMS, MANIFEST
from wasmforge.releasing.release_index import CHECKSUMS_SIGNATURE, INDEX, INDEX_SIGNATURE, PROVENANCE
from wasmforge.releasing.stores.oci import MANIFEST_TYPE, RELEASE_ARTIFACT

from .conftest import BROWSER_TARGET, ROOT
from .publish_support import (  # noqa: F401 (oci_registry and static_mirror are fixtures)
    LOCK_DIGEST, NOW, SCHEMA, SOURCE_SHA256, Keys, assert_nothing_written, make_dist, make_keys, oci_registry,
    oci_url, publish_dist, pull_release, resign_index, static_mirror,
)

RELEASE_EXTRAS = {CHECKSUMS_SIGNATURE, PROVENANCE}


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "dist")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_same_files(dist: Path, dest: Path) -> None:
    """Every file of the dist folder arrives byte for byte, plus the signature and provenance."""
    built, pulled = files_under(dist), files_under(dest)
    assert {name: pulled.get(name) for name in built} == built
    assert set(pulled) == set(built) | RELEASE_EXTRAS


# Round trips --------------------------------------------------------------------------------


def test_round_trip_through_a_directory_store(tmp_path, dist, keys):
    store = tmp_path / "store"
    result = publish_dist(str(store), dist, keys, version="nightly-2026-11-25")
    pulled = pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert pulled.release == result.release
    assert pulled.release.version == "nightly-2026-11-25"
    assert_same_files(dist, tmp_path / "out")


def test_a_node_layout_with_the_stdlib_in_subdirectories_round_trips(tmp_path, keys):
    node_target = "cpython3.13-emscripten3.1.69-node"
    dist = make_dist(tmp_path / "dist", target_id=node_target, nested=True)
    store = tmp_path / "store"
    release = publish_dist(str(store), dist, keys, target_id=node_target).release
    assert {"lib/python313.zip", "lib/python3.13/os.py", "lib/python3.13/lib-dynload/.empty"} <= {f.name for f in release.files}
    pull_release(str(store), tmp_path / "out", keys.verifying, tmp_path / "state.json", target_id=node_target)
    assert_same_files(dist, tmp_path / "out")


def test_layout_blobs_by_sha256_signed_index_and_readable_release_folder(tmp_path, dist, keys):
    store = tmp_path / "store"
    release = publish_dist(f"file://{store}", dist, keys, version="v1.0.0").release
    for item in release.files:
        blob = store / "blobs" / "sha256" / item.sha256
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == item.sha256
        assert blob.stat().st_size == item.size
    readable = store / "releases" / "v1.0.0" / BROWSER_TARGET
    assert sorted(p.name for p in readable.iterdir()) == sorted([CHECKSUMS, CHECKSUMS_SIGNATURE, PROVENANCE])
    assert (readable / CHECKSUMS).read_bytes() == (dist / CHECKSUMS).read_bytes()
    index = json.loads((store / INDEX).read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(index)
    [entry] = index["releases"]
    assert entry["target"] == BROWSER_TARGET and entry["python"] == "3.13.5" and entry["sdk_version"] == "3.1.69"
    assert entry["flags"] == ["dynamic-linking"] and entry["source_date_epoch"] == 1764028800
    assert entry["manifest_sha256"] == hashlib.sha256((dist / MANIFEST).read_bytes()).hexdigest()
    assert entry["published"] == "2026-11-25T12:00:00Z"
    assert index["index_version"] == 1 and index["expires"] == "2026-12-25T12:00:00Z"
    assert index["key_id"] == keys.verifying.key_id


def test_round_trip_through_a_static_http_mirror(tmp_path, dist, keys, static_mirror):
    store = tmp_path / "store"
    publish_dist(str(store), dist, keys)
    base = static_mirror(store)
    pull_release(base, tmp_path / "out", keys.verifying, tmp_path / "state.json", version="v1")
    assert_same_files(dist, tmp_path / "out")


def test_http_mirrors_are_read_only(tmp_path, dist, keys, static_mirror):
    base = static_mirror(tmp_path)
    with pytest.raises(PublishError, match="read-only"):
        publish_dist(base, dist, keys)


def test_round_trip_through_a_real_oci_registry(tmp_path, keys, oci_registry):
    url = oci_url(oci_registry)
    first = make_dist(tmp_path / "first", seed=1)
    second = make_dist(tmp_path / "second", seed=2)
    publish_dist(url, first, keys, version="nightly-2026-11-24", now=NOW - timedelta(days=1))
    published = publish_dist(url, second, keys, version="nightly-2026-11-25")
    state = tmp_path / "state.json"
    latest = pull_release(url, tmp_path / "latest", keys.verifying, state)
    assert latest.release.version == "nightly-2026-11-25" and latest.index_version == 2
    assert_same_files(second, tmp_path / "latest")
    older = pull_release(url, tmp_path / "older", keys.verifying, state, version="nightly-2026-11-24")
    assert_same_files(first, tmp_path / "older")
    assert older.release.version == "nightly-2026-11-24"
    # The release is a real OCI artifact, found by tag and annotated for registry UIs and tools.
    repository = url.removeprefix(f"oci://{oci_registry}/")
    request = urllib.request.Request(
        f"http://{oci_registry}/v2/{repository}/manifests/{BROWSER_TARGET}_nightly-2026-11-25",
        headers={"Accept": MANIFEST_TYPE},
    )
    with urllib.request.urlopen(request) as response:
        manifest = json.load(response)
    assert manifest["artifactType"] == RELEASE_ARTIFACT
    annotations = manifest["annotations"]
    assert annotations["org.wasmforge.target"] == BROWSER_TARGET
    assert annotations["org.wasmforge.python.version"] == "3.13.5"
    assert annotations["org.wasmforge.sdk.version"] == "3.1.69"
    titles = {layer["annotations"]["org.opencontainers.image.title"]: layer["digest"] for layer in manifest["layers"]}
    assert titles == {f.name: f"sha256:{f.sha256}" for f in published.release.files}


def test_oci_pull_with_another_key_is_refused(tmp_path, dist, keys, oci_registry):
    url = oci_url(oci_registry)
    publish_dist(url, dist, keys)
    stranger = make_keys(tmp_path / "stranger")
    with pytest.raises(SignatureError):
        pull_release(url, tmp_path / "out", stranger.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_oci_blob_missing_from_the_registry_is_a_clear_error(tmp_path, dist, keys, oci_registry):
    url = oci_url(oci_registry)
    release = publish_dist(url, dist, keys).release
    wasm = release.file("python.wasm")
    repository = url.removeprefix(f"oci://{oci_registry}/")
    delete = urllib.request.Request(f"http://{oci_registry}/v2/{repository}/blobs/sha256:{wasm.sha256}", method="DELETE")
    urllib.request.urlopen(delete).close()
    with pytest.raises(StoreError, match=f"sha256:{wasm.sha256} is missing"):
        pull_release(url, tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


# Signatures that standard tools check --------------------------------------------------------


def test_openssl_verifies_the_index_and_the_checksums(tmp_path, dist, keys):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    store = tmp_path / "store"
    publish_dist(str(store), dist, keys)
    shutil.copy(keys.public, store / "key.pub.pem")
    command = "openssl pkeyutl -verify -pubin -inkey key.pub.pem -rawin -in index.json -sigfile index.json.sig"
    verified = subprocess.run(command.split(), cwd=store, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert "Signature Verified Successfully" in verified.stdout
    readable = store / "releases" / "v1" / BROWSER_TARGET
    checksums = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keys.public), "-rawin",
         "-in", CHECKSUMS, "-sigfile", CHECKSUMS_SIGNATURE],
        cwd=readable, capture_output=True, text=True,
    )
    assert checksums.returncode == 0, checksums.stderr
    # And openssl, like pull, says no once a single byte changes.
    (store / INDEX).write_bytes((store / INDEX).read_bytes().replace(b'"v1"', b'"v2"'))
    tampered = subprocess.run(command.split(), cwd=store, capture_output=True, text=True)
    assert tampered.returncode != 0


def test_key_id_is_the_sha256_of_the_der_public_key_as_openssl_prints_it(keys):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(keys.public), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert keys.verifying.key_id == "sha256:" + hashlib.sha256(der).hexdigest()


def test_private_key_is_only_readable_by_its_owner_and_never_overwritten(tmp_path, keys):
    assert keys.private.stat().st_mode & 0o077 == 0
    with pytest.raises(SignatureError, match="already exists"):
        make_keys(keys.private.parent)


# Provenance ----------------------------------------------------------------------------------


def test_provenance_is_an_in_toto_slsa_statement_over_the_released_files(tmp_path, dist, keys):
    store = tmp_path / "store"
    release = publish_dist(str(store), dist, keys).release
    statement = json.loads((store / "releases" / "v1" / BROWSER_TARGET / PROVENANCE).read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects == {f.name: f.sha256 for f in release.files if f.name not in (CHECKSUMS, *RELEASE_EXTRAS)}
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    digests = {d["name"]: d["digest"]["sha256"] for d in dependencies}
    assert digests["Python-3.13.5.tar.xz"] == SOURCE_SHA256
    assert digests["toolchain-lock:emscripten-3.1.69"] == LOCK_DIGEST
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["target"]["id"] == BROWSER_TARGET


# Hostile stores: a clear error, and nothing in the destination -------------------------------


@pytest.fixture
def published(tmp_path: Path, dist: Path, keys: Keys) -> Path:
    store = tmp_path / "store"
    publish_dist(str(store), dist, keys)
    return store


def blob(store: Path, name: str) -> Path:
    entry = json.loads((store / INDEX).read_text())["releases"][0]
    [item] = [f for f in entry["files"] if f["name"] == name]
    return store / "blobs" / "sha256" / item["sha256"]


def test_a_tampered_blob_is_refused(tmp_path, published, keys):
    target = blob(published, "python.wasm")
    data = bytearray(target.read_bytes())
    data[1000] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"python\.wasm: .* sent sha256 .*tampered or corrupt"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("change", [lambda data: data[:-1], lambda data: data + b"x"], ids=["truncated", "oversized"])
def test_a_blob_of_the_wrong_size_is_refused(tmp_path, published, keys, change):
    target = blob(published, "python.data")
    target.write_bytes(change(target.read_bytes()))
    with pytest.raises(IntegrityError, match=r"python\.data: .* (sent \d+ bytes|more than)"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_an_index_signed_by_another_key_is_refused(tmp_path, published, keys):
    stranger = make_keys(tmp_path / "stranger")
    with pytest.raises(SignatureError, match="does not verify with the pinned key"):
        pull_release(str(published), tmp_path / "out", stranger.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_an_edited_index_fails_its_signature(tmp_path, published, keys):
    index = published / INDEX
    index.write_bytes(index.read_bytes().replace(b'"expires": "2026-12-25', b'"expires": "2099-12-25'))
    with pytest.raises(SignatureError):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_an_unsigned_index_is_refused(tmp_path, published, keys):
    (published / INDEX_SIGNATURE).unlink()
    with pytest.raises(SignatureError, match="unsigned"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_a_forged_checksums_signature_is_refused_even_under_a_valid_index(tmp_path, published, keys):
    """A publisher's index cannot vouch for SHA256SUMS that the key did not sign."""
    fake_signature = b"\0" * 64
    fake_blob = published / "blobs" / "sha256" / hashlib.sha256(fake_signature).hexdigest()
    fake_blob.write_bytes(fake_signature)

    def swap(document):
        for item in document["releases"][0]["files"]:
            if item["name"] == CHECKSUMS_SIGNATURE:
                item["sha256"] = hashlib.sha256(fake_signature).hexdigest()

    resign_index(published, keys, swap)
    with pytest.raises(SignatureError, match="SHA256SUMS"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_a_missing_blob_is_a_clear_error(tmp_path, published, keys):
    missing = blob(published, "python.js")
    missing.unlink()
    with pytest.raises(StoreError, match=f"sha256:{missing.name} is missing"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json")
    assert_nothing_written(tmp_path / "out")


def test_a_store_without_an_index_is_a_clear_error(tmp_path, keys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no index.json"):
        pull_release(str(tmp_path / "empty"), tmp_path / "out", keys.verifying, tmp_path / "state.json")


def test_an_unknown_version_names_the_versions_there_are(tmp_path, published, keys):
    with pytest.raises(ReleaseNotFoundError, match=r"no release 'v9'.*versions: v1"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json", version="v9")
    assert_nothing_written(tmp_path / "out")


def test_a_target_the_store_lacks_names_the_targets_it_has(tmp_path, published, keys):
    with pytest.raises(ReleaseNotFoundError, match=f"no release for target 'cpython3.13-emscripten3.1.69-node'.*{BROWSER_TARGET}"):
        pull_release(str(published), tmp_path / "out", keys.verifying, tmp_path / "state.json",
                     target_id="cpython3.13-emscripten3.1.69-node")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "sub/../../escaped", "sub/./x", "sub//x", "sub/",
                                  "..", ".hidden", "a\\b"])
def test_path_like_file_names_in_a_validly_signed_index_are_refused(tmp_path, published, keys, name):
    def rename(document):
        document["releases"][0]["files"][0]["name"] = name

    resign_index(published, keys, rename)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(ReleaseIndexError, match="file_name|unsafe|does not match"):
        pull_release(str(published), dest, keys.verifying, tmp_path / "state.json")
    assert_nothing_written(dest)
    assert not (tmp_path / "deep" / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_a_non_empty_destination_is_kept_unless_forced(tmp_path, published, dist, keys):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(PullError, match="--force"):
        pull_release(str(published), dest, keys.verifying, tmp_path / "state.json")
    assert (dest / "mine.txt").read_text() == "keep me"
    pull_release(str(published), dest, keys.verifying, tmp_path / "state.json", force=True)
    assert_same_files(dist, dest)


# Freshness: expiry and rollback ---------------------------------------------------------------


def test_an_expired_index_is_refused(tmp_path, dist, keys):
    store = tmp_path / "store"
    publish_dist(str(store), dist, keys, expires_in=timedelta(days=1))
    pull_release(str(store), tmp_path / "fresh", keys.verifying, tmp_path / "state.json", now=NOW + timedelta(hours=23))
    with pytest.raises(StaleIndexError, match="expired at 2026-11-26T12:00:00Z"):
        pull_release(str(store), tmp_path / "late", keys.verifying, tmp_path / "state.json", now=NOW + timedelta(days=2))
    assert_nothing_written(tmp_path / "late")


def test_a_rolled_back_index_is_refused_even_from_a_mirror(tmp_path, keys, static_mirror):
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    snapshot = tmp_path / "snapshot"
    shutil.copytree(store, snapshot)  # what a stale mirror keeps serving
    publish_dist(str(store), make_dist(tmp_path / "b", seed=2), keys, version="v2", now=NOW + timedelta(hours=1))
    state = tmp_path / "state.json"
    assert pull_release(str(store), tmp_path / "new", keys.verifying, state).index_version == 2
    for stale in (str(snapshot), static_mirror(snapshot)):
        with pytest.raises(StaleIndexError, match="index version 1 is older than version 2"):
            pull_release(stale, tmp_path / "old", keys.verifying, state, version="v1")
        assert_nothing_written(tmp_path / "old")
    # Seeing the same version again is fine.
    pull_release(str(store), tmp_path / "again", keys.verifying, state, version="v1")


def test_an_unreadable_state_file_does_not_silently_disable_rollback_protection(tmp_path, published, keys):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(StaleIndexError, match="delete it to reset"):
        pull_release(str(published), tmp_path / "out", keys.verifying, state)


# Publishing refuses what it cannot vouch for --------------------------------------------------


def test_publishing_the_same_release_again_only_refreshes_the_index(tmp_path, dist, keys):
    store = tmp_path / "store"
    first = publish_dist(str(store), dist, keys)
    again = publish_dist(str(store), dist, keys, now=NOW + timedelta(days=10))
    assert again.already_published and again.release == first.release
    assert again.index.index_version == 2 and len(again.index.releases) == 1
    assert again.index.expires == NOW + timedelta(days=40)


def test_a_version_is_immutable_once_published(tmp_path, keys):
    store = tmp_path / "store"
    publish_dist(str(store), make_dist(tmp_path / "a", seed=1), keys, version="v1")
    with pytest.raises(PublishError, match="immutable"):
        publish_dist(str(store), make_dist(tmp_path / "b", seed=2), keys, version="v1")


def test_a_dist_changed_after_its_build_is_not_published(tmp_path, dist, keys):
    (dist / "python.wasm").write_bytes(b"\0asm patched")
    with pytest.raises(PublishError, match="python.wasm.*changed after the build"):
        publish_dist(str(tmp_path / "store"), dist, keys)
    assert not (tmp_path / "store").exists()


def test_a_dist_of_another_target_is_not_published(tmp_path, dist, keys):
    with pytest.raises(PublishError, match="manifest.json is for target"):
        publish_dist(str(tmp_path / "store"), dist, keys, target_id="cpython3.13-emscripten3.1.69-node")


@pytest.mark.parametrize("version", ["../up", "latest", "", "with space", "x" * 65])
def test_versions_that_are_not_path_and_tag_safe_are_refused(tmp_path, dist, keys, version):
    with pytest.raises(PublishError):
        publish_dist(str(tmp_path / "store"), dist, keys, version=version)


def test_publish_will_not_sign_over_a_store_signed_by_another_key(tmp_path, published, dist, keys):
    stranger = make_keys(tmp_path / "stranger")
    with pytest.raises(SignatureError, match="existing index.json"):
        publish_dist(str(published), make_dist(tmp_path / "other", seed=3), stranger, version="v2")


# The command line: one-line errors and distinct exit codes ------------------------------------


def test_cli_keygen_publish_pull_and_hostile_exit_codes(tmp_path, dist, invoke_cli):
    env = {**os.environ, "WASMFORGE_CACHE": str(tmp_path / "cache")}
    env.pop("WASMFORGE_SIGNING_KEY", None)
    env.pop("WASMFORGE_PUBKEY", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return invoke_cli(list(args), cwd=ROOT, env=env)

    made = cli("keygen", "--out", str(tmp_path / "keys"))
    assert made.returncode == 0, made.stderr
    key, pub = tmp_path / "keys" / "release.key.pem", tmp_path / "keys" / "release.pub.pem"
    store = tmp_path / "store"
    done = cli("publish", "--target", "emscripten-browser", "--store", str(store), "--version", "v1",
               "--dist", str(dist), "--key", str(key))
    assert done.returncode == 0, done.stderr
    pulled = cli("pull", "--target", "emscripten-browser", "--store", f"file://{store}", "--dest", str(tmp_path / "out"),
                 "--pubkey", str(pub))
    assert pulled.returncode == 0, pulled.stderr
    assert "python.data" in pulled.stderr and "sha256 ok" in pulled.stderr
    assert_same_files(dist, tmp_path / "out")

    unknown = cli("pull", "--target", "no-such-target", "--store", str(store), "--dest", str(tmp_path / "x"), "--pubkey", str(pub))
    assert unknown.returncode == 3
    assert unknown.stderr.strip().splitlines()[-1].startswith("error: unknown target 'no-such-target'")

    wasm = next(p for p in (store / "blobs" / "sha256").iterdir()
                if p.read_bytes() == (dist / "python.wasm").read_bytes())
    wasm.write_bytes(wasm.read_bytes()[:-1] + b"!")
    tampered = cli("pull", "--store", str(store), "--dest", str(tmp_path / "y"), "--pubkey", str(pub))
    assert tampered.returncode == IntegrityError.exit_code
    [error] = [line for line in tampered.stderr.splitlines() if line.startswith("error:")]
    assert "python.wasm" in error and "tampered" in error
    assert_nothing_written(tmp_path / "y")

    no_key = cli("publish", "--store", str(store), "--dist", str(dist))
    assert no_key.returncode == SignatureError.exit_code and "--key" in no_key.stderr
