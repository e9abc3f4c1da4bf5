"""Where a browser artifact's bytes go: python.wasm by object and library, python.data by top-level
package, python.js by what it contains (`invoke sizes`, and the `breakdown` of `invoke bench`).

python.wasm carries no `name` section, but it is linked with -sMAIN_MODULE, so its export section
names every external function and data symbol. Attribution goes in three steps:

1. **By name.** `llvm-nm-19 -S` over the objects and static libraries the link used (CPython's
   objects in the build image, the prefix's libraries, emscripten's system libraries) maps every
   external name to the object that defines it.
2. **By layout.** wasm-ld writes functions in input order, object after object, and each object's
   functions in the order the object holds them (which `nm` gives, static functions included). A
   run of unexported (static) functions between two exported functions of one object belongs to
   that object; between two objects, the first object's remaining functions and the second's
   leading ones are counted from either end, and what is left is unattributed.
3. **Data.** An exported data symbol's address (its global's initial value) and its size (nm)
   give its bytes in the data segment. Static data (tables, strings) has no name in the artifact:
   a gap between two symbols of one object goes to that object, and a large static table of an
   object is found by its bytes (a table without relocations is copied verbatim by the linker).

What no step can place is reported as "unattributed", never guessed.
"""

import gzip
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmforge.core.errors import BenchError

# ------------------------------------------------------------------------------------------------
# Reading a wasm module


@dataclass(frozen=True)
class WasmModule:
    """What the breakdown needs of a linked module."""

    sections: dict[str, int]
    function_imports: int
    # Byte size of each defined function's body in the code section (its size prefix included),
    # in function index order, starting at the first defined function.
    bodies: tuple[int, ...]
    # Export names of each defined function, by defined-function index.
    function_exports: dict[int, tuple[str, ...]]
    # Export name -> initial i32 value of an exported defined global (a data symbol's address).
    global_exports: dict[str, int]
    # The bytes of each data segment, in order.
    data_segments: tuple[bytes, ...]


SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
                 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}


class _Reader:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def byte(self) -> int:
        value = self.data[self.offset]
        self.offset += 1
        return value

    def uleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def sleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte & 0x40:
                    value -= 1 << shift
                return value

    def name(self) -> str:
        length = self.uleb()
        text = self.data[self.offset:self.offset + length].decode("utf-8", errors="replace")
        self.offset += length
        return text

    def limits(self) -> None:
        flags = self.uleb()
        self.uleb()
        if flags & 1:
            self.uleb()

    def const_expr(self) -> int | None:
        """A constant expression; its value when it is a lone i32.const, else None."""
        value: int | None = None
        opcode = self.byte()
        if opcode == 0x41:
            value = self.sleb()
        elif opcode in (0x42,):
            self.sleb()
        elif opcode == 0x23:
            self.uleb()
        elif opcode == 0x44:
            self.offset += 8
        elif opcode == 0x43:
            self.offset += 4
        while opcode != 0x0B:
            opcode = self.byte()
            if opcode == 0x0B:
                break
            value = None  # an extended constant expression: not a plain address
            if opcode in (0x41, 0x42):
                self.sleb()
            elif opcode == 0x23:
                self.uleb()
        return value


def read_wasm(data: bytes) -> WasmModule:
    if data[:4] != b"\0asm":
        raise BenchError("not a WebAssembly module")
    sections: dict[str, int] = {}
    raw: dict[int, tuple[int, int]] = {}
    reader = _Reader(data, 8)
    while reader.offset < len(data):
        section_id = reader.byte()
        size = reader.uleb()
        start = reader.offset
        name = SECTION_NAMES.get(section_id, f"id {section_id}")
        if section_id == 0:
            name = f"custom:{_Reader(data, start).name()}"
        else:
            raw[section_id] = (start, size)
        sections[name] = sections.get(name, 0) + size
        reader.offset = start + size

    function_imports = global_imports = 0
    if 2 in raw:
        r = _Reader(data, raw[2][0])
        for _ in range(r.uleb()):
            r.name()
            r.name()
            kind = r.byte()
            if kind == 0:
                r.uleb()
                function_imports += 1
            elif kind == 1:
                r.byte()
                r.limits()
            elif kind == 2:
                r.limits()
            elif kind == 3:
                r.byte()
                r.byte()
                global_imports += 1
            elif kind == 4:
                r.byte()
                r.uleb()

    global_values: list[int | None] = []
    if 6 in raw:
        r = _Reader(data, raw[6][0])
        for _ in range(r.uleb()):
            r.byte()
            r.byte()
            global_values.append(r.const_expr())

    function_exports: dict[int, list[str]] = {}
    global_exports: dict[str, int] = {}
    if 7 in raw:
        r = _Reader(data, raw[7][0])
        for _ in range(r.uleb()):
            name = r.name()
            kind = r.byte()
            index = r.uleb()
            if kind == 0 and index >= function_imports:
                function_exports.setdefault(index - function_imports, []).append(name)
            elif kind == 3 and index >= global_imports:
                value = global_values[index - global_imports]
                if value is not None:
                    global_exports[name] = value

    bodies: list[int] = []
    if 10 in raw:
        r = _Reader(data, raw[10][0])
        for _ in range(r.uleb()):
            before = r.offset
            size = r.uleb()
            r.offset += size
            bodies.append(r.offset - before)

    segments: list[bytes] = []
    if 11 in raw:
        r = _Reader(data, raw[11][0])
        for _ in range(r.uleb()):
            flags = r.uleb()
            if flags == 2:
                r.uleb()
            if flags in (0, 2):
                r.const_expr()
            size = r.uleb()
            segments.append(data[r.offset:r.offset + size])
            r.offset += size

    return WasmModule(
        sections=sections, function_imports=function_imports, bodies=tuple(bodies),
        function_exports={index: tuple(names) for index, names in function_exports.items()},
        global_exports=global_exports, data_segments=tuple(segments),
    )


# ------------------------------------------------------------------------------------------------
# The objects the link used, from llvm-nm


@dataclass(frozen=True)
class ObjectFile:
    """One object (a .o, or a member of a .a) and the component it belongs to."""

    path: str
    component: str
    # Distinct functions in the order the object holds them (nm's value is the code offset):
    # (names at that offset, body size).
    functions: tuple[tuple[tuple[str, ...], int], ...]
    external_functions: tuple[str, ...]
    # Data symbols: name -> size; external ones also listed apart (only they can be exported).
    data: dict[str, int]
    external_data: tuple[str, ...]

    def function_position(self, name: str) -> int | None:
        for position, (names, _) in enumerate(self.functions):
            if name in names:
                return position
        return None


