"""invoke tasks for wasmforge. Thin: arguments in, wasmforge.commands does the work.

Run `invoke --list` for the tasks and `invoke --help TASK` for each one's options.
"""

import os
import sys
from pathlib import Path
from typing import Callable

from invoke import Exit, task

from wasmforge import commands
from wasmforge.core.errors import WasmforgeError


def _run(action: Callable[[], int]) -> None:
    """The one place errors become a one-line message and an exit code."""
    try:
        code = action()
    except WasmforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    except BrokenPipeError:
        # The reader went away (`invoke matrix | head`): what it wanted was printed. Point stdout
        # at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Exit(code=141) from None
    if code:
        raise Exit(code=code)


@task(help={
    "check": "Do not write: exit 1 naming the generated files that are stale.",
    "nix-fixed-output": "Also render nix <target-id>-checked from dist/<target-id>/manifest.json where present.",
})
def render(c, check=False, nix_fixed_output=False):
    """Render docker/<target-id>/Dockerfile and nix/ for every matrix entry from matrix.json and recipes/."""
    _run(lambda: commands.cmd_render(commands.workspace(), check, nix_fixed_output))


@task(iterable=["target"], help={"target": "Target id, alias or glob (repeatable); default emscripten-browser."})
def fetch(c, target=None):
    """Download every source of the target(s) into the content-addressed cache, verified by sha256."""
    names = target or ["emscripten-browser"]
    _run(lambda: commands.cmd_fetch(*_resolved(names)))


@task(iterable=["target"], help={
    "target": "Target id, alias or glob (repeatable); default emscripten-browser.",
    "push": "A registry (host[:port][/path]) to push the image(s) to; prints TOOLCHAIN_REGISTRY=… and "
            "TOOLCHAIN_DIGEST_<TOOLCHAIN>=sha256:… for `env … invoke build` or `docker buildx bake`.",
})
def toolchain(c, target=None, push=None):
    """Build and import the target's toolchain image from its lock if it is missing; print its tag (or push it)."""
    names = target or ["emscripten-browser"]
    _run(lambda: commands.cmd_toolchain(*_resolved(names), push))


@task(name="lock-toolchain", help={"name": "Toolchain spec name under recipes/toolchains/ (e.g. emscripten-3.1.69)."})
def lock_toolchain(c, name="emscripten-3.1.69"):
    """Resolve a toolchain spec against Debian's archive today and rewrite its lock (changes artifact hashes)."""
    _run(lambda: commands.cmd_lock_toolchain(commands.workspace(), name))


@task(
    iterable=["target"],
    help={
        "target": "Target id, alias or glob such as 'cpython3.13-*' (repeatable); default emscripten-browser. "
                  "`invoke matrix` lists them. Several targets build in one `docker buildx bake` run "
                  "(shared library stages once), with a result table at the end.",
        "jobs": "Parallel make jobs inside the build (default: number of CPUs).",
        "no-cache": "Rebuild every Docker layer instead of reusing cached ones.",
        "builder": "A buildx builder (`docker buildx ls`) to build on; default the current one, the engine's own. "
                   "A remote one needs TOOLCHAIN_REGISTRY (docs/scale.md).",
        "check-reproducible": "After building, rebuild without cache under varied conditions and fail if any output differs.",
    },
)
def build(c, target=None, jobs=None, no_cache=False, builder=None, check_reproducible=False):
    """Fetch, make the toolchain image if missing, build through BuildKit with the network off, write dist/<target-id>/."""
    names = target or ["emscripten-browser"]
    if check_reproducible:
        _run(lambda: commands.cmd_check_reproducible(*_resolved(names), int(jobs) if jobs else None))
    else:
        _run(lambda: commands.cmd_build(*_resolved(names), int(jobs) if jobs else None, no_cache, builder))


