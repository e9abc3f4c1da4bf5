"""nix/ is rendered from the same matrix and recipes as docker/: checked with a real Nix, offline.

Nix evaluates in restricted mode against a dummy store, as any user, with no daemon, no nixpkgs
and no network: `--store dummy://` computes store paths without writing any, and restrict-eval
refuses every URL and every path outside the project.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wasmforge import commands
from wasmforge.rendering import nix
from wasmforge.model.manifest import FileRecord, Manifest
from wasmforge.rendering.dockerfile import ARTIFACTS_STAGE, WF_ROOT
from wasmforge.model.workspace import Workspace
from wasmforge.model.plan import plan_for

ROOT = Path(__file__).resolve().parent.parent
STUB = "<wasmforge/tests/nix/stub-nixpkgs.nix>"


# --- a Nix that runs anywhere --------------------------------------------------------------


@dataclass(frozen=True)
class Nix:
    home: Path
    project: Path

    def env(self) -> dict[str, str]:
        # Empty config dir: no /etc/nix/nix.conf (daemon, build users); state and caches in tmp.
        (self.home / "conf").mkdir(parents=True, exist_ok=True)
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "NIX_CONF_DIR": str(self.home / "conf"),
            "NIX_STATE_DIR": str(self.home / "state"),
            "XDG_CACHE_HOME": str(self.home / "cache"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["nix-instantiate", "--store", "dummy://", "--option", "restrict-eval", "true",
                "-I", f"wasmforge={self.project}", *args]
        return subprocess.run(argv, env=self.env(), capture_output=True, text=True)

    def parse(self, path: Path) -> None:
        result = self.run("--parse", str(path))
        assert result.returncode == 0, f"{path}: {result.stderr}"

    def eval(self, expression: str) -> Any:
        result = self.run("--eval", "--strict", "--json", "-E", expression)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def nix_tool(tmp_path: Path) -> Nix:
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-instantiate is not installed (Debian: apt-get install nix-bin)")
    return Nix(home=tmp_path / "nix-home", project=ROOT)


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.load(root=ROOT)


def copy_project(destination: Path) -> Path:
    """What rendering reads and writes, plus the nixpkgs stand-in, in a scratch checkout."""
    for name in ("matrix.json", "schemas", "recipes", "docker", "nix", "tests/nix", "docker-bake.hcl", ".github"):
        source, target = ROOT / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    return destination


# --- the Dockerfile, read back ---------------------------------------------------------------


@dataclass
class Stage:
    name: str
    env: dict[str, str]
    source_file: str | None
    steps: list[dict[str, Any]]


def docker_stages(dockerfile: str) -> tuple[dict[str, str], list[Stage]]:
    """The base stage's environment and every component stage, as the Dockerfile says them (build
    arguments at their defaults; the stages after the components only pick their outputs)."""
    base_env: dict[str, str] = {}
    stages: list[Stage] = []
    pending_copies: list[str] = []
    arguments: dict[str, str] = {}
    for line in dockerfile.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "FROM" and words[-1] == ARTIFACTS_STAGE:
            break
        if words[0] == "FROM" and stages and words[1] == stages[-1].name:
            # A stage that continues a recipe's shared first step (FROM cpython-build-python AS
            # cpython) is one component whose steps span both stages, as in Nix's one derivation.
            shared = stages.pop()
            stages.append(Stage(name=words[-1], env=shared.env, source_file=shared.source_file, steps=shared.steps))
        elif words[0] == "FROM":
            if words[-1] != "base":
                stages.append(Stage(name=words[-1], env=dict(base_env), source_file=None, steps=[]))
        elif words[0] == "ARG" and "=" in words[1]:
            name, default = words[1].split("=", 1)
            arguments[name] = default
        elif words[0] == "ENV":
            env = {key: arguments.get(value[2:-1], value) if value.startswith("${") else value
                   for key, value in (word.split("=", 1) for word in words[1:])}
            (stages[-1].env if stages else base_env).update(env)
        elif words[0] == "COPY" and words[1].startswith("--from="):
            pending_copies.append(words[1].removeprefix("--from="))
        elif words[0] == "COPY" and words[1].startswith("sources/"):
            stages[-1].source_file = words[1].removeprefix("sources/")
        elif words[0] == "RUN":
            script = words[-1].removeprefix(f"{WF_ROOT}/recipes/{stages[-1].env['WF_NAME']}/")
            stages[-1].steps.append({"script": script, "prefix_inputs": pending_copies})
            pending_copies = []
    return base_env, stages


# --- parsing -----------------------------------------------------------------------------------


def test_every_rendered_nix_file_parses(nix_tool: Nix, ws: Workspace, tmp_path: Path) -> None:
    committed = sorted(ws.paths.nix.rglob("*.nix"))
    assert {p.relative_to(ws.paths.nix).as_posix() for p in committed} >= {"flake.nix", "wasmforge.nix"}
    for path in committed:
        nix_tool.parse(path)
    # and what a render writes right now, whether or not it was committed
    scratch_nix = Nix(home=nix_tool.home, project=tmp_path)
    for file in nix.render_all(ws.paths, ws.matrix, [plan_for(ws, t) for t in ws.matrix.targets]):
        if file.path.suffix == ".nix":
            scratch = tmp_path / file.path.relative_to(ws.paths.nix)
            scratch.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_text(file.text)
            scratch_nix.parse(scratch)


# --- the data the flake reads equals the Dockerfile's -------------------------------------


def test_nix_data_equals_docker_rendering_for_every_target(nix_tool: Nix, ws: Workspace) -> None:
    """Source hashes, WF_* flags, scripts and SOURCE_DATE_EPOCH: Nix's view against the Dockerfile's."""
    assert ws.matrix.targets
    for target in ws.matrix.targets:
        data = nix_tool.eval(
            f"builtins.fromJSON (builtins.readFile <wasmforge/nix/data/{target.id}.json>)"
        )
        base_env, stages = docker_stages((ws.paths.docker / target.id / "Dockerfile").read_text())
        pins = {c.name: c.source for c in ws.book.components_for(target)}

        assert data["id"] == target.id
        assert data["order"] == [stage.name for stage in stages]
        assert data["main"] == stages[-1].name
        assert data["source_date_epoch"] == target.source_date_epoch == int(base_env["SOURCE_DATE_EPOCH"])
        assert data["flags"] == stages[-1].env["WF_FLAGS"].split()
        assert all("WF_FLAGS" not in stage.env for stage in stages[:-1]), "libraries are shared across flavors"
        assert data["toolchain"]["lock_digest"] == ws.toolchain_lock(target).digest
        for stage in stages:
            component = data["components"][stage.name]
            nix_paths = {key: f"{WF_ROOT}/{path}" for key, path in component["paths"].items()}
            assert {**component["env"], **nix_paths} == stage.env, stage.name
            assert component["env"]["SOURCE_DATE_EPOCH"] == str(target.source_date_epoch)
            assert [{"script": s["script"], "prefix_inputs": s["prefix_inputs"]} for s in component["steps"]] == stage.steps
            source = component["source"]
            assert source["file"] == stage.source_file == pins[stage.name].file
            assert source["sha256"] == pins[stage.name].sha256
            assert source["hash"] == nix.sri_sha256(pins[stage.name].sha256)
            assert source["urls"] == [m.url for m in pins[stage.name].mirrors if m.url]


def test_sri_hash_matches_nix(nix_tool: Nix, ws: Workspace) -> None:
    if shutil.which("nix") is None:
        pytest.skip("the nix command is not installed")
    for component in ws.book.components_for(ws.matrix.targets[0]):
        result = subprocess.run(
            ["nix", "--extra-experimental-features", "nix-command", "--store", "dummy://",
             "hash", "to-sri", "--type", "sha256", component.source.sha256],
            env=nix_tool.env(), capture_output=True, text=True, check=True,
        )
        assert result.stdout.strip() == nix.sri_sha256(component.source.sha256)


# --- the derivations, evaluated against a stand-in nixpkgs ---------------------------------------


def test_derivations_get_the_dockerfile_environment_and_scripts(nix_tool: Nix, ws: Workspace) -> None:
    """wasmforge.nix wires each target's data into its derivations (nixpkgs stubbed, see tests/nix/)."""
    for target in ws.matrix.targets:
        data = json.loads((ws.paths.nix / "data" / f"{target.id}.json").read_text())
        fields = " ".join(
            f'"{name}" = let d = set."{name}"; in {{ inherit (d) name env buildPhase installPhase strictDeps meta; '
            "src = { inherit (d.src) name hash fetcher; urls = d.src.urls or [ ]; }; "
            "inputs = map (x: x.name) (d.nativeBuildInputs ++ d.buildInputs); };"
            for name in data["order"]
        )
        result = nix_tool.eval(
            f"let wasmforge = import <wasmforge/nix/wasmforge.nix> {{ pkgs = import {STUB} {{ }}; }}; "
            f'set = wasmforge.targets."{target.id}"; in '
            f'{{ names = builtins.attrNames wasmforge.packages; main = wasmforge.packages."{target.id}".name; '
            f"components = {{ {fields} }}; }}"
        )
        assert {target.id, *target.aliases} <= set(result["names"])
        main = data["components"][data["main"]]
        assert result["main"] == f"{data['main']}-{main['version']}"
        for name in data["order"]:
            drv, component = result["components"][name], data["components"][name]
            assert drv["name"] == f"{name}-{component['version']}"
            assert drv["env"] == component["env"]
            assert drv["strictDeps"] is True
            assert drv["src"]["hash"] == component["source"]["hash"]
            assert drv["src"]["urls"] == component["source"]["urls"]
            assert drv["src"]["fetcher"] == ("fetchurl" if component["source"]["urls"] else "requireFile")
            assert drv["src"]["name"] == component["source"]["file"]
            for variable, path in component["paths"].items():
                assert f'export {variable}="$wfRoot"/\'{path}\'' in drv["buildPhase"]
            lines = drv["buildPhase"].splitlines()
            runs = [line.split("/", 4)[-1] for line in lines if line.startswith("bash ")]
            assert runs == [f"{name}/{step['script']}" for step in component["steps"]]
            copies = [line.split()[3].split("-", 1)[1].rsplit("-", 1)[0] for line in lines if line.startswith("cp -r")]
            assert copies == [i for step in component["steps"] for i in step["prefix_inputs"]]
            takes = "WF_OUT" if component["role"] == "main" else "WF_PREFIX"
            assert f'cp -r "${takes}"/. "$out"/' in drv["installPhase"]
            assert drv["meta"]["license"] and drv["meta"]["description"]
            compiler = "emscripten" if target.sdk.kind == "emscripten" else "clang"
            assert compiler in drv["inputs"] and "zlib-native" in drv["inputs"]