NM_LINE = re.compile(r"^(?P<path>.*?): (?P<value>[0-9a-f]+) (?:(?P<size>[0-9a-f]+) )?(?P<kind>[A-Za-z]) (?P<name>.+)$")
FUNCTION_KINDS = frozenset("TtWw")
DATA_KINDS = frozenset("DdBbRrVv")


def parse_nm(text: str, component_of: Callable[[str], str]) -> list[ObjectFile]:
    """`llvm-nm -A -S --defined-only` output, one object per distinct path, in first-seen order."""
    found: dict[str, list[tuple[str, int, int, str]]] = {}
    for line in text.splitlines():
        match = NM_LINE.match(line)
        if not match or match["name"].startswith(".debug"):
            continue
        found.setdefault(match["path"], []).append(
            (match["kind"], int(match["value"], 16), int(match["size"] or "0", 16), match["name"]))
    objects = []
    for path, symbols in found.items():
        by_offset: dict[int, tuple[list[str], int]] = {}
        external_functions: list[str] = []
        data: dict[str, int] = {}
        external_data: list[str] = []
        for kind, value, size, name in symbols:
            if kind in FUNCTION_KINDS:
                names, _ = by_offset.setdefault(value, ([], size))
                names.append(name)
                if kind.isupper():
                    external_functions.append(name)
            elif kind in DATA_KINDS and size > 0:
                data[name] = size
                if kind.isupper():
                    external_data.append(name)
        functions = tuple((tuple(names), size) for _, (names, size) in sorted(by_offset.items()))
        objects.append(ObjectFile(path=path, component=component_of(path), functions=functions,
                                  external_functions=tuple(external_functions), data=data,
                                  external_data=tuple(external_data)))
    return objects


LIBRARY_COMPONENTS = {
    "libz.a": "zlib", "libbz2.a": "bzip2", "liblzma.a": "xz (liblzma)", "libsqlite3.a": "sqlite",
    "libffi.a": "libffi", "libmpdec.a": "mpdecimal",
}
EMSCRIPTEN_COMPONENTS = {
    "libc": "emscripten libc (musl)", "libprintf_long_double": "emscripten libc (musl)",
    "libbulkmemory": "emscripten libc (musl)", "libstubs": "emscripten libc (musl)",
    "libnoexit": "emscripten libc (musl)", "libsockets": "emscripten libc (musl)",
    "libdlmalloc": "emscripten dlmalloc", "libcompiler_rt": "compiler-rt",
    "libc++": "libc++ / libc++abi", "libc++abi": "libc++ / libc++abi", "libunwind": "libc++ / libc++abi",
}
CPYTHON_CORE_DIRS = ("Python", "Objects", "Parser", "Programs", "Include")


def component_of(path: str) -> str:
    """The component an object belongs to, from its path as the breakdown's nm run prints it:
    `cpython/Modules/_decimal/_decimal.o`, `prefix/libsqlite3.a:sqlite3.o`, `emscripten/libc.a:x.o`."""
    origin, _, rest = path.partition("/")
    if origin == "prefix":
        library = rest.split(":", 1)[0]
        return LIBRARY_COMPONENTS.get(library, library)
    if origin == "emscripten":
        family = rest.split(":", 1)[0].removesuffix(".a").split("-", 1)[0]
        return EMSCRIPTEN_COMPONENTS.get(family, f"emscripten {family}")
    if origin == "cpython":
        parts = rest.split(":", 1)[0].split("/")
        if parts[0] in CPYTHON_CORE_DIRS:
            return f"CPython {parts[0]}/"
        if parts[0] == "Modules" and len(parts) > 2:
            return f"CPython Modules/{parts[1]}/"
        if parts[0] == "Modules":
            return f"CPython Modules/{parts[1].removesuffix('.o')}"
        return f"CPython {parts[0]}"
    return path


def group_of(component: str) -> str:
    """Coarser groups for the headline: CPython's core, its extension modules, libraries, the SDK."""
    if component.startswith("CPython Modules/"):
        return "CPython modules (Modules/)"
    if component.startswith("CPython"):
        return "CPython core (Python/, Objects/, Parser/)"
    if component in LIBRARY_COMPONENTS.values():
        return "bundled libraries"
    if component == LINKER_COMPONENT:
        return "wasm-ld (generated code)"
    return "emscripten system libraries"


# ------------------------------------------------------------------------------------------------
# Attribution


@dataclass(frozen=True)
class Attribution:
    """Bytes of python.wasm's code and data per component, and how they were found."""

    code_total: int
    data_total: int
    code: dict[str, int]
    data: dict[str, int]
    code_by_name: int
    code_by_layout: int
    data_by_name: int
    data_by_layout: int
    data_by_content: int
    functions: int
    functions_exported: int
    # Exported functions whose object was found, and how many of those sit in their object's
    # order (a check that the layout step's assumption holds for this artifact).
    anchors: int
    anchors_in_order: int
    # A check on the layout step: each component's function bytes in the object files (before
    # wasm-opt; relocatable code is larger), counting the objects the artifact exports a function
    # of and every object in the link order.
    object_code: dict[str, int] = field(default_factory=dict)

    @property
    def code_unattributed(self) -> int:
        return self.code_total - sum(self.code.values())

    @property
    def data_unattributed(self) -> int:
        return self.data_total - sum(self.data.values())


@dataclass(frozen=True)
class _Anchor:
    index: int
    obj: ObjectFile
    position: int


def _symbol_owners(objects: Iterable[ObjectFile], external: Callable[[ObjectFile], tuple[str, ...]]) -> dict[str, ObjectFile]:
    # The first definition wins: objects come in priority order (CPython's, the prefix's, the SDK's).
    owners: dict[str, ObjectFile] = {}
    for obj in objects:
        for name in external(obj):
            owners.setdefault(name, obj)
    return owners


# Functions wasm-ld writes itself (constructors, the data relocations of a PIC module, ...).
LINKER_COMPONENT = "wasm-ld (generated: __wasm_apply_data_relocs, __wasm_call_ctors, ...)"


