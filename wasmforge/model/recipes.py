"""Recipes: one per component, as data (recipe.json) plus small build scripts."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from wasmforge.core.hashing import Pin
from wasmforge.core.errors import RecipeError
from wasmforge.core.files import read_json
from wasmforge.model.matrix import Target

SHARED_SCRIPTS = "lib"
RECIPE_FILE = "recipe.json"


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
    # A shared step (only ever the first) runs in a stage that sees only the component's name,
    # version and source, its script and these files: the targets of one toolchain build it once.
    shared: bool = False
    files: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RecipeOptions:
    """What one selector of a recipe adds; `Recipe.options_for` merges the ones a target selects."""

    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    configure_args: tuple[str, ...] = ()
    make_args: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    # Recipe-directory files only this selector's targets use (a node-only loader patch, say):
    # other targets neither receive them nor hash them, so editing one rebuilds only its targets.
    files: tuple[str, ...] = ()

    def merged(self, other: "RecipeOptions") -> "RecipeOptions":
        return RecipeOptions(
            cflags=self.cflags + other.cflags,
            ldflags=self.ldflags + other.ldflags,
            configure_args=self.configure_args + other.configure_args,
            make_args=self.make_args + other.make_args,
            dependencies=self.dependencies + other.dependencies,
            files=self.files + other.files,
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
    options: dict[str, RecipeOptions]
    directory: Path

    def source(self, version: str | None = None) -> Source:
        wanted = version or self.default_version
        try:
            return self.versions[wanted]
        except KeyError:
            raise RecipeError(f"recipes/{self.name}/recipe.json: no version {wanted} (have: {', '.join(self.versions)})") from None

    def options_for(self, target: Target) -> RecipeOptions:
        result = RecipeOptions()
        for selector in selectors_for(target):
            if selector in self.options:
                result = result.merged(self.options[selector])
        return result

    def dependencies_for(self, target: Target) -> list[str]:
        """The recipes every target needs plus those the target's selectors add, sorted."""
        return sorted(set(self.dependencies) | set(self.options_for(target).dependencies))

    def files_for(self, target: Target) -> list[Path]:
        """The recipe directory's files a target's build reads: its top-level scripts and helpers,
        without other selectors' own files. Subdirectories such as tests/ (expected test results)
        and dotfiles are not build inputs, so editing them never rebuilds. recipe.json is left
        out too: the build reads it only through the WF_* variables rendered into the
        Dockerfile, and `effective_for` covers what it says."""
        selected = set(self.options_for(target).files)
        selector_files = {name for options in self.options.values() for name in options.files}
        return sorted(
            path for path in self.directory.iterdir()
            if path.is_file() and not path.name.startswith(".") and path.name != RECIPE_FILE
            and (path.name not in selector_files or path.name in selected)
        )

    def effective_for(self, target: Target, version: str) -> dict[str, Any]:
        """What this recipe says about building `version` for `target`, as plain data: the part
        of recipe.json that can change the target's output (not its mirrors, notes or other
        selectors)."""
        source = self.source(version)
        options = self.options_for(target)
        return {
            "name": self.name,
            "version": version,
            "source": {"file": source.file, "size": source.size, "sha256": source.sha256},
            "dependencies": self.dependencies_for(target),
            "steps": [{"name": step.name, "script": step.script} for step in self.steps],
            "options": {
                "cflags": list(options.cflags),
                "ldflags": list(options.ldflags),
                "configure_args": list(options.configure_args),
                "make_args": list(options.make_args),
            },
        }


@dataclass(frozen=True, kw_only=True)
class Component:
    """A recipe at the version a target builds."""

    recipe: Recipe
    version: str
    source: Source
    options: RecipeOptions

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
        if not path.is_file():
            raise RecipeError(f"{path}: no such recipe '{name}'")
        data = read_json(path, RecipeError, "recipe")
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
            for dependency in recipe.dependencies_for(target):
                visit(self.get(dependency), None)
            chosen = version or recipe.default_version
            ordered.append(Component(recipe=recipe, version=chosen, source=recipe.source(chosen), options=recipe.options_for(target)))

        visit(root, target.python.version)
        return ordered

    def shared_files(self) -> list[Path]:
        """The scripts every recipe sources (recipes/lib/), sorted."""
        return sorted(p for p in (self.directory / SHARED_SCRIPTS).iterdir() if p.is_file())


def _recipe_from_json(data: dict[str, Any], path: Path) -> Recipe:
    versions = {version: _source_from_json(entry) for version, entry in data["versions"].items()}
    if data["default_version"] not in versions:
        raise RecipeError(f"{path}: $.default_version: '{data['default_version']}' is not in $.versions")
    steps = tuple(
        Step(name=s["name"], script=s["script"], shared=s.get("shared", False), files=tuple(s.get("files", ())))
        for s in data["steps"]
    )
    for index, step in enumerate(steps):
        if not (path.parent / step.script).is_file():
            raise RecipeError(f"{path}: $.steps[{index}].script: {step.script} does not exist")
        if step.shared and (index > 0 or len(steps) == 1):
            raise RecipeError(f"{path}: $.steps[{index}].shared: only the first of several steps can be shared")
        for file_index, name in enumerate(step.files):
            if not (path.parent / name).is_file():
                raise RecipeError(f"{path}: $.steps[{index}].files[{file_index}]: {name} does not exist")
    if data["name"] != path.parent.name:
        raise RecipeError(f"{path}: $.name: '{data['name']}' must equal the directory name '{path.parent.name}'")
    options = {
        selector: RecipeOptions(
            cflags=tuple(entry.get("cflags", ())),
            ldflags=tuple(entry.get("ldflags", ())),
            configure_args=tuple(entry.get("configure_args", ())),
            make_args=tuple(entry.get("make_args", ())),
            dependencies=tuple(entry.get("dependencies", ())),
            files=tuple(entry.get("files", ())),
        )
        for selector, entry in data["options"].items()
    }
    for selector, selected in options.items():
        for index, name in enumerate(selected.files):
            if not (path.parent / name).is_file():
                raise RecipeError(f"{path}: $.options['{selector}'].files[{index}]: {name} does not exist")
            if name == path.name or any(step.script == name for step in steps):
                raise RecipeError(f"{path}: $.options['{selector}'].files[{index}]: {name} is used by every target")
            if selector != "common" and any(name in step.files for step in steps if step.shared):
                raise RecipeError(f"{path}: $.options['{selector}'].files[{index}]: {name} is read by the shared step, "
                                  "which every target runs: list it under 'common'")
    return Recipe(
        name=data["name"], description=data["description"], homepage=data["homepage"], license=data["license"],
        default_version=data["default_version"], versions=versions, sdks=tuple(data["sdks"]),
        dependencies=tuple(data["dependencies"]), steps=steps, options=options, directory=path.parent,
    )


def selectors_for(target: Target) -> list[str]:
    """The option selectors that apply to a target, in the order their options are merged."""
    selectors = ["common", f"sdk:{target.sdk.kind}", f"flavor:{target.flavor.name}"]
    return selectors + [f"flag:{flag}" for flag in target.flags]


def _source_from_json(entry: dict[str, Any]) -> Source:
    mirrors = []
    for mirror in entry["mirrors"]:
        if "url" in mirror:
            mirrors.append(Mirror(url=mirror["url"]))
        else:
            deb = mirror["debian"]
            mirrors.append(Mirror(debian=DebianMirror(package=deb["package"], suite=deb["suite"], toolchain=deb.get("toolchain"))))
    return Source(file=entry["file"], size=entry["size"], sha256=entry["sha256"], mirrors=tuple(mirrors), note=entry.get("note"))
