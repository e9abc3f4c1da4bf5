"""Render nix/ from the same matrix and recipes as docker/: a flake, one nixpkgs-style package per
component, one toolchain function per Debian toolchain lock, and one data file per target.

The data files (nix/data/<target-id>.json) hold everything the Dockerfile decides for a target:
source pins, the WF_* environment, the scripts in order and which prefixes each step copies in.
The .nix files read them instead of restating them, so the two renderings cannot drift; the only
Nix-specific part is where paths live (the Dockerfile's /wf becomes $NIX_BUILD_TOP/wf).
"""

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmforge.core.errors import ManifestError, RenderError
from wasmforge.model.manifest import MANIFEST, read_manifest
from wasmforge.model.matrix import Matrix, Target
from wasmforge.model.paths import ProjectPaths
from wasmforge.model.plan import WF_ROOT, BuildPlan, Stage
from wasmforge.model.recipes import Recipe, Source
from wasmforge.model.toolchains import ToolchainLock, ToolchainSpec
from wasmforge.rendering.generated import HEADER, RenderedFile

NIXPKGS_INPUT = "github:NixOS/nixpkgs/nixos-24.11"
SYSTEMS = {"amd64": "x86_64-linux", "arm64": "aarch64-linux"}


@dataclass(frozen=True, kw_only=True)
class NixOptions:
    # Also render <target-id>-checked from dist/<target-id>/manifest.json where one exists.
    fixed_output: bool = False


@dataclass(frozen=True, kw_only=True)
class NixTool:
    """How nixpkgs provides one package of a Debian toolchain spec."""

    debian: str
    arguments: tuple[str, ...] = ()
    expression: str | None = None  # what goes into the inputs list; None: stdenv already has it
    host: bool = False  # buildInputs (a library for the native build Python) instead of nativeBuildInputs
    why: str


@dataclass(frozen=True, kw_only=True)
class VersionCheck:
    """A locked Debian package whose upstream version nixpkgs should match."""

    debian: str
    arguments: tuple[str, ...]
    expression: str


# Debian's emscripten is built on its clang-19; nixpkgs' emscripten takes its LLVM as an argument.
EMSCRIPTEN_BINDING = "emscripten' = emscripten.override { llvmPackages = llvmPackages_19; };"

TOOLS: dict[str, NixTool] = {tool.debian: tool for tool in (
    NixTool(debian="emscripten", arguments=("emscripten", "llvmPackages_19"), expression="emscripten'",
            why="emcc, emconfigure, emmake, emar, emranlib, on LLVM 19 like Debian's"),
    NixTool(debian="nodejs", arguments=("nodejs_20",), expression="nodejs_20", why="Debian trixie ships Node 20"),
    NixTool(debian="make", why="stdenv's GNU make"),
    NixTool(debian="autoconf", arguments=("autoconf",), expression="autoconf", why="libffi's autoreconf"),
    NixTool(debian="automake", arguments=("automake",), expression="automake", why="libffi's autoreconf"),
    NixTool(debian="libtool", arguments=("libtool",), expression="libtool", why="libffi's autoreconf"),
    NixTool(debian="libltdl-dev", why="its m4 macros come with nixpkgs' libtool"),
    NixTool(debian="pkg-config", arguments=("pkg-config",), expression="pkg-config", why="configure scripts probe it"),
    NixTool(debian="tcl", arguments=("tcl",), expression="tcl", why="tclsh generates sqlite's amalgamation"),
    NixTool(debian="gcc", why="stdenv.cc builds the native build Python and sqlite's generator"),
    NixTool(debian="libc6-dev", why="glibc headers come with stdenv.cc"),
    NixTool(debian="zlib1g-dev", arguments=("zlib",), expression="zlib", host=True,
            why="zlib for the native build Python (zipimport, the stdlib zip)"),
    NixTool(debian="xz-utils", why="stdenv unpacks .tar.xz"),
    NixTool(debian="bzip2", why="stdenv has bzip2"),
    NixTool(debian="patch", why="stdenv has patch"),
    NixTool(debian="file", arguments=("file",), expression="file", why="configure scripts run file"),
    NixTool(debian="strip-nondeterminism", arguments=("strip-nondeterminism",), expression="strip-nondeterminism",
            why="as in the Docker image"),
    # WASI: Debian's clang/lld/llvm 19 and wasi-libc are the parts of a WASI SDK.
    NixTool(debian="clang-19", arguments=("llvmPackages_19",), expression="llvmPackages_19.clang-unwrapped",
            why="clang --target=wasm32-wasi (unwrapped: no host libc flags)"),
    NixTool(debian="lld-19", arguments=("llvmPackages_19",), expression="llvmPackages_19.lld", why="wasm-ld"),
    NixTool(debian="llvm-19", arguments=("llvmPackages_19",), expression="llvmPackages_19.llvm",
            why="llvm-ar, llvm-ranlib, llvm-strip"),
    NixTool(debian="wasi-libc", arguments=("pkgsCross",), expression="pkgsCross.wasi32.wasilibc",
            why="the wasm32-wasi C library and sysroot"),
    NixTool(debian="libclang-rt-19-dev-wasm32", arguments=("pkgsCross",),
            expression="pkgsCross.wasi32.llvmPackages_19.compiler-rt", why="libclang_rt.builtins for wasm32"),
)}