def attribute_code(module: WasmModule, objects: list[ObjectFile],
                   link_order: list[str] | None = None) -> tuple[dict[int, str], int, int, int, int]:
    """Component of each defined function found by name or layout; also counts (by name, by layout)
    in bytes and the anchors check. `link_order` (object paths in the order the link took them)
    lets a gap also cover the objects between two anchors' objects that export nothing (CPython
    builds with -fvisibility=hidden, so most of Parser/ exports nothing): their share of the gap
    goes by their size in the objects."""
    owners = _symbol_owners(objects, lambda obj: obj.external_functions)
    anchors: list[_Anchor] = []
    owner_of: dict[int, str] = {}
    for index in sorted(module.function_exports):
        for name in module.function_exports[index]:
            obj = owners.get(name)
            position = obj.function_position(name) if obj else None
            if obj is not None and position is not None:
                anchors.append(_Anchor(index, obj, position))
                owner_of[index] = obj.component
                break
            if name.startswith("__wasm_"):
                owner_of[index] = LINKER_COMPONENT
                break
    by_name = sum(module.bodies[i] for i in owner_of)
    anchors = _in_place(anchors)
    place = {path: at for at, path in enumerate(link_order or [])}
    by_path = {obj.path: obj for obj in objects}
    by_layout = 0
    for before, after in zip(anchors, anchors[1:]):
        gap = list(range(before.index + 1, after.index))
        if not gap:
            continue
        between = _objects_between(before.obj, after.obj, place, by_path, link_order or [])
        if before.obj is after.obj and after.position > before.position:
            placed = {index: before.obj.component for index in gap}
        elif between:
            # Objects that export nothing lie between: wasm-opt's inlining makes function counts
            # unreliable over several objects, so the gap goes by size, in link order.
            shares = [(before.obj.component, sum(size for _, size in before.obj.functions[before.position + 1:]))]
            shares += [(obj.component, sum(size for _, size in obj.functions)) for obj in between]
            shares.append((after.obj.component, sum(size for _, size in after.obj.functions[:after.position])))
            placed = _split_by_size(gap, shares, module.bodies)
        else:
            remaining = len(before.obj.functions) - 1 - before.position
            head = gap[:max(0, min(len(gap), remaining))]
            rest = gap[len(head):]
            tail = rest[len(rest) - min(len(rest), after.position):]
            placed = {index: before.obj.component for index in head} | {index: after.obj.component for index in tail}
        for index, component in placed.items():
            if index not in owner_of:  # a lone export kept out of the layout step keeps its name
                owner_of[index] = component
                by_layout += module.bodies[index]
    in_order = sum(1 for before, after in zip(anchors, anchors[1:])
                   if before.obj is not after.obj or after.position > before.position)
    return owner_of, by_name, by_layout, len(anchors), in_order + (1 if anchors else 0)


def _in_place(anchors: list[_Anchor]) -> list[_Anchor]:
    """The anchors fit to bound a gap. wasm-opt merges identical functions, so an export can name
    a function that sits among another object's: a lone anchor of an object whose other anchors
    are elsewhere is kept out of the layout step (its own bytes still count, by name)."""
    runs: list[list[_Anchor]] = []
    for anchor in anchors:
        if runs and runs[-1][0].obj is anchor.obj:
            runs[-1].append(anchor)
        else:
            runs.append([anchor])
    longest: dict[str, int] = {}
    for run in runs:
        longest[run[0].obj.path] = max(longest.get(run[0].obj.path, 0), len(run))
    return [anchor for run in runs for anchor in run
            if not (len(run) == 1 and longest[run[0].obj.path] > 1)]


def _objects_between(first: ObjectFile, last: ObjectFile, place: dict[str, int], by_path: dict[str, ObjectFile],
                     link_order: list[str]) -> list[ObjectFile]:
    if first.path not in place or last.path not in place or place[last.path] <= place[first.path] + 1:
        return []
    return [by_path[path] for path in link_order[place[first.path] + 1:place[last.path]] if path in by_path]


def _split_by_size(middle: list[int], shares: list[tuple[str, int]], bodies: tuple[int, ...]) -> dict[int, str]:
    """The functions of a gap shared, in order, among the (component, bytes in the object files)
    linked there, each taking a share of the gap's bytes in proportion to its bytes."""
    sizes = [size for _, size in shares]
    if not middle or not sum(sizes):
        return {}
    whole = sum(bodies[i] for i in middle)
    bounds = []
    running = 0
    for size in sizes:
        running += size
        bounds.append(whole * running / sum(sizes))
    owners: dict[int, str] = {}
    done = 0
    current = 0
    for index in middle:
        centre = done + bodies[index] / 2
        while current < len(shares) - 1 and centre > bounds[current]:
            current += 1
        owners[index] = shares[current][0]
        done += bodies[index]
    return owners


# Static tables at least this large are looked for by content (smaller ones match by accident).
CONTENT_MATCH_MIN = 512


def attribute_data(module: WasmModule, objects: list[ObjectFile],
                   static_blobs: dict[str, list[bytes]] | None = None) -> tuple[list[str | None], int, int, int]:
    """Component of each byte range of the (first) data segment, as a run-length list per byte
    would be too big: returns an owner per 16-byte cell, and bytes found by name, layout, content."""
    if not module.data_segments:
        return [], 0, 0, 0
    segment = module.data_segments[0]
    owners = _symbol_owners(objects, lambda obj: obj.external_data)
    owner: list[str | None] = [None] * len(segment)
    ranges: list[tuple[int, int, ObjectFile]] = []
    for name, address in module.global_exports.items():
        obj = owners.get(name)
        if obj is None or not 0 <= address < len(segment):
            continue
        end = min(len(segment), address + obj.data[name])
        ranges.append((address, end, obj))
    ranges.sort(key=lambda item: item[0])
    by_name = 0
    for start, end, obj in ranges:
        for i in range(start, end):
            if owner[i] is None:
                owner[i] = obj.component
                by_name += 1
    by_content = 0
    for component, blobs in (static_blobs or {}).items():
        for blob in blobs:
            if len(blob) < CONTENT_MATCH_MIN or not any(blob):
                continue
            at = segment.find(blob)
            # Only a unique match says where the table is.
            if at < 0 or segment.find(blob, at + 1) >= 0:
                continue
            for i in range(at, at + len(blob)):
                if owner[i] is None:
                    owner[i] = component
                    by_content += 1
    # A run of unplaced bytes between bytes of one component (by name or by content) is that
    # component's: the linker keeps an object's data together.
    by_layout = 0
    i = 0
    while i < len(owner):
        if owner[i] is not None:
            i += 1
            continue
        end = i
        while end < len(owner) and owner[end] is None:
            end += 1
        if 0 < i and end < len(owner) and owner[i - 1] == owner[end]:
            for j in range(i, end):
                owner[j] = owner[i - 1]
            by_layout += end - i
        i = end
    return owner, by_name, by_layout, by_content


