"""Split the browser's stdlib into a core that python.data preloads and one pack per top-level name.

A browser must fetch python.data before Python prints anything, so it should hold only what
start-up needs. Every other top-level module or package of the stdlib goes into its own deflated
zip, `packs/<name>.zip`, fetched when first imported (see _wasmforge_packs.py and
browser-packs.pre.js). Nothing is left out: a member is either in the core or in exactly one pack.

Which modules the core needs is found, not listed: the closure of the start-up modules' own
module-level imports. A pack's `imports` (the other packs its modules import at module level) let
a page's main thread, which cannot fetch synchronously, load everything a module needs up front.
Imports inside functions are not followed: they are fetched when called (in a worker) or named by
the error that asks for `loadPackages` (on the main thread).
"""

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

# What the interpreter imports from the zip before the first line of user code runs: frozen
# modules (os, site, codecs, io, ...) come from python.wasm, the rest from here.
# traceback and linecache are what the interpreter imports to print an uncaught exception: in the
# core, an error on a page's main thread prints its traceback before any pack is loaded.
START_MODULES = ("encodings", "encodings.aliases", "encodings.utf_8", "sitecustomize", "_wasmforge_packs",
                 "traceback", "linecache")
# What extension modules import from C when they are initialised (PyImport_ImportModule in
# CPython 3.13's Modules/): the source scan cannot see these.
EXTENSION_IMPORTS = {
    "_decimal": ("collections", "collections.abc", "numbers"),
    "_elementtree": ("copy", "xml.etree.ElementPath"),
    "_pickle": ("_compat_pickle", "codecs", "copyreg", "functools"),
    "_sqlite3": ("functools",),
    "_zoneinfo": ("io", "pickle", "weakref", "zoneinfo._common", "zoneinfo._tzpath"),
}
# Frozen into python.wasm (Python/frozen.c), so never read from a pack while frozen modules are on
# (the default): their zip copies stay in the core, where `-X frozen_modules=off` finds them.
FROZEN_TOPS = ("_collections_abc", "_sitebuiltins", "abc", "codecs", "genericpath", "io", "ntpath", "os",
               "posixpath", "runpy", "site", "stat", "zipimport", "__hello__", "__phello__")
PACK_DIR = "wasmforge-packs"
INDEX_FORMAT = 1


@dataclass(frozen=True)
class Member:
    """One .pyc member of the stdlib zip and the source it is compiled from."""

    name: str
    source: Path

    @property
    def top(self) -> str:
        return self.name.split("/", 1)[0].removesuffix(".pyc")

    @property
    def module(self) -> str:
        dotted = self.name.removesuffix(".pyc").replace("/", ".")
        return dotted.removesuffix(".__init__")

    @property
    def is_package(self) -> bool:
        return self.name.endswith("/__init__.pyc")


@dataclass(frozen=True)
class Pack:
    name: str
    members: tuple[Member, ...]
    imports: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    core: tuple[Member, ...]
    core_imports: tuple[str, ...]
    packs: tuple[Pack, ...]


def module_level_imports(member: Member) -> set[str]:
    """Absolute names of the modules `member` imports when it is imported (function bodies skipped)."""
    tree = ast.parse(member.source.read_bytes(), str(member.source))
    package = member.module if member.is_package else member.module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and _never_true(child.test):
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]))
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child.module or "", child.level, package)
                if base:
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in child.names if alias.name != "*")
            visit(child)

    visit(tree)
    return found


def _never_true(test: ast.expr) -> bool:
    """`if False:` and `if TYPE_CHECKING:` blocks, which only type checkers read."""
    if isinstance(test, ast.Constant):
        return not test.value
    name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
    return name == "TYPE_CHECKING"


def _absolute(module: str, level: int, package: str) -> str:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return ""
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def split(members: list[Member]) -> Split:
    by_module = {member.module: member for member in members}
    # A package's __main__ runs only under -m: what it imports is no dependency of the package.
    imports = {member.module: set() if member.module.endswith(".__main__") else
               {name for name in _with_extension_imports(module_level_imports(member)) if name in by_module}
               for member in members}
    missing = [name for name in START_MODULES if name not in by_module]
    if missing:
        raise SystemExit(f"stdlib_packs: start-up modules missing from the zip: {', '.join(missing)}")
    needed = _closure(START_MODULES, imports)
    core_tops = {by_module[module].top for module in needed} | (set(FROZEN_TOPS) & {member.top for member in members})

    def imported_tops(modules: set[str], own: set[str]) -> tuple[str, ...]:
        names = {by_module[name].top for module in modules for name in imports[module]}
        return tuple(sorted(names - own - core_tops))

    packs = []
    for top in sorted({member.top for member in members} - core_tops):
        chosen = tuple(member for member in members if member.top == top)
        # What `import top` runs: the modules of the pack its top module reaches at module level.
        same_pack = {module: {name for name in names if by_module[name].top == top}
                     for module, names in imports.items() if by_module[module].top == top}
        packs.append(Pack(name=top, members=chosen, imports=imported_tops(_closure((top,), same_pack), {top})))
    core = tuple(member for member in members if member.top in core_tops)
    return Split(core=core, core_imports=imported_tops(needed, core_tops), packs=tuple(packs))


def _with_extension_imports(names: set[str]) -> set[str]:
    return names.union(*(EXTENSION_IMPORTS.get(name, ()) for name in names))


def _closure(start: tuple[str, ...], imports: dict[str, set[str]]) -> set[str]:
    """Every module importing `start` imports (importing a.b.c imports a and a.b first)."""
    found: set[str] = set()
    pending = list(start)
    while pending:
        module = pending.pop()
        if module in found or module not in imports:
            continue
        found.add(module)
        parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        pending.extend(imports[module] | parents)
    return found


def index_module_source(result: Split) -> str:
    """_wasmforge_pack_index.py: which top-level names live in a pack (the finder's only data)."""
    names = "".join(f"    {pack.name!r},\n" for pack in result.packs)
    return f'"""Generated by stdlib_packs.py: the stdlib\'s top-level names that live in a pack."""\n\nPACKS = frozenset([\n{names}])\n'


def index_json(result: Split, pack_files: dict[str, bytes]) -> dict[str, object]:
    """packs/index.json: what the loader and the tools need to know about every pack."""
    return {
        "format": INDEX_FORMAT,
        "core": sorted({member.top for member in result.core}),
        "core_imports": list(result.core_imports),
        "packs": {
            pack.name: {
                "file": f"{pack.name}.zip",
                "size": len(pack_files[pack.name]),
                "sha256": hashlib.sha256(pack_files[pack.name]).hexdigest(),
                "imports": list(pack.imports),
            }
            for pack in result.packs
        },
    }