# The recipes call Debian's versioned tool names unless told otherwise (recipes/lib/common.sh).
WASI_PREBUILD = (
    '    export WF_WASI_CC="clang --target=wasm32-wasi" WF_WASI_AR=llvm-ar WF_WASI_RANLIB=llvm-ranlib\n'
)

VERSION_CHECKS: tuple[VersionCheck, ...] = (
    VersionCheck(debian="emscripten", arguments=("emscripten",), expression="emscripten'.version"),
    VersionCheck(debian="clang-19", arguments=("llvmPackages_19",), expression="llvmPackages_19.llvm.version"),
    VersionCheck(debian="binaryen", arguments=("binaryen",), expression="binaryen.version"),
    VersionCheck(debian="nodejs", arguments=("nodejs_20",), expression="nodejs_20.version"),
)


# --- small conversions -------------------------------------------------------------------


def sri_sha256(hex_digest: str) -> str:
    """A hex sha256 as Nix's SRI hash ("sha256-<base64>")."""
    return "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode()


def nix_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def upstream_version(debian_version: str) -> str:
    """'1:19.1.7-3+b1' -> '19.1.7', '3.1.69+dfsg-3' -> '3.1.69': epoch, revision and repack suffix off."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    return version.split("+", 1)[0]


def spdx_ids(expression: str) -> list[str]:
    return [part for part in re.split(r"[\s()]+|\bAND\b|\bOR\b|\bWITH\b", expression) if part]


def system_of(lock: ToolchainLock) -> str:
    try:
        return SYSTEMS[lock.architecture]
    except KeyError:
        raise RenderError(f"{lock.path.name}: no Nix system for architecture {lock.architecture}") from None


def split_paths(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The Dockerfile's environment as (plain values, paths relative to WF_ROOT)."""
    values: dict[str, str] = {}
    paths: dict[str, str] = {}
    for key, value in env.items():
        if value.startswith(f"{WF_ROOT}/"):
            paths[key] = value[len(WF_ROOT) + 1:]
        else:
            values[key] = value
    return values, paths


# --- data: what the Dockerfile decides, per target -----------------------------------------


def source_data(source: Source, target: Target) -> dict[str, Any]:
    urls = [mirror.url for mirror in source.mirrors if mirror.url]
    data: dict[str, Any] = {
        "file": source.file, "size": source.size, "sha256": source.sha256,
        "hash": sri_sha256(source.sha256), "urls": urls,
    }
    if not urls:
        data["message"] = (
            f"{source.file} (sha256 {source.sha256}) has no URL mirror Nix can fetch: only Debian's source "
            f"archive serves it. Fetch it into wasmforge's cache with `invoke fetch --target {target.id}`, then add "
            f"it to the store under its own name: cp \"${{WASMFORGE_CACHE:-$HOME/.cache/wasmforge}}/sha256/"
            f"{source.sha256}\" {source.file} && nix-store --add-fixed sha256 {source.file}"
        )
    return data