def test_flake_exposes_every_target_and_alias(nix_tool: Nix, ws: Workspace) -> None:
    result = nix_tool.eval(
        "let flake = import <wasmforge/nix/flake.nix>; "
        f"outputs = flake.outputs {{ self = {{ }}; nixpkgs.legacyPackages.x86_64-linux = import {STUB} {{ }}; }}; "
        "in { url = flake.inputs.nixpkgs.url; names = builtins.attrNames outputs.packages.x86_64-linux; "
        "sets = builtins.attrNames outputs.legacyPackages.x86_64-linux; }"
    )
    expected = {t.id for t in ws.matrix.targets} | set(ws.matrix.aliases)
    assert set(result["names"]) == expected
    assert set(result["sets"]) == {t.id for t in ws.matrix.targets}
    assert result["url"] == nix.NIXPKGS_INPUT


FLAKE_OUTPUTS = (
    "let flake = import <wasmforge/nix/flake.nix>; "
    f"outputs = flake.outputs {{ self = {{ }}; nixpkgs.legacyPackages.x86_64-linux = import {STUB} {{ }}; }}; in "
)


def test_flake_checks_build_every_supported_target(nix_tool: Nix, ws: Workspace) -> None:
    result = nix_tool.eval(
        FLAKE_OUTPUTS + "builtins.mapAttrs (name: drv: drv.name) outputs.checks.x86_64-linux"
    )
    supported = [t for t in ws.matrix.targets if t.support == "supported"]
    assert sorted(result) == sorted(t.id for t in supported), "experimental entries are not checks"
    for target in supported:
        main = plan_for(ws, target).main.component
        assert result[target.id] == f"{main.name}-{main.version}"