def attribute(module: WasmModule, objects: list[ObjectFile], static_blobs: dict[str, list[bytes]] | None = None,
              link_order: list[str] | None = None) -> Attribution:
    owner_of, code_by_name, code_by_layout, anchors, in_order = attribute_code(module, objects, link_order)
    code: dict[str, int] = {}
    for index, component in owner_of.items():
        code[component] = code.get(component, 0) + module.bodies[index]
    byte_owner, data_by_name, data_by_layout, data_by_content = attribute_data(module, objects, static_blobs)
    data: dict[str, int] = {}
    for component in byte_owner:
        if component is not None:
            data[component] = data.get(component, 0) + 1
    owners = _symbol_owners(objects, lambda obj: obj.external_functions)
    linked = {owners[name].path: owners[name] for names in module.function_exports.values() for name in names if name in owners}
    # CPython's objects are all linked, exporting or not.
    linked |= {obj.path: obj for obj in objects if obj.path in set(link_order or [])}
    object_code: dict[str, int] = {}
    for obj in linked.values():
        object_code[obj.component] = object_code.get(obj.component, 0) + sum(size for _, size in obj.functions)
    return Attribution(
        object_code=object_code,
        code_total=sum(module.bodies), data_total=sum(len(s) for s in module.data_segments),
        code=code, data=data, code_by_name=code_by_name, code_by_layout=code_by_layout,
        data_by_name=data_by_name, data_by_layout=data_by_layout, data_by_content=data_by_content,
        functions=len(module.bodies), functions_exported=len(module.function_exports),
        anchors=anchors, anchors_in_order=in_order,
    )


# ------------------------------------------------------------------------------------------------
# python.data: the preloaded files and the stdlib zip by top-level package


DATA_PACKAGE_ENTRY = re.compile(r'"?filename"?:"([^"]+)","?start"?:(\d+),"?end"?:(\d+)')


def data_package_files(loader_js: str) -> list[tuple[str, int, int]]:
    """(path, start, end) of each file in python.data, from the file packager's metadata in python.js."""
    return [(name, int(start), int(end)) for name, start, end in DATA_PACKAGE_ENTRY.findall(loader_js)]


@dataclass(frozen=True)
class PackageSize:
    name: str
    kind: str  # "package" (a directory of the zip), "module" (a file at its top), "file" (outside any zip) or "side module"
    files: int
    raw: int
    stored: int
    gzip: int
    # python.data (preloaded) or the pack it is fetched from on first import
    where: str = "python.data"


def data_breakdown(loader_js: str, data: bytes) -> list[PackageSize]:
    """Every top-level package and module of each zip in python.data (raw: uncompressed; stored:
    bytes in the zip; gzip: its members' stored bytes under gzip -9), and each file outside a zip,
    largest first."""
    rows: list[PackageSize] = []
    for path, start, end in data_package_files(loader_js):
        blob = data[start:end]
        if not path.endswith(".zip"):
            if blob:
                rows.append(PackageSize(name=path, kind="file", files=1, raw=len(blob), stored=len(blob), gzip=_gzip_len(blob)))
            continue
        rows += zip_breakdown(blob, "python.data")
    return sorted(rows, key=lambda row: (-row.stored, row.name))


def zip_breakdown(blob: bytes, where: str) -> list[PackageSize]:
    """A zip's top-level packages and modules."""
    groups: dict[tuple[str, str], list[tuple[zipfile.ZipInfo, bytes]]] = {}
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if "/" in info.filename:
                key = (info.filename.split("/", 1)[0], "package")
            else:
                key = (info.filename.split(".", 1)[0], "module")
            groups.setdefault(key, []).append((info, _stored_bytes(blob, info)))
    return [PackageSize(name=head, kind=kind, files=len(members), raw=sum(info.file_size for info, _ in members),
                        stored=sum(info.compress_size for info, _ in members),
                        gzip=_gzip_len(b"".join(stored for _, stored in members)), where=where)
            for (head, kind), members in groups.items()]


def packs_breakdown(packs: Path) -> list[PackageSize]:
    """The stdlib packs a browser fetches on first import (packs/*.zip, deflated: stored is what
    is sent; packs/*.wasm, side modules, sent compressed), largest first."""
    rows: list[PackageSize] = []
    for path in sorted(packs.glob("*.zip")):
        rows += zip_breakdown(path.read_bytes(), f"packs/{path.name}")
    for path in sorted(packs.glob("*.wasm")):
        data = path.read_bytes()
        rows.append(PackageSize(name=path.stem, kind="side module", files=1, raw=len(data), stored=len(data),
                                gzip=_gzip_len(data), where=f"packs/{path.name}"))
    return sorted(rows, key=lambda row: (-row.stored, row.name))


def _stored_bytes(blob: bytes, info: zipfile.ZipInfo) -> bytes:
    # The member's bytes as the zip holds them: after its local header (30 bytes + name + extra).
    offset = info.header_offset
    name_length = int.from_bytes(blob[offset + 26:offset + 28], "little")
    extra_length = int.from_bytes(blob[offset + 28:offset + 30], "little")
    start = offset + 30 + name_length + extra_length
    return blob[start:start + info.compress_size]