@task(help={"target": "An emscripten target with dynamic linking (side modules), or a WASI target (embedding); default emscripten-node."})
def xbuildenv(c, target="emscripten-node"):
    """Write dist/xbuildenv/xbuildenv-<target-id>.tar.gz: headers, _sysconfigdata, Makefile, and side-module flags (emscripten) or libpython and its static libraries with the embedding flags (WASI)."""
    _run(lambda: commands.cmd_xbuildenv(*_resolved_one(target)))


@task(
    help={
        "target": "An emscripten target id or alias with dynamic linking; default emscripten-node.",
        "check-reproducible": "Build twice (another path in the container, another scratch dir, later, umask 077) and fail unless identical.",
    },
)
def wheel(c, spec, target="emscripten-node", check_reproducible=False):
    """Build SPEC (name==version pinned in wheels.lock.json, or a path to an sdist) into dist/wheels/<target-id>/, network off."""
    _run(lambda: commands.cmd_wheel(*_resolved_one(target), spec, check_reproducible))


@task(
    name="lock-wheel",
    iterable=["requires"],
    help={"requires": "A build requirement as name==version (repeatable); default: the lock's default_build_requires."},
)
def lock_wheel(c, spec, requires=None):
    """Pin an sdist (name==version) and its build requirements in wheels.lock.json by sha256, as the index serves them today."""
    _run(lambda: commands.cmd_lock_wheel(commands.workspace(), spec, list(requires or [])))


@task(
    name="install-wheel",
    iterable=["wheel"],
    help={
        "target": "A node target id or alias; default emscripten-node.",
        "wheel": "A wheel file (repeatable).",
        "dest": "A directory: a new one becomes a copy of dist/<target-id>/; the wheels go into its lib/python3.X/site-packages.",
    },
)
def install_wheel(c, dest, wheel=None, target="emscripten-node"):
    """Install wheels into a copy of a node artifact; refuses a wheel for another platform or Python."""
    _run(lambda: commands.cmd_install_wheel(*_resolved_one(target), [Path(w) for w in wheel or []], Path(dest)))


@task(
    help={
        "manifest": "Path to a manifest.json (e.g. dist/<target-id>/manifest.json).",
        "version": "Instead of --manifest: a published version (e.g. nightly-2026-11-25) to pull from --store.",
        "target": "With --version: the target id or alias. Alone: build that target from scratch (varied conditions) into dist/ and compare its manifest with the one recorded in build-sizes.json.",
        "store": "With --version: the store URL (default ./store).",
        "pubkey": "With --version: the pinned public key (default keys/release.pub.pem or $WASMFORGE_PUBKEY).",
        "source-date-epoch": "Override the manifest's SOURCE_DATE_EPOCH (to see a deliberate difference).",
        "workdir": "Where to rebuild (default build/<target-id>/reproduce-<time>/).",
        "jobs": "Parallel make jobs in the rebuild (default: twice the CPUs, unlike the build's default).",
    }
)
def reproduce(c, manifest=None, version=None, target=None, store=None, pubkey=None, source_date_epoch=None, workdir=None,
              jobs=None):
    """Rebuild a manifest's target from scratch (no cache, varied conditions); compare every output's sha256.

    Give a local --manifest, or --version/--target/--store to pull a published release (signature and
    hashes verified) and rebuild that, or --target alone to rebuild into dist/ and compare with the
    build recorded in build-sizes.json (usually made on another machine). Prints a table (file,
    expected, got, ok/DIFFERS); on a difference writes diffoscope text and HTML reports next to the rebuild. Exits 0 only if all match.
    """
    from pathlib import Path

    where = Path(workdir) if workdir else None
    if version:
        if not target:
            raise Exit("error: --version needs --target", code=2)
        ws, [resolved] = _resolved([target])
        _run(lambda: commands.cmd_reproduce_published(ws, resolved, version, store, pubkey, where))
        return
    if target and not manifest:
        ws, [resolved] = _resolved([target])
        _run(lambda: commands.cmd_reproduce_recorded(ws, resolved, int(jobs) if jobs else None))
        return
    if not manifest:
        raise Exit("error: give --manifest PATH, --target T (the build recorded in build-sizes.json), or --version V --target T [--store URL]", code=2)
    sde = int(source_date_epoch) if source_date_epoch is not None else None
    _run(lambda: commands.cmd_reproduce(commands.workspace(), Path(manifest), sde, where, int(jobs) if jobs else None))