def component_data(plan: BuildPlan, stage: Stage) -> dict[str, Any]:
    values, paths = split_paths(plan.stage_env(stage))
    steps = stage.component.recipe.steps
    return {
        "name": stage.name,
        "version": stage.component.version,
        "role": "main" if stage.main else "library",
        "source": source_data(stage.component.source, plan.target),
        "env": values,
        "paths": paths,
        "steps": [
            {"name": step.name, "script": step.script,
             "prefix_inputs": list(stage.prefix_inputs) if index == len(steps) - 1 else []}
            for index, step in enumerate(steps)
        ],
    }


def toolchain_data(lock: ToolchainLock) -> dict[str, Any]:
    locked = {check.debian: lock.version_of(check.debian) for check in VERSION_CHECKS}
    return {
        "name": lock.toolchain,
        "lock_digest": lock.digest,
        "debian": {name: version for name, version in locked.items() if version is not None},
    }


def published_data(paths: ProjectPaths, plan: BuildPlan, options: NixOptions) -> dict[str, Any]:
    """The manifest's output hashes for <target-id>-checked, or why there are none."""
    target = plan.target
    manifest_path = paths.dist / target.id / MANIFEST
    where = f"dist/{target.id}/{MANIFEST}"
    if not options.fixed_output:
        return {"outputs": None, "note": "rendered without --nix-fixed-output"}
    try:
        manifest = read_manifest(manifest_path)
    except ManifestError:
        return {"outputs": None, "note": f"no readable {where}"}
    digest = plan.recipe_digest
    if manifest.recipe_digest != digest:
        return {"outputs": None, "note": f"{where} is from other recipes (digest {manifest.recipe_digest[:16]}, now {digest[:16]})"}
    outputs = [
        {"name": o.name, "size": o.size, "sha256": o.sha256, "hash": sri_sha256(o.sha256)} for o in manifest.outputs
    ]
    return {"outputs": outputs, "note": f"{where}, recipe digest {digest[:16]}"}


def target_data(paths: ProjectPaths, plan: BuildPlan, options: NixOptions) -> dict[str, Any]:
    target, lock = plan.target, plan.toolchain_lock
    return {
        "id": target.id,
        "aliases": list(target.aliases),
        "system": system_of(lock),
        "python": target.python.version,
        "sdk": {"kind": target.sdk.kind, "version": target.sdk.version},
        "flavor": target.flavor.name,
        "flags": list(target.flags),
        "source_date_epoch": plan.source_date_epoch,
        "toolchain": toolchain_data(lock),
        "order": [stage.name for stage in plan.stages],
        "main": plan.main.name,
        "components": {stage.name: component_data(plan, stage) for stage in plan.stages},
        "published": published_data(paths, plan, options),
    }


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- Nix text ------------------------------------------------------------------------------


def argument_block(names: list[str]) -> str:
    return "{\n" + "".join(f"  {name},\n" for name in names) + "}:"


def render_source_comments(recipe: Recipe) -> list[str]:
    lines = []
    for version, source in recipe.versions.items():
        urls = [m.url for m in source.mirrors if m.url]
        how = "fetchurl from its URL mirrors" if urls else "requireFile: Debian's source archive is its only mirror"
        lines.append(f"  # {version}: {source.file}, {how}.")
        if source.note:
            lines.append(f"  #   {source.note}")
    return lines