def _gzip_len(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


# ------------------------------------------------------------------------------------------------
# python.js: emscripten's generated loader, by what each top-level statement defines


JS_PARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("file packager (python.data's loader and file list)", re.compile(r"^\(\(\)=>\{.*loadPackage\(", re.S)),
    ("wasm imports and exports glue", re.compile(r"^(var )?(wasmImports|wasmExports)\b|^var [\w$]+=(Module\[\"[\w$]+\"\]=)?\(?[\w$, ]*\)?=>\([\w$]+=(Module\[\"[\w$]+\"\]=)?wasmExports\[|^Module\[\"[\w$]+\"\]=[\w$]+$")),
    ("dynamic linking (LDSO, GOT, side-module loader, dlopen)", re.compile(
        r"^(var |function )?(LDSO|GOT\w*|GOTHandler|loadDylibs|loadDynamicLibrary|loadWebAssemblyModule|relocateExports|mergeLibSymbols|"
        r"getDylinkMetadata|resolveGlobalSymbol|newDSO|reportUndefinedSymbols|updateGOT|isInternalSym|dlSetError|currentModuleWeakSymbols|"
        r"_?_?dl\w*|_emscripten_dl\w*|__dl\w*|getMemory|setWasmTableEntry|getWasmTableEntry|wasmTable\w*|addFunction\w*|updateTableMap|"
        r"functionsInTableMap|freeTableIndexes|getEmptyTableSlot|convertJsFunctionToWasm|uleb128Encode|sigToWasmTypes|generateFuncType|"
        r"___heap_base|___stack_pointer|___memory_base|___table_base|__RELOC_FUNCS__|dynCall\w*)\b")),
    ("file systems (FS, MEMFS, IDBFS, NODEFS, WORKERFS, PROXYFS, TTY, PATH)", re.compile(
        r"^(var |function )?(FS\w*|MEMFS|IDBFS|NODEFS|NODERAWFS|WORKERFS|PROXYFS|LAZYFS|PIPEFS|TTY|PATH|PATH_FS|preloadPlugins|"
        r"mmapAlloc|asyncLoad|FS_\w+|zeroMemory|alignMemory|ERRNO_CODES|ERRNO_MESSAGES|strError|randomFill|initRandomFill|"
        r"DEVICES|IDBStore|_emscripten_idb_\w+)\b")),
    ("sockets and networking (SOCKFS, DNS, getaddrinfo)", re.compile(
        r"^(var |function )?(SOCKFS|DNS|Sockets|getSocketFromFD|getSocketAddress|readSockaddr|writeSockaddr|inetPton\w*|inetNtop\w*|"
        r"_getaddrinfo|_getnameinfo|_gethostby\w+|_getprotob\w+|_\w*protoent|Protocols|_setNetworkCallback|___syscall_(socket|bind|connect|"
        r"listen|accept\w*|getsockname|getpeername|sendto|recvfrom|sendmsg|recvmsg|getsockopt|setsockopt|shutdown|socketpair)|_emscripten_websocket\w*)\b")),
    ("syscalls, WASI and libc helpers (SYSCALLS, fd_*, clocks, environment, strftime)", re.compile(
        r"^(var |function )?(SYSCALLS|___syscall_\w+|_fd_\w+|__mmap_js|__munmap_js|__msync_js|_environ_\w+|ENV|getEnvStrings|_proc_exit|"
        r"_clock_\w+|_emscripten_date_now|_emscripten_get_now\w*|__tzset_js|__localtime_js|__gmtime_js|__mktime_js|__timegm_js|_strftime\w*|"
        r"_strptime\w*|_random_get|_getentropy|_emscripten_resize_heap|growMemory|getHeapMax|_emscripten_memcpy_js|__abort_js|_exit|"
        r"exitJS|__emscripten_\w+|_emscripten_(runtime_keepalive\w*|stack\w*|console\w*|err|out|dbg)|formatString|jstoi_\w+|__setitimer_js|"
        r"timers|_emscripten_get_heap_max|isLeapYear|ytdDays|MONTH_DAYS\w*|arraySum|addDays|ydayFromDate|__emscripten_fs_\w+|doReadv|doWritev|"
        r"printChar|printCharBuffers|flush_NO_FILESYSTEM|_uuid_\w+)\b")),
    ("graphics, audio and input (WebGL, SDL, GLUT, GLEW, EGL, OpenAL, Browser, HTML5 events)", re.compile(
        r"^(var |function )?(GL\w*|_gl\w*|webgl\w*|_webgl\w*|emscriptenWebGL\w*|SDL\w*|_SDL\w*|GLUT|_glut\w*|GLEW|_glew\w*|EGL|_egl\w*|AL|"
        r"_al\w*|_emscripten_alc\w*|__gl\w*|getEmscriptenSupportedExtensions|getPreloadedImageData|Browser|JSEvents\w*|_emscripten_(webgl|set|get_(gamepad|num_gamepads|mouse|pointerlock|fullscreen|visibility|battery|"
        r"orientation|element_css|canvas|screen|device|devicemotion|deviceorientation)|request\w*|exit\w*|html5\w*|sample_gamepad|"
        r"vibrate\w*|lock\w*|unlock\w*|hide\w*|enter\w*|async_wget\w*|wget\w*|run_preload\w*|glGetProcAddress|async_load\w*|create_worker|"
        r"call_worker|destroy_worker|get_worker\w*|pause_main_loop|resume_main_loop|cancel_main_loop|set_main_loop\w*|is_webgl\w*|"
        r"supports_offscreencanvas|throw\w*)\w*|_IMG_\w+|_Mix_\w+|_TTF_\w+|_zoomSurface|_rotozoomSurface|_lineColor|_lineRGBA|_pixelRGBA|"
        r"_rectangle\w+|_box\w+|_ellipse\w+|_filledEllipse\w+|specialHTMLTargets|findEventTarget|findCanvasEventTarget|maybeCStringToJsString|"
        r"registerFocusEventCallback|fill\w*EventData|register\w*EventCallback|getBoundingClientRect|fullscreenEnabled|setLetterbox|"
        r"currentFullscreenStrategy|restoreOldWindowedStyle|getCanvasElementSize|setCanvasElementSize|doRequestFullscreen|"
        r"JSEvents_\w+|hideEverythingExceptGivenElement|restoreHiddenElements|softFullscreenResizeWebGLRenderTarget|"
        r"screenOrientation|requestPointerLock|doExitFullscreen|registerRestoreOldStyle|emscripten_webgl\w*|colorChannelsInGlTextureFormat|"
        r"computeUnpackAlignedImageSize|heapObjectForWebGLType|toTypedArrayIndex|heapAccessShiftForWebGLHeap|emscriptenGLX\w*|"
        r"safeSetTimeout|_emscripten_async_call|MainLoop|setMainLoop|__emscripten_webgl\w*|__webgl\w*|readI53FromU64|_glfw\w*|GLFW\w*|"
        r"registerWebGlEventCallback|registerTouchEventCallback|registerGamepadEventCallback|registerMouseEventCallback)\b")),
    ("CPython's and libffi's own JS (_Py_*, ffi_*)", re.compile(r"^(var |function )?(_?_?Py\w*|ffi_\w+|unbox_small_structs|_ffi\w*)\b")),
)
OTHER_JS = "runtime core and other library functions"
# A top-level statement's subject: what `var X=`, `function X(`, `X.sig=` or `Module["X"]=` defines.
JS_SUBJECT = re.compile(r"^(?:var |function |let |const )?(\(\(\)=>\{|[\w$]+(?:\[\"[\w$]+\"\])?)")


def top_level_statements(source: str) -> list[str]:
    """python.js split into its top-level statements. A small scanner: braces, brackets and
    parentheses are counted outside string and template literals; a statement ends at a top-level
    `;` or at a top-level `}` followed by a new statement (a function declaration)."""
    statements: list[str] = []
    depth = start = i = 0
    length = len(source)
    while i < length:
        char = source[i]
        if char in "\"'`":
            i += 1
            while i < length and source[i] != char:
                i += 2 if source[i] == "\\" else 1
        elif char in "{([":
            depth += 1
        elif char in "})]":
            depth -= 1
            if depth == 0 and char == "}" and i + 1 < length and (source[i + 1].isalpha() or source[i + 1] in "_$"):
                statements.append(source[start:i + 1])
                start = i + 1
        elif char == ";" and depth == 0:
            statements.append(source[start:i + 1])
            start = i + 1
        i += 1
    if source[start:].strip():
        statements.append(source[start:])
    return [statement for statement in statements if statement.strip()]