@task(
    iterable=["target"],
    help={
        "date": "The night, YYYY-MM-DD (default: today, UTC); SOURCE_DATE_EPOCH is its midnight UTC.",
        "target": "Target id or alias (repeatable); default: every entry marked supported.",
        "store": "Store URL to publish to (default ./store).",
        "key": "Private signing key (default $WASMFORGE_SIGNING_KEY).",
        "jobs": "Parallel make jobs inside the build.",
    }
)
def nightly(c, date=None, target=None, store=None, key=None, jobs=None):
    """Build the nightly target set with that night's SOURCE_DATE_EPOCH, smoke-test, publish as nightly-YYYY-MM-DD."""
    _run(lambda: commands.cmd_nightly(commands.workspace(), target or [], date, store, key, int(jobs) if jobs else None))


def _resolved(names: list[str]):
    ws = commands.workspace()
    return ws, commands.resolve_targets(ws, names)


@task(
    name="matrix",
    help={
        "json": "Machine-readable output.",
        "markdown": "A Markdown table, with this machine's last builds.",
        "update-readme": "Record the sizes of targets built here from today's recipes in build-sizes.json, then write the matrix table (matrix.json + build-sizes.json) between the markers in README.md.",
        "check-readme": "Do not write: exit 1 if README.md's matrix table is stale.",
    },
)
def matrix_(c, json=False, markdown=False, update_readme=False, check_readme=False):
    """List every matrix entry: target id, aliases, support level, last build result and artifact size."""
    _run(lambda: commands.cmd_matrix(commands.workspace(), json, markdown, update_readme, check_readme))


@task(help={"out": "Directory for release.key.pem (private, mode 0600) and release.pub.pem."})
def keygen(c, out):
    """Make an Ed25519 key pair for signing releases (offline; never overwrites a key)."""
    _run(lambda: commands.cmd_keygen(Path(out)))


@task(
    auto_shortflags=False,  # more options than free letters: long names only

    help={
        "target": "Target id or alias; default emscripten-browser.",
        "store": "Directory (path or file://) or oci://HOST:PORT/REPO; default ./store.",
        "version": "Release version, e.g. v1.2.0; default nightly-<today, UTC>.",
        "dist": "Directory holding the build's files and manifest.json; default dist/<target-id>.",
        "key": "Ed25519 private key PEM; default $WASMFORGE_SIGNING_KEY.",
        "expires-days": "Days until the re-signed index expires (pull refuses it after); 1 to 365, default 30.",
        "recover-from": "Index version of a store restored from a backup: extend it although this machine "
                        "signed a newer one (0 for a store whose index is gone).",
        "serve-url": "A URL the store is served from (repeatable); the signed index lists them and pull refuses "
                     "the store anywhere else. Replaces the index's list; omitted, the list is kept.",
        "wheels": "Also publish every wheel in dist/wheels/<target-id>/ (from `invoke wheel`) in the release, "
                  "checked like an install, with a PEP 503 simple index over them.",
        "xbuildenv": "Also publish the target's cross-build environment (made from its build image when missing); "
                     "a directory store lists it in cross-build-environments.json.",
    },
    iterable=["serve_url"],
)
def publish(c, target="emscripten-browser", store=None, version=None, dist=None, key=None, expires_days=30,
            recover_from=None, serve_url=None, wheels=False, xbuildenv=False):
    """Publish dist/<target-id>/ as a signed release: blobs by sha256, SHA256SUMS, provenance, index."""
    recover = int(recover_from) if recover_from is not None else None
    urls = tuple(serve_url or ())
    _run(lambda: commands.cmd_publish(*_resolved_one(target), store, version, dist, key, int(expires_days), recover,
                                      urls, wheels, xbuildenv))


