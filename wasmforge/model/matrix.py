"""matrix.json: validated once (JSON Schema, then cross-field rules) into frozen records."""

import difflib
import fnmatch
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from wasmforge.core.errors import ExcludedTargetError, MatrixError, UnknownTargetError
from wasmforge.core.files import read_json

SUPPORT_LEVELS = ("supported", "experimental", "broken")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, kw_only=True)
class PythonRelease:
    minor: str
    recipe: str
    version: str
    support: str
    sdk_requirements: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class Sdk:
    name: str
    kind: str
    version: str
    toolchain: str


@dataclass(frozen=True, kw_only=True)
class Flavor:
    name: str
    sdk_kind: str
    runtime: str
    description: str


@dataclass(frozen=True, kw_only=True)
class Flag:
    name: str
    description: str
    flavors: tuple[str, ...]
    support: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Exclusion:
    python: str | None
    sdk: str | None
    flavor: str | None
    flags: tuple[str, ...]
    reason: str

    def matches(self, python: str, sdk: str, flavor: str, flags: tuple[str, ...]) -> bool:
        return (
            (self.python is None or self.python == python)
            and (self.sdk is None or self.sdk == sdk)
            and (self.flavor is None or self.flavor == flavor)
            and all(flag in flags for flag in self.flags)
        )


@dataclass(frozen=True, kw_only=True)
class Target:
    """One buildable matrix entry."""

    id: str
    python: PythonRelease
    sdk: Sdk
    flavor: Flavor
    flags: tuple[str, ...]
    support: str
    source_date_epoch: int
    aliases: tuple[str, ...]
    # Size budgets that `invoke bench` enforces: what a browser fetches before Python prints
    # (size_budget_gzip), and the whole artifact with its on-demand packs, in gzip -9 and brotli.
    size_budget_gzip: int | None
    full_budget_gzip: int | None = None
    full_budget_brotli: int | None = None

    def has_flag(self, flag: str) -> bool:
        return flag in self.flags


@dataclass(frozen=True, kw_only=True)
class Matrix:
    path: Path
    pythons: dict[str, PythonRelease]
    sdks: dict[str, Sdk]
    flavors: dict[str, Flavor]
    flags: dict[str, Flag]
    targets: tuple[Target, ...]
    aliases: dict[str, str]
    exclusions: tuple[Exclusion, ...]

    def target_ids(self) -> list[str]:
        return [target.id for target in self.targets]

    def resolve(self, name: str) -> Target:
        """A target id or alias to its Target; anything else is an error listing the valid names."""
        wanted = self.aliases.get(name, name)
        for target in self.targets:
            if target.id == wanted:
                return target
        excluded = self._excluded_reason(name)
        if excluded is not None:
            raise ExcludedTargetError(f"target '{name}' is excluded by {self.path.name}: {excluded}")
        valid = sorted(self.aliases) + self.target_ids()
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UnknownTargetError(f"unknown target '{name}'{did_you_mean}; valid targets: {', '.join(valid)}")

    def select(self, patterns: list[str]) -> list[Target]:
        """Targets named by ids, aliases or shell-style globs over both (`cpython3.13-*`), in the
        order asked, each once. A glob matching nothing is an error, as is an unknown name."""
        chosen: list[Target] = []
        for pattern in patterns:
            if GLOB_CHARACTERS.intersection(pattern):
                matches = self._glob(pattern)
            else:
                matches = [self.resolve(pattern)]
            chosen += [target for target in matches if target not in chosen]
        return chosen

    def _glob(self, pattern: str) -> list[Target]:
        matches = [
            target for target in self.targets
            if fnmatch.fnmatchcase(target.id, pattern) or any(fnmatch.fnmatchcase(a, pattern) for a in target.aliases)
        ]
        if not matches:
            valid = sorted(self.aliases) + self.target_ids()
            raise UnknownTargetError(f"no target matches '{pattern}'; valid targets: {', '.join(valid)}")
        return matches

    def _excluded_reason(self, name: str) -> str | None:
        """Explain a request for a combination the matrix excludes, written as a target id."""
        for python in self.pythons.values():
            for sdk in self.sdks.values():
                for flavor in self.flavors.values():
                    base = target_id(python.minor, sdk, flavor.name, None)
                    if not name.startswith(base):
                        continue
                    rest = name[len(base):].lstrip("-")
                    flags = tuple(sorted(flag for flag in self.flags if flag in rest.split("+")))
                    for exclusion in self.exclusions:
                        if exclusion.matches(python.minor, sdk.name, flavor.name, flags):
                            return exclusion.reason
                    unmet = unmet_sdk_requirement(python, sdk)
                    if unmet is not None:
                        return unmet
        return None