def js_part_of(statement: str) -> str:
    text = statement.strip()
    subject = JS_SUBJECT.match(text)
    # `X.sig="i"` and `Module["X"]=X` belong with X itself.
    candidate = text
    if subject and subject.group(1) != "(()=>{":
        name = subject.group(1)
        candidate = f"var {name}"
        if name.startswith('Module["') and "=" in text:
            candidate = text
    for part, pattern in JS_PARTS:
        if pattern.search(text) and part.startswith(("file packager", "wasm imports")):
            return part
        if pattern.search(candidate):
            return part
    return OTHER_JS


def js_breakdown(source: str) -> dict[str, int]:
    """Bytes of python.js per part, every byte counted once (the parts add up to the file)."""
    parts: dict[str, int] = {}
    for statement in top_level_statements(source):
        part = js_part_of(statement)
        parts[part] = parts.get(part, 0) + len(statement.encode())
    rest = len(source.encode()) - sum(parts.values())
    if rest:
        parts[OTHER_JS] = parts.get(OTHER_JS, 0) + rest
    return dict(sorted(parts.items(), key=lambda item: -item[1]))


# ------------------------------------------------------------------------------------------------
# The whole report


@dataclass(frozen=True)
class ComponentSize:
    component: str
    group: str
    code: int
    data: int
    object_code: int = 0

    @property
    def total(self) -> int:
        return self.code + self.data


@dataclass(frozen=True)
class Breakdown:
    wasm_size: int
    sections: dict[str, int]
    attribution: Attribution | None
    components: tuple[ComponentSize, ...]
    data_packages: tuple[PackageSize, ...]
    js_size: int
    js_parts: dict[str, int]
    # Why python.wasm was not attributed, when it was not (no build image).
    note: str = ""
    objects: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def components_of(attribution: Attribution) -> tuple[ComponentSize, ...]:
    names = set(attribution.code) | set(attribution.data)
    rows = [ComponentSize(component=name, group=group_of(name), code=attribution.code.get(name, 0),
                          data=attribution.data.get(name, 0), object_code=attribution.object_code.get(name, 0))
            for name in names]
    return tuple(sorted(rows, key=lambda row: (-row.total, row.component)))


def breakdown_of(dist: Path, objects: list[ObjectFile] | None, static_blobs: dict[str, list[bytes]] | None = None,
                 note: str = "", link_order: list[str] | None = None) -> Breakdown:
    wasm_bytes = (dist / "python.wasm").read_bytes()
    try:
        module = read_wasm(wasm_bytes)
    except BenchError as exc:
        raise BenchError(f"{dist / 'python.wasm'}: {exc}") from None
    loader = (dist / "python.js").read_text(errors="replace")
    attribution = attribute(module, objects, static_blobs, link_order) if objects else None
    return Breakdown(
        wasm_size=len(wasm_bytes), sections=module.sections, attribution=attribution,
        components=components_of(attribution) if attribution else (),
        data_packages=tuple(data_breakdown(loader, (dist / "python.data").read_bytes()) + packs_breakdown(dist / "packs")),
        js_size=len(loader.encode()), js_parts=js_breakdown(loader), note=note,
        objects=len(objects or []),
    )


# ------------------------------------------------------------------------------------------------
# The objects, read from the build image


# emscripten's system libraries a -sMAIN_MODULE link may use (the PIC variants without threads,
# debug or sanitizers); the first to define a name owns it.
EMSCRIPTEN_LIBRARIES = (
    "libc.a", "libprintf_long_double.a", "libbulkmemory.a", "libstubs.a", "libnoexit.a", "libsockets.a",
    "libdlmalloc.a", "libcompiler_rt.a", "libc++-noexcept.a", "libc++abi-noexcept.a", "libunwind-noexcept.a",
    "libc++.a", "libc++abi.a", "libal.a", "libhtml5.a", "libGL-getprocaddr.a", "libGL.a", "libstb_image.a",
    "libfetch.a", "libembind.a",
)

# Prints, with one docker run and the image's own LLVM: the sha256 of the python.wasm the build
# left, then `llvm-nm -A -S --defined-only` of every object the link may have used, each path
# prefixed by where it came from (cpython/, prefix/, emscripten/). CPython's .o files come first:
# they were linked directly, so their definitions win over any library's.
NM_SCRIPT = r"""
set -e
NM=$(ls /usr/bin/llvm-nm-* | sort -V | tail -1)
HOST=$(ls -d /wf/build/cpython/builddir/host 2>/dev/null || find /wf/build -maxdepth 3 -type d -path '*builddir/host' | head -1)
SYSLIB=$(find /usr/share/emscripten/cache /usr/lib/emscripten -type d -path '*wasm32-emscripten/pic' 2>/dev/null | head -1)
echo "python.wasm $(sha256sum "$HOST/python.wasm" | cut -d' ' -f1)"
cd "$HOST"
# libpython's members are LIBRARY_OBJS in the Makefile's order: the order python.wasm links them.
LLVM_AR=$(ls /usr/bin/llvm-ar-* | sort -V | tail -1)
echo "order $("$LLVM_AR" t libpython3*.a 2>/dev/null | tr '\n' ' ')"
find Programs/python.o Python Objects Parser Modules -name '*.o' | LC_ALL=C sort | xargs "$NM" -A -S --defined-only 2>/dev/null | sed 's|^|cpython/|'
cd /wf/prefix/lib
"$NM" -A -S --defined-only *.a 2>/dev/null | sed 's|^|prefix/|'
cd "$SYSLIB"
for lib in {libs}; do [ -f "$lib" ] && "$NM" -A -S --defined-only "$lib" 2>/dev/null | sed 's|^|emscripten/|'; done
true
"""


@dataclass(frozen=True)
class ImageObjects:
    image: str
    objects: list[ObjectFile]
    # CPython's objects (paths) in link order: Programs/python.o, then libpython's members.
    link_order: list[str]
    # Whether the build image's own python.wasm is the artifact's, byte for byte: then its objects
    # are exactly the ones linked.
    same_wasm: bool


def build_image_objects(image: str, artifact_wasm_sha256: str) -> ImageObjects:
    """Every object of the build image, by component (one `docker run`, network off)."""
    import subprocess

    script = NM_SCRIPT.replace("{libs}", " ".join(EMSCRIPTEN_LIBRARIES))
    result = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "/bin/sh", "-c", script],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        raise BenchError(f"reading the objects of {image} failed (exit {result.returncode}): {' | '.join(tail)}")
    first, _, rest = result.stdout.partition("\n")
    order_line, _, rest = rest.partition("\n")
    wasm_sha = first.split()[-1] if first.startswith("python.wasm ") else ""
    objects = parse_nm(rest, component_of)
    members = order_line.split()[1:] if order_line.startswith("order") else []
    return ImageObjects(image=image, objects=objects, link_order=cpython_link_order(objects, members),
                        same_wasm=wasm_sha == artifact_wasm_sha256)


