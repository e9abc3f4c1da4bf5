"""Split the browser's stdlib into a core that python.data preloads and one pack per top-level name.

A browser must fetch python.data before Python prints anything, so it should hold only what
start-up needs. Every other top-level module or package of the stdlib goes into its own zip,
`packs/<name>.zip` (members stored: a server compresses the whole pack in transit, as it does
python.data, and brotli gains far more over a whole pack than deflate over each member), fetched
when first imported (see _wasmforge_packs.py and
browser-packs.pre.js). Nothing is left out: a member is either in the core, in exactly one pack,
or frozen into python.wasm, where the interpreter imports it from (the zip's copy of a frozen
module is never read while frozen modules are on, the default outside a source tree).

Which modules the core needs is found, not listed: the closure of the start-up modules' own
module-level imports. A pack's `imports` (the other packs its modules import at module level) let
a page's main thread, which cannot fetch synchronously, load everything a module needs up front.
Imports inside functions are not followed: they are fetched when called (in a worker) or named by
the error that asks for `loadPackages` (on the main thread).

With the side-modules flag, the large extension modules are side modules (.so) instead of part of
python.wasm. Each is an *extension pack*, packs/<name>.wasm: the loader puts it in lib-dynload under
its library name (unicodedata.cpython-313-wasm32-emscripten.so), where the path finder
loads it with dlopen, and the packs that import it at module level list it in their `imports`.
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
    "_codecs_cn": ("_multibytecodec",),
    "_codecs_hk": ("_multibytecodec", "_codecs_tw"),
    "_codecs_iso2022": ("_multibytecodec", "_codecs_cn", "_codecs_jp", "_codecs_kr"),
    "_codecs_jp": ("_multibytecodec",),
    "_codecs_kr": ("_multibytecodec",),
    "_codecs_tw": ("_multibytecodec",),
    "_decimal": ("collections", "collections.abc", "numbers"),
    "_elementtree": ("copy", "pyexpat", "xml.etree.ElementPath"),
    "_pickle": ("_compat_pickle", "codecs", "copyreg", "functools"),
    "_sqlite3": ("functools",),
    "_zoneinfo": ("io", "pickle", "weakref", "zoneinfo._common", "zoneinfo._tzpath"),
}
PACK_DIR = "wasmforge-packs"
INDEX_FORMAT = 2


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
class ExtensionPack:
    """A side module of the stdlib: `name` is the module, `library` its file name in lib-dynload.

    It is served as packs/<name>.wasm: static hosts compress application/wasm, not a .so."""

    name: str
    library: str
    imports: tuple[str, ...]

    @property
    def file(self) -> str:
        return f"{self.name}.wasm"


@dataclass(frozen=True)
class Split:
    core: tuple[Member, ...]
    core_imports: tuple[str, ...]
    packs: tuple[Pack, ...]
    extensions: tuple[ExtensionPack, ...] = ()
    # Members left out because python.wasm holds them frozen (by module name).
    frozen: tuple[str, ...] = ()


def extension_name(file_name: str) -> str:
    """unicodedata.cpython-313-wasm32-emscripten.so -> unicodedata"""
    return file_name.split(".", 1)[0]


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


def split(members: list[Member], extension_files: tuple[str, ...] = (), frozen: frozenset[str] = frozenset()) -> Split:
    """`frozen`: the modules frozen into the interpreter (their origin names): their members are
    left out, and an import of one needs no pack."""
    left_out = tuple(sorted(member.module for member in members if member.module in frozen))
    members = [member for member in members if member.module not in frozen]
    by_module = {member.module: member for member in members}
    extensions = {extension_name(file): file for file in extension_files}
    # A package's __main__ runs only under -m: what it imports is no dependency of the package.
    # Importing a.b.c imports a and a.b first: they count even when a.b.c itself is frozen.
    imports = {member.module: set() if member.module.endswith(".__main__") else
               {name for imported in _with_extension_imports(module_level_imports(member))
                for name in _self_and_parents(imported) if name in by_module or name in extensions}
               for member in members}

    def top_of(name: str) -> str:
        return by_module[name].top if name in by_module else name
    missing = [name for name in START_MODULES if name not in by_module]
    if missing:
        raise SystemExit(f"stdlib_packs: start-up modules missing from the zip: {', '.join(missing)}")
    needed = _closure(START_MODULES, imports)
    core_tops = {by_module[module].top for module in needed}

    def imported_tops(modules: set[str], own: set[str]) -> tuple[str, ...]:
        names = {top_of(name) for module in modules for name in imports.get(module, ())}
        return tuple(sorted(names - own - core_tops))

    packs = []
    for top in sorted({member.top for member in members} - core_tops):
        chosen = tuple(member for member in members if member.top == top)
        # What `import top` runs: the modules of the pack its top module reaches at module level.
        same_pack = {module: {name for name in names if top_of(name) == top}
                     for module, names in imports.items() if by_module[module].top == top}
        packs.append(Pack(name=top, members=chosen, imports=imported_tops(_closure((top,), same_pack), {top})))
    core = tuple(member for member in members if member.top in core_tops)
    # What an extension module imports from C when initialised comes with it.
    extension_packs = tuple(
        ExtensionPack(name=name, library=file,
                      imports=tuple(sorted({top_of(n) for n in EXTENSION_IMPORTS.get(name, ())
                                            if n in by_module or n in extensions} - core_tops)))
        for name, file in sorted(extensions.items()))
    return Split(core=core, core_imports=imported_tops(needed, core_tops), packs=tuple(packs), extensions=extension_packs,
                 frozen=left_out)


def _self_and_parents(name: str) -> list[str]:
    """a.b.c -> a, a.b, a.b.c"""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


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
    extensions = "".join(f"    {pack.name!r},\n" for pack in result.extensions)
    return ('"""Generated by stdlib_packs.py: the stdlib\'s top-level names that live in a pack."""\n\n'
            f"PACKS = frozenset([\n{names}])\nEXTENSIONS = frozenset([\n{extensions}])\n")


def index_json(result: Split, pack_files: dict[str, bytes], dynload_dir: str = "") -> dict[str, object]:
    """packs/index.json: what the loader and the tools need to know about every pack.

    `pack_files` holds every pack's bytes, by name: zips and side modules alike. The loader fetches
    packs/<file> and puts a zip pack in /usr/local/lib/wasmforge-packs, an extension pack in
    `dynload_dir` under its `library` name."""
    def entry(name: str, file: str, kind: str, imports: tuple[str, ...]) -> dict[str, object]:
        return {"file": file, "kind": kind, "size": len(pack_files[name]),
                "sha256": hashlib.sha256(pack_files[name]).hexdigest(), "imports": list(imports)}

    packs = {pack.name: entry(pack.name, f"{pack.name}.zip", "zip", pack.imports) for pack in result.packs}
    packs.update({pack.name: {**entry(pack.name, pack.file, "extension", pack.imports), "library": pack.library}
                  for pack in result.extensions})
    return {
        "format": INDEX_FORMAT,
        "core": sorted({member.top for member in result.core}),
        "core_imports": list(result.core_imports),
        "dynload_dir": dynload_dir,
        "frozen": list(result.frozen),
        "packs": dict(sorted(packs.items())),
    }
