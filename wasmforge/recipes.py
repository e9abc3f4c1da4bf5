"""Recipes: one per component, as data (recipe.json) plus small build scripts."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from .cache import Pin
from .errors import RecipeError
from .matrix import Target

SHARED_SCRIPTS = "lib"


@dataclass(frozen=True, kw_only=True)
class DebianMirror:
    package: str
    suite: str
    toolchain: str | None


@dataclass(frozen=True, kw_only=True)
class Mirror:
    url: str | None = None
    debian: DebianMirror | None = None

    def describe(self) -> str:
        if self.url:
            return self.url
        assert self.debian is not None
        return f"Debian source package {self.debian.package} ({self.debian.suite})"


@dataclass(frozen=True, kw_only=True)
class Source:
    file: str
    size: int
    sha256: str
    mirrors: tuple[Mirror, ...]
    note: str | None

    def pin(self) -> Pin:
        return Pin(name=self.file, size=self.size, sha256=self.sha256)


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    script: str


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    configure_args: tuple[str, ...] = ()
    make_args: tuple[str, ...] = ()

    def merged(self, other: "BuildOptions") -> "BuildOptions":
        return BuildOptions(
            cflags=self.cflags + other.cflags,
            ldflags=self.ldflags + other.ldflags,
            configure_args=self.configure_args + other.configure_args,
            make_args=self.make_args + other.make_args,
        )


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str
    description: str
    homepage: str
    license: str
    default_version: str
    versions: dict[str, Source]
    sdks: tuple[str, ...]
    dependencies: tuple[str, ...]
    steps: tuple[Step, ...]
    options: dict[str, BuildOptions]
    directory: Path

    def build_files(self) -> list[Path]:
        """The files a build reads: the recipe directory's top-level files. Subdirectories such as
        tests/ (expected test results) are not build inputs, so editing them never rebuilds."""
        return sorted(p for p in self.directory.iterdir() if p.is_file() and not p.name.startswith("."))

    def source(self, version: str | None = None) -> Source:
        wanted = version or self.default_version
        try:
            return self.versions[wanted]
        except KeyError:
            raise RecipeError(f"recipes/{self.name}/recipe.json: no version {wanted} (have: {', '.join(self.versions)})") from None

    def options_for(self, target: Target) -> BuildOptions:
        selectors = ["common", f"sdk:{target.sdk.kind}", f"flavor:{target.flavor.name}"]
        selectors += [f"flag:{flag}" for flag in target.flags]
        result = BuildOptions()
        for selector in selectors:
            if selector in self.options:
                result = result.merged(self.options[selector])
        return result


@dataclass(frozen=True, kw_only=True)
class Component:
    """A recipe at the version a target builds."""

    recipe: Recipe
    version: str
    source: Source
    options: BuildOptions

    @property
    def name(self) -> str:
        return self.recipe.name


class RecipeBook:
    """All recipes under recipes/, loaded and validated on first use."""

    def __init__(self, recipes_dir: Path, schema_path: Path) -> None:
        self.directory = recipes_dir
        self._schema = json.loads(schema_path.read_text(encoding="utf-8"))
        self._loaded: dict[str, Recipe] = {}

    def get(self, name: str) -> Recipe:
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.directory.glob("*/recipe.json"))

    def _load(self, name: str) -> Recipe:
        path = self.directory / name / "recipe.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecipeError(f"{path}: no such recipe '{name}'") from None
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        validator = jsonschema.Draft202012Validator(self._schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            raise RecipeError(f"{path}: {error.json_path}: {error.message}")
        return _recipe_from_json(data, path)

    def components_for(self, target: Target) -> list[Component]:
        """The target's components, dependencies first, in a stable order."""
        root = self.get(target.python.recipe)
        ordered: list[Component] = []
        visiting: set[str] = set()

        def visit(recipe: Recipe, version: str | None) -> None:
            if any(c.name == recipe.name for c in ordered):
                return
            if recipe.name in visiting:
                raise RecipeError(f"recipes/{recipe.name}/recipe.json: dependency cycle through '{recipe.name}'")
            visiting.add(recipe.name)
            if target.sdk.kind not in recipe.sdks:
                raise RecipeError(f"recipes/{recipe.name}/recipe.json: $.sdks: does not support {target.sdk.kind} (target {target.id})")
            for dependency in sorted(recipe.dependencies):
                visit(self.get(dependency), None)
            chosen = version or recipe.default_version
            ordered.append(Component(recipe=recipe, version=chosen, source=recipe.source(chosen), options=recipe.options_for(target)))

        visit(root, target.python.version)
        return ordered

    def digest_for(self, target: Target) -> str:
        """sha256 over every recipe file and script the target's build reads."""
        digest = hashlib.sha256()
        files = sorted((self.directory / SHARED_SCRIPTS).glob("*"))
        for component in self.components_for(target):
            files += component.recipe.build_files()
        for path in files:
            digest.update(str(path.relative_to(self.directory)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _recipe_from_json(data: dict[str, Any], path: Path) -> Recipe:
    versions = {version: _source_from_json(entry) for version, entry in data["versions"].items()}
    if data["default_version"] not in versions:
        raise RecipeError(f"{path}: $.default_version: '{data['default_version']}' is not in $.versions")
    steps = tuple(Step(name=s["name"], script=s["script"]) for s in data["steps"])
    for index, step in enumerate(steps):
        if not (path.parent / step.script).is_file():
            raise RecipeError(f"{path}: $.steps[{index}].script: {step.script} does not exist")
    if data["name"] != path.parent.name:
        raise RecipeError(f"{path}: $.name: '{data['name']}' must equal the directory name '{path.parent.name}'")
    options = {
        selector: BuildOptions(
            cflags=tuple(entry.get("cflags", ())),
            ldflags=tuple(entry.get("ldflags", ())),
            configure_args=tuple(entry.get("configure_args", ())),
            make_args=tuple(entry.get("make_args", ())),
        )
        for selector, entry in data["options"].items()
    }
    return Recipe(
        name=data["name"], description=data["description"], homepage=data["homepage"], license=data["license"],
        default_version=data["default_version"], versions=versions, sdks=tuple(data["sdks"]),
        dependencies=tuple(data["dependencies"]), steps=steps, options=options, directory=path.parent,
    )


def _source_from_json(entry: dict[str, Any]) -> Source:
    mirrors = []
    for mirror in entry["mirrors"]:
        if "url" in mirror:
            mirrors.append(Mirror(url=mirror["url"]))
        else:
            deb = mirror["debian"]
            mirrors.append(Mirror(debian=DebianMirror(package=deb["package"], suite=deb["suite"], toolchain=deb.get("toolchain"))))
    return Source(file=entry["file"], size=entry["size"], sha256=entry["sha256"], mirrors=tuple(mirrors), note=entry.get("note"))