def cpython_link_order(objects: list[ObjectFile], members: list[str]) -> list[str]:
    """libpython's member names (basenames, in order) as the paths nm printed for CPython's objects;
    a basename two objects share says nothing and is left out."""
    by_name: dict[str, list[str]] = {}
    for obj in objects:
        if obj.path.startswith("cpython/"):
            by_name.setdefault(obj.path.rsplit("/", 1)[-1], []).append(obj.path)
    order = ["cpython/Programs/python.o"]
    for member in members:
        paths = by_name.get(member, [])
        if len(paths) == 1:
            order.append(paths[0])
    return order


def image_exists(image: str) -> bool:
    import subprocess

    try:
        return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------------------------------------
# Reports: JSON for `invoke bench --json`, Markdown for docs/size-breakdown.md


def breakdown_json(report: Breakdown) -> dict[str, Any]:
    data: dict[str, Any] = {
        "python.wasm": {"size": report.wasm_size, "sections": report.sections, "note": report.note},
        "python.data": [vars(row) for row in report.data_packages],
        "python.js": {"size": report.js_size, "parts": report.js_parts},
    }
    attribution = report.attribution
    if attribution is not None:
        data["python.wasm"].update({
            "objects_read": report.objects,
            "code": {"total": attribution.code_total, "by_name": attribution.code_by_name,
                     "by_layout": attribution.code_by_layout, "unattributed": attribution.code_unattributed,
                     "functions": attribution.functions, "functions_exported": attribution.functions_exported,
                     "anchors": attribution.anchors, "anchors_in_order": attribution.anchors_in_order},
            "data": {"total": attribution.data_total, "by_name": attribution.data_by_name,
                     "by_layout": attribution.data_by_layout, "by_content": attribution.data_by_content,
                     "unattributed": attribution.data_unattributed},
            "components": [{"component": row.component, "group": row.group, "code": row.code, "data": row.data,
                            "object_code": row.object_code} for row in report.components],
        })
    data["python.wasm"].update(report.extra)
    return data


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def groups_of(components: Iterable[ComponentSize]) -> list[ComponentSize]:
    totals: dict[str, tuple[int, int]] = {}
    for row in components:
        code, data = totals.get(row.group, (0, 0))
        totals[row.group] = (code + row.code, data + row.data)
    rows = [ComponentSize(component=group, group=group, code=code, data=data) for group, (code, data) in totals.items()]
    return sorted(rows, key=lambda row: -row.total)