PACKAGE = """\
@header@
# recipes/@name@/recipe.json as a nixpkgs-style package. The build runs the recipe's own scripts
# with the Dockerfile's environment, read from data/<target-id>.json.@library_note@
@arguments@

let
  component = wasmforgeTarget.components.@attr@;
  inherit (component) source;
  prefixInputs = @prefix_inputs@;
in
stdenv.mkDerivation (finalAttrs: {
  pname = @pname@;
  inherit (component) version;

@source_comments@
  src =
    if source.urls == [ ] then
      requireFile {
        name = source.file;
        inherit (source) hash message;
      }
    else
      fetchurl {
        name = source.file;
        inherit (source) urls hash;
      };

  strictDeps = true;
  enableParallelBuilding = true;
  inherit (wasmforgeToolchain) nativeBuildInputs buildInputs;

  # Every other WF_* variable, SOURCE_DATE_EPOCH and the locale, exactly as the Dockerfile sets them.
  env = component.env;

  # The recipe's scripts unpack $src themselves (wf_unpack) and run their own configure.
  dontUnpack = true;
  dontConfigure = true;

  # The Dockerfile's /wf is $NIX_BUILD_TOP/wf here; nothing else differs. Like its RUN steps,
  # each script is its own bash process, and the sandbox has no network.
  buildPhase = ''
    runHook preBuild
    ${wasmforgeToolchain.preBuild}
    wfRoot="$NIX_BUILD_TOP/wf"
    ${lib.concatStrings (
      lib.mapAttrsToList (name: path: ''
        export ${name}="$wfRoot"/${lib.escapeShellArg path}
      '') component.paths
    )}
    export WF_JOBS="$NIX_BUILD_CORES"
    mkdir -p "$(dirname "$WF_SOURCE")" "$WF_PREFIX"
    ln -s "$src" "$WF_SOURCE"
    ${lib.concatMapStrings (step: ''
      ${lib.concatMapStrings (input: ''
        cp -r --no-preserve=mode ${prefixInputs.${input}}/. "$WF_PREFIX"/
      '') step.prefix_inputs}
      bash ${wasmforgeRecipes.${finalAttrs.pname}}/${finalAttrs.pname}/${step.script}
    '') component.steps}
    runHook postBuild
  '';

  # @takes_why@
  installPhase = ''
    runHook preInstall
    mkdir -p "$out"
    cp -r "$@takes@"/. "$out"/
    runHook postInstall
  '';

  # WebAssembly and static wasm archives: nothing to strip or patch, and the bytes must stay
  # those the scripts wrote.
  dontFixup = true;

  meta = {
    description = @description@;
    homepage = @homepage@;
    license = [ @licenses@ ];
    platforms = [ wasmforgeTarget.system ];
  };
})
"""


def substitute(template: str, **values: str) -> str:
    """Fill @name@ placeholders (nixpkgs' replaceVars convention); every one must be given."""
    missing = sorted(set(re.findall(r"@([a-z_]+)@", template)) - set(values))
    if missing:
        raise RenderError(f"template placeholders without a value: {', '.join(missing)}")
    return re.sub(r"@([a-z_]+)@", lambda match: values[match.group(1)], template)


def render_package(recipe: Recipe, main: bool, dependencies: list[str], optional: set[str] = frozenset()) -> str:
    arguments = ["lib", "stdenv", "fetchurl", "requireFile", "wasmforgeTarget", "wasmforgeToolchain",
                 "wasmforgeRecipes", *(f"{d} ? null" if d in optional else d for d in dependencies)]
    note = "\n# The library arguments are this target's wasm builds (wasmforge.nix), not nixpkgs' packages."
    return substitute(
        PACKAGE,
        header=HEADER,
        name=recipe.name,
        library_note=note if dependencies else "",
        arguments=argument_block(arguments),
        attr=nix_attr(recipe.name),
        prefix_inputs=f"{{ inherit {' '.join(dependencies)}; }}" if dependencies else "{ }",
        pname=nix_string(recipe.name),
        source_comments="\n".join(render_source_comments(recipe)),
        takes="WF_OUT" if main else "WF_PREFIX",
        takes_why="The artifacts the Docker build copies out of /wf/out." if main
        else "What the Dockerfile's later stages COPY --from this one: its /wf/prefix.",
        description=nix_string(recipe.description),
        homepage=nix_string(recipe.homepage),
        licenses=" ".join(f"(lib.getLicenseFromSpdxId {nix_string(i)})" for i in spdx_ids(recipe.license)),
    )