def unmet_sdk_requirement(python: PythonRelease, sdk: Sdk) -> str | None:
    """Why `python` cannot be built with `sdk` by its sdk_requirements, or None when it can."""
    requirement = python.sdk_requirements.get(sdk.kind)
    if requirement and Version(sdk.version) not in SpecifierSet(requirement):
        return f"python {python.minor} needs {sdk.kind}{requirement}, got {sdk.version}"
    return None


def target_id(python_minor: str, sdk: Sdk, flavor: str, variant: str | None) -> str:
    base = f"cpython{python_minor}-{sdk.kind}{sdk.version}-{flavor}"
    return f"{base}-{variant}" if variant else base


def load_matrix(path: Path, schema_path: Path, recipes_dir: Path, toolchains_dir: Path) -> Matrix:
    data = read_json(path, MatrixError, "matrix file")
    _validate_schema(data, path, schema_path)
    return _build(data, path, recipes_dir, toolchains_dir)


def _validate_schema(data: Any, path: Path, schema_path: Path) -> None:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise MatrixError(f"{path.name}: {error.json_path}: {_explain(error)}")


def _explain(error: jsonschema.ValidationError) -> str:
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unexpected = re.findall(r"'([^']+)'", message)
        hints = [difflib.get_close_matches(key, allowed, n=1) for key in unexpected]
        suggestions = [f"'{hint[0]}'" for hint in hints if hint]
        if suggestions:
            message += f"; did you mean {', '.join(suggestions)}?"
    return message