def test_hydra_jobs_are_every_target_per_system_without_dots_in_job_names(nix_tool: Nix, ws: Workspace) -> None:
    result = nix_tool.eval(
        FLAKE_OUTPUTS + "builtins.mapAttrs (job: systems: builtins.mapAttrs (system: drv: drv.name) systems) outputs.hydraJobs"
    )
    assert sorted(result) == sorted(t.id.replace(".", "_") for t in ws.matrix.targets)
    for target in ws.matrix.targets:
        main = plan_for(ws, target).main.component
        assert result[target.id.replace(".", "_")] == {"x86_64-linux": f"{main.name}-{main.version}"}


def test_toolchain_version_differences_warn(nix_tool: Nix, ws: Workspace) -> None:
    target = ws.matrix.targets[0]
    expression = (
        f'let pkgs = import {STUB} {{ emscriptenVersion = "3.1.73"; }}; '
        f'd = (import <wasmforge/nix/wasmforge.nix> {{ inherit pkgs; }}).packages."{target.id}"; '
        "in map (x: x.name) d.nativeBuildInputs"
    )
    result = nix_tool.run("--eval", "--strict", "--json", "-E", expression)
    assert result.returncode == 0, result.stderr
    locked = ws.toolchain_lock(target).version_of("emscripten")
    assert f"emscripten {locked} is 3.1.73 in nixpkgs" in result.stderr
    quiet = nix_tool.run("--eval", "--strict", "--json", "-E", expression.replace('emscriptenVersion = "3.1.73";', ""))
    assert "warning" not in quiet.stderr