def nix_attr(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_'-]*", name) else nix_string(name)


def toolchain_tools(spec: ToolchainSpec) -> list[NixTool]:
    if spec.kind not in ("emscripten", "wasi"):
        raise RenderError(f"{spec.spec_path.name}: no nixpkgs mapping for {spec.kind} toolchains yet (wasmforge/nix.py TOOLS)")
    tools = []
    for package in spec.packages:
        name = package.split("=", 1)[0]
        if name not in TOOLS:
            raise RenderError(f"{spec.spec_path.name}: Debian package '{name}' has no nixpkgs mapping; add it to wasmforge/nix.py TOOLS")
        tools.append(TOOLS[name])
    return tools


TOOLCHAIN = """\
@header@
# recipes/toolchains/@name@.json (Debian @suite@, locked in @lock@) from nixpkgs:
# each Debian package of the spec and the nixpkgs input that stands for it. The upstream versions
# of the locked compiler packages are compared at evaluation time; any difference is a warning.
@arguments@

let
@bindings@
  versions = [
@versions@
  ];
  differences = builtins.filter (v: v.actual != v.expected) versions;
  warning =
    "wasmforge: nixpkgs' toolchain differs from the Debian lock @lock@, so artifacts will not match the Docker build's: "
    + lib.concatMapStringsSep "; " (v: "${v.debian} is ${v.actual} in nixpkgs") differences;
in
{
  name = @name_string@;
  nativeBuildInputs = lib.warnIf (differences != [ ]) warning [
@native@
  ];
  buildInputs = [
@host@
  ];
@covered@
  # A writable home and emscripten cache: emcc builds its system libraries into the cache, offline.
  preBuild = ''
    export HOME="$NIX_BUILD_TOP/home" EM_CACHE="$NIX_BUILD_TOP/emscripten-cache"
    mkdir -p "$HOME" "$EM_CACHE"
@extra_prebuild@  '';
}
"""


def version_entries(lock: ToolchainLock) -> tuple[list[VersionCheck], str]:
    checks = [check for check in VERSION_CHECKS if lock.version_of(check.debian) is not None]
    entries = []
    for check in checks:
        locked = lock.version_of(check.debian) or ""
        entries.append(
            "    {\n"
            f"      debian = {nix_string(f'{check.debian} {locked}')};\n"
            f"      expected = {nix_string(upstream_version(locked))};\n"
            f"      actual = {check.expression};\n"
            "    }"
        )
    return checks, "\n".join(entries)


def input_lines(tools: list[NixTool], indent: str) -> str:
    return "\n".join(f"{indent}{tool.expression} # {tool.debian}: {tool.why}" for tool in tools)


def render_toolchain(spec: ToolchainSpec, lock: ToolchainLock) -> str:
    tools = toolchain_tools(spec)
    checks, versions = version_entries(lock)
    arguments = {"lib", *(a for t in tools for a in t.arguments), *(a for c in checks for a in c.arguments)}
    covered = [t for t in tools if not t.expression]
    return substitute(
        TOOLCHAIN,
        header=HEADER,
        name=spec.name,
        name_string=nix_string(spec.name),
        suite=spec.suite,
        lock=lock.path.name,
        arguments=argument_block(sorted(arguments, key=lambda a: (a != "lib", a.lower()))),
        bindings=f"  {EMSCRIPTEN_BINDING}" if any(t.debian == "emscripten" for t in tools) else "",
        versions=versions,
        native=input_lines([t for t in tools if t.expression and not t.host], "    "),
        host=input_lines([t for t in tools if t.expression and t.host], "    "),
        covered="\n".join(f"  # {t.debian}: {t.why}" for t in covered),
        extra_prebuild=WASI_PREBUILD if spec.kind == "wasi" else "",
    )


SCOPE = """\
# Every matrix target as a package set: its components by recipe name (so cpython's arguments
# bzip2, zlib, ... are that target's wasm builds, not nixpkgs' native packages), the target's
# data (data/<target-id>.json: the Dockerfile's sources, environment and scripts) and its
# toolchain from nixpkgs (toolchains/<name>.nix). Without flakes:
#   nix-build nix/wasmforge.nix -A 'packages."<target-id>"'   (or -A 'targets."<target-id>".zlib')
# Returns { packages; checks; jobs; targets; }: flake.nix's packages, checks, hydraJobs (per
# system) and legacyPackages.
{
  pkgs ? import <nixpkgs> { },
  system ? "x86_64-linux",
}:

let
  inherit (pkgs) lib;
  readJSON = path: builtins.fromJSON (builtins.readFile path);
  index = readJSON ./data/targets.json;

  # recipes/lib/ and recipes/<name>/ only, as the Dockerfile copies them.
  recipesFor =
    name:
    builtins.path {
      name = "wasmforge-recipes-${name}";
      path = ../recipes;
      filter =
        path: type:
        let
          relative = lib.removePrefix (toString ../recipes + "/") (toString path);
        in
        builtins.any (dir: relative == dir || lib.hasPrefix "${dir}/" relative) [
          "lib"
          name
        ];
    };

  packageSet =
    id:
    let
      data = readJSON (./data + "/${id}.json");
      callPackage = lib.callPackageWith (pkgs // self);
      self = {
        wasmforgeTarget = data;
        wasmforgeToolchain = pkgs.callPackage (./toolchains + "/${data.toolchain.name}.nix") { };
        wasmforgeRecipes = lib.genAttrs data.order recipesFor;
      }
      // lib.genAttrs data.order (name: callPackage (./pkgs + "/${name}/package.nix") { });
    in
    self;

  # Each published artifact as a fixed-output derivation whose expected hash is the sha256 in
  # dist/<target-id>/manifest.json: Nix itself compares the bytes. Build it with --rebuild, since
  # a fixed output already in the store is not built again.
  checked =
    id: set:
    pkgs.linkFarm "${id}-checked" (
      map (output: {
        inherit (output) name;
        path =
          pkgs.runCommand "${id}-${builtins.replaceStrings [ "/" ] [ "-" ] output.name}"
            {
              outputHash = output.hash;
              outputHashMode = "flat";
            }
            ''
              cp ${set.${set.wasmforgeTarget.main}}/${output.name} "$out"
            '';
      }) set.wasmforgeTarget.published.outputs
    );

  ids = builtins.filter (id: index.systems.${id} == system) index.targets;
  sets = lib.genAttrs ids packageSet;
  main = id: sets.${id}.${sets.${id}.wasmforgeTarget.main};
  aliases = builtins.filter (alias: builtins.elem index.aliases.${alias} ids) (builtins.attrNames index.aliases);
  published = builtins.filter (id: sets.${id}.wasmforgeTarget.published.outputs != null) ids;
  supported = builtins.filter (id: index.support.${id} == "supported") ids;
  checkedOf =
    name: targetIds:
    builtins.listToAttrs (
      map (id: {
        name = name "${id}-checked";
        value = checked id sets.${id};
      }) targetIds
    );
  # Hydra names a job by its attribute path joined with dots: no dots inside a job's name.
  jobName = builtins.replaceStrings [ "." ] [ "_" ];
in
{
  # flake.nix's packages: <target-id>, each alias, <target-id>-checked.
  packages =
    lib.genAttrs ids main
    // lib.genAttrs aliases (alias: main index.aliases.${alias})
    // checkedOf (name: name) published;
  # flake.nix's checks (`nix flake check` builds them): every supported target, and each
  # <target-id>-checked (the published bytes, compared by Nix) among them.
  checks =
    lib.genAttrs supported main // checkedOf (name: name) (builtins.filter (id: builtins.elem id supported) published);
  # flake.nix's hydraJobs.<job>.<system>: every target, experimental ones too (Hydra shows their
  # state without anything waiting on them), and each <target-id>-checked; dots as underscores.
  jobs =
    builtins.listToAttrs (
      map (id: {
        name = jobName id;
        value = main id;
      }) ids
    )
    // checkedOf jobName published;
  # flake.nix's legacyPackages: each target's package set (every component, the data).
  targets = sets;
}
"""


def render_scope() -> str:
    return HEADER + "\n" + SCOPE


def render_flake(targets: list[Target], systems: dict[str, str]) -> str:
    lines = [
        HEADER,
        "{",
        '  description = "wasmforge: CPython for WebAssembly from matrix.json and recipes/, like docker/";',
        "",
        "  # The toolchain (emscripten, LLVM 19, node) comes from this nixpkgs; flake.lock pins its",
        "  # revision. docs/nix.md maps its versions to recipes/toolchains/*.lock.json.",
        f"  inputs.nixpkgs.url = {nix_string(NIXPKGS_INPUT)};",
        "",
        "  # packages.<system>.<name>, <name> one of:",
    ]
    for target in targets:
        aliases = f" (alias: {', '.join(target.aliases)})" if target.aliases else ""
        lines.append(f"  #   {target.id}{aliases}")
    lines += [
        "  # and <target-id>-checked where published hashes were rendered in (--nix-fixed-output).",
        "  # checks.<system>.<name>: every supported target, and <target-id>-checked among them.",
        "  # hydraJobs.<job>.<system>: every target and <target-id>-checked, dots in ids as underscores.",
        "  # legacyPackages.<system>.<target-id>: that target's package set, every component by name.",
        "  outputs =",
        "    { self, nixpkgs }:",
        "    let",
        "      wasmforge =",
        "        system:",
        "        import ./wasmforge.nix {",
        "          pkgs = nixpkgs.legacyPackages.${system};",
        "          inherit system;",
        "        };",
        "    in",
        "    {",
    ]
    for output, attribute in (("packages", "packages"), ("checks", "checks"), ("legacyPackages", "targets")):
        lines.append(f"      {output} = {{")
        lines += [f'        {system} = (wasmforge "{system}").{attribute};' for system in sorted(set(systems.values()))]
        lines.append("      };")
    names = " ".join(nix_string(system) for system in sorted(set(systems.values())))
    lines += [
        "      # Hydra's layout, hydraJobs.<job>.<system>: the jobs of every system, zipped by job name.",
        "      hydraJobs = builtins.zipAttrsWith (job: perSystem: builtins.foldl' (a: b: a // b) { } perSystem) (",
        "        map (system: builtins.mapAttrs (job: drv: { ${system} = drv; }) (wasmforge system).jobs) [",
        f"          {names}",
        "        ]",
        "      );",
        "    };",
        "}",
    ]
    return "\n".join(lines) + "\n"


# --- everything ------------------------------------------------------------------------------


def render_all(paths: ProjectPaths, matrix: Matrix, plans: list[BuildPlan],
               options: NixOptions = NixOptions()) -> list[RenderedFile]:
    root = paths.nix
    files: list[RenderedFile] = []
    packages: dict[str, str] = {}
    uses: dict[str, tuple[Recipe, bool, list[list[str]]]] = {}
    toolchains: dict[str, str] = {}
    systems: dict[str, str] = {}
    roots = {python.recipe for python in matrix.pythons.values()}
    for plan in plans:
        target, lock = plan.target, plan.toolchain_lock
        data = target_data(paths, plan, options)
        systems[target.id] = data["system"]
        files.append(RenderedFile(path=root / "data" / f"{target.id}.json", text=dump_json(data)))
        toolchains.setdefault(lock.toolchain, render_toolchain(plan.toolchain_spec, lock))
        for stage in plan.stages:
            if stage.main != (stage.name in roots):
                raise RenderError(f"recipes/{stage.name}: is a library of one target and the main component of another")
            uses.setdefault(stage.name, (stage.component.recipe, stage.main, []))[2].append(list(stage.prefix_inputs))
    for name, (recipe, is_main, per_target) in uses.items():
        # One package file serves every target: a library only some targets link (libffi is
        # emscripten-only) is an optional argument, and each target's data says which it copies.
        union = sorted(set().union(*per_target))
        optional = {d for d in union if not all(d in l for l in per_target)}
        packages[name] = render_package(recipe, is_main, union, optional)
    index = {"targets": matrix.target_ids(), "aliases": matrix.aliases, "systems": systems,
             "support": {target.id: target.support for target in matrix.targets}}
    files.append(RenderedFile(path=root / "data" / "targets.json", text=dump_json(index)))
    files += [RenderedFile(path=root / "pkgs" / name / "package.nix", text=text) for name, text in sorted(packages.items())]
    files += [RenderedFile(path=root / "toolchains" / f"{name}.nix", text=text) for name, text in sorted(toolchains.items())]
    files.append(RenderedFile(path=root / "wasmforge.nix", text=render_scope()))
    files.append(RenderedFile(path=root / "flake.nix", text=render_flake(list(matrix.targets), systems)))
    return files + kept_files(root)


def kept_files(root: Path) -> list[RenderedFile]:
    """nix/flake.lock is written by `nix flake lock`, not rendered: carry it over as it is, so that
    render neither deletes it as an orphan nor reports it stale."""
    lock = root / "flake.lock"
    return [RenderedFile(path=lock, text=lock.read_text())] if lock.is_file() else []