class _Checker:
    """Collects the first cross-field violation with its JSON path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, json_path: str, message: str) -> None:
        raise MatrixError(f"{self.path.name}: {json_path}: {message}")


def _build(data: dict[str, Any], path: Path, recipes_dir: Path, toolchains_dir: Path) -> Matrix:
    check = _Checker(path)
    pythons = {
        minor: PythonRelease(
            minor=minor,
            recipe=entry["recipe"],
            version=entry["version"],
            support=entry["support"],
            sdk_requirements=dict(entry.get("sdk_requirements", {})),
        )
        for minor, entry in data["pythons"].items()
    }
    for minor, python in pythons.items():
        if not python.version.startswith(minor + "."):
            check.fail(f"$.pythons['{minor}'].version", f"version {python.version} is not a {minor} release")
        if not (recipes_dir / python.recipe / "recipe.json").is_file():
            check.fail(f"$.pythons['{minor}'].recipe", f"no recipe {recipes_dir.name}/{python.recipe}/recipe.json")
        for kind, spec in python.sdk_requirements.items():
            try:
                SpecifierSet(spec)
            except InvalidSpecifier:
                check.fail(f"$.pythons['{minor}'].sdk_requirements.{kind}", f"invalid version specifier '{spec}'")
    sdks = {
        name: Sdk(name=name, kind=entry["kind"], version=entry["version"], toolchain=entry["toolchain"])
        for name, entry in data["sdks"].items()
    }
    for name, sdk in sdks.items():
        if not (toolchains_dir / f"{sdk.toolchain}.json").is_file():
            check.fail(f"$.sdks['{name}'].toolchain", f"no toolchain spec recipes/toolchains/{sdk.toolchain}.json")
    flavors = {
        name: Flavor(name=name, sdk_kind=entry["sdk_kind"], runtime=entry["runtime"], description=entry["description"])
        for name, entry in data["flavors"].items()
    }
    flags = {
        name: Flag(name=name, description=entry["description"], flavors=tuple(entry["flavors"]), support=entry["support"],
                   requires=tuple(entry.get("requires", ())))
        for name, entry in data["flags"].items()
    }
    for name, flag in flags.items():
        for index, flavor in enumerate(flag.flavors):
            if flavor not in flavors:
                check.fail(f"$.flags['{name}'].flavors[{index}]", f"unknown flavor '{flavor}'")
        for index, required in enumerate(flag.requires):
            if required not in data["flags"]:
                check.fail(f"$.flags['{name}'].requires[{index}]", f"unknown flag '{required}' (known: {', '.join(data['flags'])})")
    exclusions = tuple(_exclusion(check, index, entry, pythons, sdks, flavors, flags) for index, entry in enumerate(data["exclusions"]))
    targets = _targets(check, data, pythons, sdks, flavors, flags, exclusions)
    aliases = dict(data["aliases"])
    ids = {target.id for target in targets}
    for alias, target in aliases.items():
        if alias in ids:
            check.fail(f"$.aliases['{alias}']", f"alias '{alias}' shadows a target id")
        if target not in ids:
            hint = difflib.get_close_matches(target, sorted(ids), n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
            check.fail(f"$.aliases['{alias}']", f"alias points to unknown target '{target}'{suffix}")
    targets = tuple(
        replace(target, aliases=tuple(sorted(a for a, t in aliases.items() if t == target.id))) for target in targets
    )
    return Matrix(
        path=path, pythons=pythons, sdks=sdks, flavors=flavors, flags=flags,
        targets=targets, aliases=aliases, exclusions=exclusions,
    )


def _exclusion(check: _Checker, index: int, entry: dict[str, Any], pythons: dict, sdks: dict, flavors: dict, flags: dict) -> Exclusion:
    where = f"$.exclusions[{index}]"
    for key, known in (("python", pythons), ("sdk", sdks), ("flavor", flavors)):
        if key in entry and entry[key] not in known:
            check.fail(f"{where}.{key}", f"unknown {key} '{entry[key]}'")
    for flag_index, flag in enumerate(entry.get("flags", [])):
        if flag not in flags:
            check.fail(f"{where}.flags[{flag_index}]", f"unknown flag '{flag}'")
    return Exclusion(
        python=entry.get("python"), sdk=entry.get("sdk"), flavor=entry.get("flavor"),
        flags=tuple(entry.get("flags", [])), reason=entry["reason"],
    )


def _targets(check: _Checker, data: dict[str, Any], pythons: dict[str, PythonRelease], sdks: dict[str, Sdk],
             flavors: dict[str, Flavor], flags: dict[str, Flag], exclusions: tuple[Exclusion, ...]) -> list[Target]:
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["entries"]):
        where = f"$.entries[{index}]"
        python = pythons.get(entry["python"])
        if python is None:
            check.fail(f"{where}.python", f"unknown python '{entry['python']}' (known: {', '.join(pythons)})")
        sdk = sdks.get(entry["sdk"])
        if sdk is None:
            check.fail(f"{where}.sdk", f"unknown sdk '{entry['sdk']}' (known: {', '.join(sdks)})")
        flavor = flavors.get(entry["flavor"])
        if flavor is None:
            check.fail(f"{where}.flavor", f"unknown flavor '{entry['flavor']}' (known: {', '.join(flavors)})")
        assert python is not None and sdk is not None and flavor is not None
        if flavor.sdk_kind != sdk.kind:
            check.fail(f"{where}.sdk", f"flavor '{flavor.name}' needs a {flavor.sdk_kind} SDK, not {sdk.kind}")
        unmet = unmet_sdk_requirement(python, sdk)
        if unmet is not None:
            check.fail(f"{where}.sdk", unmet)
        entry_flags = tuple(entry["flags"])
        for flag_index, flag_name in enumerate(entry_flags):
            flag = flags.get(flag_name)
            if flag is None:
                check.fail(f"{where}.flags[{flag_index}]", f"unknown flag '{flag_name}' (known: {', '.join(flags)})")
            elif flavor.name not in flag.flavors:
                check.fail(f"{where}.flags[{flag_index}]", f"flag '{flag_name}' is not allowed for flavor '{flavor.name}' (allowed for: {', '.join(flag.flavors)})")
            else:
                for required in flag.requires:
                    if required not in entry_flags:
                        check.fail(f"{where}.flags[{flag_index}]", f"flag '{flag_name}' needs flag '{required}' in the same entry")
        for exclusion in exclusions:
            if exclusion.matches(python.minor, sdk.name, flavor.name, entry_flags):
                check.fail(where, f"entry is excluded: {exclusion.reason}")
        identifier = target_id(python.minor, sdk, flavor.name, entry.get("variant"))
        if identifier in seen:
            check.fail(where, f"duplicate target id '{identifier}' (also $.entries[{seen[identifier]}]); give one a distinct 'variant'")
        seen[identifier] = index
        targets.append(Target(
            id=identifier, python=python, sdk=sdk, flavor=flavor, flags=tuple(sorted(entry_flags)),
            support=entry["support"], source_date_epoch=entry.get("source_date_epoch", data["source_date_epoch"]),
            aliases=(), size_budget_gzip=entry.get("size_budget_gzip"),
            full_budget_gzip=entry.get("full_budget_gzip"), full_budget_brotli=entry.get("full_budget_brotli"),
        ))
    return targets