# --- the fixed-output check --------------------------------------------------------------------


def test_fixed_output_check_uses_the_published_hashes(nix_tool: Nix, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    ws = Workspace.load(root=project, cache_dir=tmp_path / "cache")
    target = ws.matrix.targets[0]
    outputs = (FileRecord(name="python.wasm", size=3, sha256="ab" * 32), FileRecord(name="python.js", size=2, sha256="cd" * 32))
    manifest = Manifest(
        target={"id": target.id}, source_date_epoch=target.source_date_epoch, toolchain={},
        recipe_digest=plan_for(ws, target).recipe_digest, inputs=(), outputs=outputs,
    )
    dist = project / "dist" / target.id
    dist.mkdir(parents=True)
    (dist / "manifest.json").write_text(json.dumps(manifest.to_json()))

    assert commands.cmd_render(ws, check=False, nix_fixed_output=True) == 0
    data = json.loads((project / "nix" / "data" / f"{target.id}.json").read_text())
    assert [o["hash"] for o in data["published"]["outputs"]] == [nix.sri_sha256(o.sha256) for o in outputs]
    checked = Nix(home=nix_tool.home, project=project).eval(
        f"let wasmforge = import <wasmforge/nix/wasmforge.nix> {{ pkgs = import {STUB} {{ }}; }}; "
        f'in map (e: {{ inherit (e) name; inherit (e.path) outputHash outputHashMode; }}) wasmforge.packages."{target.id}-checked".entries'
    )
    assert checked == [{"name": o.name, "outputHash": nix.sri_sha256(o.sha256), "outputHashMode": "flat"} for o in outputs]
    # ... and a check for `nix flake check` and a Hydra job, when the target is supported
    wired = Nix(home=nix_tool.home, project=project).eval(
        f"let wasmforge = import <wasmforge/nix/wasmforge.nix> {{ pkgs = import {STUB} {{ }}; }}; in "
        f'{{ check = wasmforge.checks."{target.id}-checked".name; job = wasmforge.jobs."{target.id.replace(".", "_")}-checked".name; }}'
    )
    assert target.support == "supported" and wired == {"check": f"{target.id}-checked", "job": f"{target.id}-checked"}

    # a manifest from other recipes is not a promise about these: no -checked, and a note why
    (dist / "manifest.json").write_text(json.dumps({**manifest.to_json(), "recipe_digest": "0" * 64}))
    assert commands.cmd_render(ws, check=False, nix_fixed_output=True) == 0
    data = json.loads((project / "nix" / "data" / f"{target.id}.json").read_text())
    assert data["published"]["outputs"] is None and "other recipes" in data["published"]["note"]


# --- render --check covers nix/ ------------------------------------------------------------------


def test_render_check_detects_stale_nix_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_project(tmp_path / "project")
    ws = Workspace.load(root=project, cache_dir=tmp_path / "cache")
    assert commands.cmd_render(ws, check=True) == 0, "the committed nix/ is stale: run `invoke render`"

    package = project / "nix" / "pkgs" / "zlib" / "package.nix"
    original = package.read_text()
    package.write_text(original.replace("strictDeps = true;", "strictDeps = false;"))
    assert commands.cmd_render(ws, check=True) == 1
    assert "nix/pkgs/zlib/package.nix" in capsys.readouterr().err
    package.write_text(original)

    orphan = project / "nix" / "pkgs" / "gone" / "package.nix"
    orphan.parent.mkdir()
    orphan.write_text("{ }: { }\n")
    assert commands.cmd_render(ws, check=True) == 1
    assert "nix/pkgs/gone/package.nix" in capsys.readouterr().err
    orphan.unlink()

    recipe = project / "recipes" / "zlib" / "recipe.json"
    recipe.write_text(recipe.read_text().replace('"-O2"', '"-O3"', 1))
    stale_ws = Workspace.load(root=project, cache_dir=tmp_path / "cache")
    assert commands.cmd_render(stale_ws, check=True) == 1
    assert f"nix/data/{ws.matrix.targets[0].id}.json" in capsys.readouterr().err
    assert commands.cmd_render(stale_ws, check=False) == 0
    assert commands.cmd_render(stale_ws, check=True) == 0


def test_render_keeps_flake_lock(tmp_path: Path) -> None:
    """nix flake lock writes nix/flake.lock; render must neither delete it nor call it stale."""
    project = copy_project(tmp_path / "project")
    lock = project / "nix" / "flake.lock"
    lock.write_text('{ "nodes": { }, "root": "root", "version": 7 }\n')
    ws = Workspace.load(root=project, cache_dir=tmp_path / "cache")
    assert commands.cmd_render(ws, check=True) == 0
    assert commands.cmd_render(ws, check=False) == 0
    assert lock.read_text() == '{ "nodes": { }, "root": "root", "version": 7 }\n'


def test_rendering_is_deterministic(ws: Workspace) -> None:
    first = nix.render_all(ws.paths, ws.matrix, [plan_for(ws, t) for t in ws.matrix.targets])
    second = nix.render_all(ws.paths, ws.matrix, [plan_for(ws, t) for t in ws.matrix.targets])
    assert [(f.path, f.text) for f in first] == [(f.path, f.text) for f in second]
    assert len({f.path for f in first}) == len(first)


def test_only_recipe_urls_are_named(ws: Workspace) -> None:
    """The only URLs in nix/ are the recipes' own mirrors and homepages: a Debian-only source is a
    requireFile with instructions, never a URL on a package archive."""
    allowed: set[str] = set()
    for name in ws.book.names():
        recipe = ws.book.get(name)
        allowed.add(recipe.homepage)
        allowed |= {m.url for source in recipe.versions.values() for m in source.mirrors if m.url}
    for file in nix.render_all(ws.paths, ws.matrix, [plan_for(ws, t) for t in ws.matrix.targets]):
        found = set(re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'`]+", file.text))
        assert found <= allowed, (file.path, found - allowed)


def test_upstream_version() -> None:
    assert nix.upstream_version("1:19.1.7-3+b1") == "19.1.7"
    assert nix.upstream_version("3.1.69+dfsg-3") == "3.1.69"
    assert nix.upstream_version("20.19.2+dfsg-1+deb13u3") == "20.19.2"
    assert nix.upstream_version("120-4") == "120"