def breakdown_markdown(label: str, report: Breakdown, top: int = 40) -> list[str]:
    """The breakdown as Markdown tables (the body of docs/size-breakdown.md)."""
    lines = [f"### python.wasm ({report.wasm_size:,} bytes) of `{label}`", ""]
    lines += ["| section | bytes | share |", "|---|---:|---:|"]
    for name, size in sorted(report.sections.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {size:,} | {_pct(size, report.wasm_size)} |")
    lines.append("")
    attribution = report.attribution
    if attribution is None:
        lines += [f"Code and data by component: not measured ({report.note}).", ""]
    else:
        whole = attribution.code_total + attribution.data_total
        attributed = whole - attribution.code_unattributed - attribution.data_unattributed
        lines += [
            f"Code section {attribution.code_total:,} bytes in {attribution.functions:,} functions "
            f"({attribution.functions_exported:,} exported); data segment {attribution.data_total:,} bytes. "
            f"Objects read: {report.objects:,}. {report.note}",
            "",
            "| found | code | data |", "|---|---:|---:|",
            f"| by name (export → nm) | {attribution.code_by_name:,} ({_pct(attribution.code_by_name, attribution.code_total)}) "
            f"| {attribution.data_by_name:,} ({_pct(attribution.data_by_name, attribution.data_total)}) |",
            f"| by layout (between symbols of one object) | {attribution.code_by_layout:,} ({_pct(attribution.code_by_layout, attribution.code_total)}) "
            f"| {attribution.data_by_layout:,} ({_pct(attribution.data_by_layout, attribution.data_total)}) |",
            f"| by content (static tables found by their bytes) | – | {attribution.data_by_content:,} ({_pct(attribution.data_by_content, attribution.data_total)}) |",
            f"| **unattributed** | {attribution.code_unattributed:,} ({_pct(attribution.code_unattributed, attribution.code_total)}) "
            f"| {attribution.data_unattributed:,} ({_pct(attribution.data_unattributed, attribution.data_total)}) |",
            "",
            f"Attributed: {attributed:,} of {whole:,} code and data bytes ({_pct(attributed, whole)}). "
            f"Layout check: {attribution.anchors_in_order:,} of {attribution.anchors:,} exported functions sit in their object's order.",
            "",
            "| group | code | data | total | share of code + data |", "|---|---:|---:|---:|---:|",
        ]
        for row in groups_of(report.components):
            lines.append(f"| {row.component} | {row.code:,} | {row.data:,} | {row.total:,} | {_pct(row.total, whole)} |")
        lines.append(f"| unattributed | {attribution.code_unattributed:,} | {attribution.data_unattributed:,} "
                     f"| {attribution.code_unattributed + attribution.data_unattributed:,} "
                     f"| {_pct(attribution.code_unattributed + attribution.data_unattributed, whole)} |")
        lines += ["", f"The {min(top, len(report.components))} largest components (*in the objects*: the same "
                  "component's function bytes in its object files, before wasm-opt, with relocatable code's padded "
                  "LEBs: a check on the layout step, which should come out somewhat below it):", "",
                  "| component | group | code | in the objects | data | total | share |", "|---|---|---:|---:|---:|---:|---:|"]
        for row in report.components[:top]:
            lines.append(f"| {row.component} | {row.group} | {row.code:,} | {row.object_code:,} | {row.data:,} | {row.total:,} "
                         f"| {_pct(row.total, whole)} |")
        rest = report.components[top:]
        if rest:
            lines.append(f"| {len(rest)} others | | {sum(r.code for r in rest):,} | {sum(r.object_code for r in rest):,} | {sum(r.data for r in rest):,} "
                         f"| {sum(r.total for r in rest):,} | {_pct(sum(r.total for r in rest), whole)} |")
        lines.append("")
    preloaded = [row for row in report.data_packages if row.where == "python.data"]
    on_demand = [row for row in report.data_packages if row.where != "python.data"]
    lines += _stdlib_table("python.data (preloaded) by top-level package", preloaded, top,
                           "stored: bytes in the zip (python.data's zip stores, and is compressed in transit); gzip -9 is each row's "
                           "stored bytes compressed on their own: the rows add up to a little more than the file's gzip.")
    if on_demand:
        lines += [""] + _stdlib_table("The stdlib packs (packs/, fetched on first import) by top-level package", on_demand, top,
                                      "stored: deflated bytes in the pack, which is what a static host sends.")
    lines += ["", f"### python.js by part ({report.js_size:,} bytes)", "", "| part | bytes | share |", "|---|---:|---:|"]
    for part, size in report.js_parts.items():
        lines.append(f"| {part} | {size:,} | {_pct(size, report.js_size)} |")
    lines.append("")
    return lines


def _stdlib_table(title: str, rows: list[PackageSize], top: int, note: str) -> list[str]:
    data_total = sum(row.stored for row in rows)
    packages = [row for row in rows if row.kind != "module"]
    modules = [row for row in rows if row.kind == "module"]
    lines = [f"### {title} ({len(packages)} packages and files, {len(modules)} top-level modules)", "", note, "",
             "| package | kind | files | raw | stored | gzip -9 | share of stored |", "|---|---|---:|---:|---:|---:|---:|"]
    shown = [*packages[:top], *modules[:top]]
    for row in sorted(shown, key=lambda row: -row.stored):
        lines.append(f"| {row.name} | {row.kind} | {row.files:,} | {row.raw:,} | {row.stored:,} | {row.gzip:,} | {_pct(row.stored, data_total)} |")
    for kind, rest in (("package", packages[top:]), ("module", modules[top:])):
        if rest:
            lines.append(f"| {len(rest)} other {kind}s | {kind} | {sum(r.files for r in rest):,} | {sum(r.raw for r in rest):,} "
                         f"| {sum(r.stored for r in rest):,} | {sum(r.gzip for r in rest):,} | {_pct(sum(r.stored for r in rest), data_total)} |")
    lines.append(f"| **total** | | {sum(r.files for r in rows):,} | {sum(r.raw for r in rows):,} "
                 f"| {data_total:,} | {sum(r.gzip for r in rows):,} | |")
    return lines


def build_image_tag(target_id: str) -> str:
    # The tag building/build.py gives the image a target's build leaves behind.
    return f"wasmforge-build:{target_id}"


def artifact_breakdown(target_id: str, dist: Path, image: str | None = None) -> Breakdown:
    """The breakdown of dist/<target>/, python.wasm attributed with the objects of the build image
    when Docker has it (an `invoke build` leaves it behind), else sections only."""
    import hashlib

    image = image or build_image_tag(target_id)
    if not image_exists(image):
        return breakdown_of(dist, None, note=f"no build image {image}: run `invoke build --target {target_id}` to have one")
    sha = hashlib.sha256((dist / "python.wasm").read_bytes()).hexdigest()
    found = build_image_objects(image, sha)
    note = (f"Objects from {image}, whose python.wasm is this artifact's, byte for byte."
            if found.same_wasm else
            f"Objects from {image}, whose python.wasm differs from this artifact's: attribution is approximate.")
    return breakdown_of(dist, found.objects, build_image_blobs(image), note=note, link_order=found.link_order)


SIZES_START = "<!-- sizes:start -->"
SIZES_END = "<!-- sizes:end -->"


def size_document(target_id: str, report: Breakdown, existing: str | None = None) -> str:
    """A Markdown document with the breakdown between the sizes markers: an existing document keeps
    what it says around them (its own before/after commentary), a new one gets a short header."""
    generated = "\n".join([
        SIZES_START,
        f"Generated by `invoke sizes --target {target_id} --markdown <this file>`; do not edit by hand.",
        "",
        *breakdown_markdown(target_id, report),
        SIZES_END,
    ])
    if existing and SIZES_START in existing and SIZES_END in existing:
        before, _, rest = existing.partition(SIZES_START)
        _, _, after = rest.partition(SIZES_END)
        return before + generated + after
    return f"# Size breakdown of `{target_id}`\n\n{generated}\n"


def ar_members(archive: bytes) -> list[tuple[str, bytes]]:
    """The members of a static library (`ar`, GNU or BSD-less System V form as llvm-ar writes it)."""
    if not archive.startswith(b"!<arch>\n"):
        raise BenchError("not an ar archive")
    members: list[tuple[str, bytes]] = []
    long_names = b""
    offset = 8
    while offset + 60 <= len(archive):
        header = archive[offset:offset + 60]
        raw_name = header[:16].decode(errors="replace").rstrip()
        size = int(header[48:58].decode().strip())
        content = archive[offset + 60:offset + 60 + size]
        offset += 60 + size + (size & 1)
        if raw_name == "//":
            long_names = content
        elif raw_name in ("/", "/SYM64/", "__.SYMDEF"):
            continue
        elif raw_name.startswith("/") and raw_name[1:].isdigit():
            start = int(raw_name[1:])
            end = long_names.find(b"/\n", start)
            members.append((long_names[start:end].decode(errors="replace"), content))
        else:
            members.append((raw_name.removesuffix("/"), content))
    return members


def static_blobs(files: Iterable[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    """Data segments of each object (`cpython/...o` files and `prefix/lib*.a` archives, their
    contents), by component: what attribute_data looks for by content."""
    blobs: dict[str, list[bytes]] = {}
    for path, content in files:
        objects = ([(f"{path}:{member}", data) for member, data in ar_members(content)]
                   if path.endswith(".a") else [(path, content)])
        for object_path, data in objects:
            if not data.startswith(b"\0asm"):
                continue
            segments = [s for s in read_wasm(data).data_segments if len(s) >= CONTENT_MATCH_MIN and any(s)]
            if segments:
                blobs.setdefault(component_of(object_path), []).extend(segments)
    return blobs


TAR_SCRIPT = r"""
set -e
HOST=$(ls -d /wf/build/cpython/builddir/host 2>/dev/null || find /wf/build -maxdepth 3 -type d -path '*builddir/host' | head -1)
mkdir -p /tmp/wf-objects/cpython /tmp/wf-objects/prefix
cd "$HOST"
find Programs/python.o Python Objects Parser Modules -name '*.o' | LC_ALL=C sort | tar -cf - -T - | tar -xf - -C /tmp/wf-objects/cpython
cp /wf/prefix/lib/*.a /tmp/wf-objects/prefix/
cd /tmp/wf-objects && find . -type f | LC_ALL=C sort | tar -cf - -T -
"""


def build_image_blobs(image: str) -> dict[str, list[bytes]]:
    """The data segments of CPython's objects and the prefix's libraries in the build image."""
    import subprocess
    import tarfile

    result = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "/bin/sh", "-c", TAR_SCRIPT],
                            capture_output=True)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"reading the objects of {image} failed (exit {result.returncode}): {' | '.join(tail)}")
    files: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files.append((member.name.removeprefix("./"), extracted.read()))
    return static_blobs(files)