@task(
    help={
        "target": "Target id or alias; default emscripten-browser.",
        "version": "Release version, or latest (the default).",
        "store": "Directory, http(s):// mirror of one, or oci://HOST:PORT/REPO; default ./store.",
        "dest": "Where the verified files go; default pulled/<target-id>.",
        "pubkey": "Pinned Ed25519 public key PEM; default $WASMFORGE_PUBKEY, else keys/release.pub.pem.",
        "force": "Replace a non-empty destination.",
        "accept-new-store": "Trust the store now found at --store although another store was found there before "
                            "(not a store whose signed index lists other URLs).",
        "min-rate": "Bytes a second a download must average (plus a minute's grace); default 65536.",
    },
)
def pull(c, target="emscripten-browser", version="latest", store=None, dest=None, pubkey=None, force=False,
         accept_new_store=False, min_rate=None):
    """Download a release, verify signature, freshness and every file, then move it into place."""
    rate = int(min_rate) if min_rate is not None else None
    _run(lambda: commands.cmd_pull(*_resolved_one(target), version, store, dest, pubkey, force, accept_new_store, rate))


def _resolved_one(name: str):
    ws = commands.workspace()
    return ws, ws.matrix.resolve(name)


@task(
    name="test",
    help={
        "target": "Target id or alias; default emscripten-browser.",
        "tests": "Comma-separated regrtest names (test_zlib,test_json); default: the target's CI subset.",
        "all": "Run the whole suite (minus the target's skip list); takes long.",
        "junit": "Write a JUnit XML report here.",
    },
)
def test_(c, target="emscripten-browser", tests=None, all=False, junit=None):
    """Run CPython's own regression tests (python -m test) inside the artifact, on its runtime."""
    names = [name.strip() for name in tests.split(",") if name.strip()] if tests else None
    _run(lambda: commands.cmd_test(*_resolved_one(target), names, all, Path(junit) if junit else None))


@task(help={"target": "A browser target id or alias; default emscripten-browser.", "port": "Port on 127.0.0.1; default 8000."})
def serve(c, target="emscripten-browser", port=8000):
    """Serve dist/<target-id>/ with a Python REPL page, cross-origin isolated (COOP/COEP)."""
    _run(lambda: commands.cmd_serve(*_resolved_one(target), int(port)))


@task(help={
    "target": "A browser target id or alias; default emscripten-browser.",
    "out": "The folder to write (replaced whole); default site/<target-id>.",
})
def precompress(c, target="emscripten-browser", out=None):
    """Lay the browser artifact out for a static host: each file checked, with .br and .gz beside it."""
    _run(lambda: commands.cmd_precompress(*_resolved_one(target), Path(out) if out else None))


@task(
    help={
        "target": "A browser target id or alias; default emscripten-browser.",
        "json": "Also write the breakdown as JSON here.",
        "markdown": "Write the breakdown as a Markdown document here (docs/size-breakdown.md is one).",
        "image": "The build image whose objects name python.wasm's parts; default wasmforge-build:<target-id>.",
    },
)
def sizes(c, target="emscripten-browser", json=None, markdown=None, image=None):
    """Where the artifact's bytes go: python.wasm by object and library, python.data by package, python.js by part."""
    _run(lambda: commands.cmd_sizes(*_resolved_one(target), Path(json) if json else None, Path(markdown) if markdown else None, image))


@task(
    help={
        "target": "Target id or alias; default emscripten-browser.",
        "reference": "An unpacked Pyodide npm package (or its .tgz) to measure in the same run.",
        "runs": "Cold starts per runtime; medians are reported. Default 5.",
        "json": "Also write the report as JSON here.",
    },
)
def bench(c, target="emscripten-browser", reference=None, runs=5, json=None):
    """Sizes (raw, gzip -9, brotli), cold start in Node and Chromium, peak memory; ratios to a reference."""
    _run(lambda: commands.cmd_bench(*_resolved_one(target), Path(reference) if reference else None, int(runs), Path(json) if json else None))
