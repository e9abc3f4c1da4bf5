"""`invoke sizes` (and the bench's breakdown) says where a browser artifact's bytes go: python.wasm's
code and data by the object and library they came from, python.data by top-level package,
python.js by part. Checked on a wasm module assembled here, nm output written here, and small
python.js and python.data files."""

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from wasmforge.verifying import breakdown
from wasmforge.verifying.breakdown import ObjectFile


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def name(text: str) -> bytes:
    return uleb(len(text)) + text.encode()


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + uleb(len(payload)) + payload


def vector(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def body(padding: int) -> bytes:
    """A function body of () -> (): no locals, `padding` nops, end."""
    code = b"\x00" + b"\x01" * padding + b"\x0b"
    return uleb(len(code)) + code


# Six defined functions, as wasm-ld lays out two objects: a.o's four (two of them static, so
# unexported) then b.o's two. One imported function shifts every defined function's index by one.
BODIES = [body(10), body(20), body(30), body(40), body(50), body(60)]
DATA = b"A" * 16 + b"B" * 8 + b"\x07" * 600 + b"C" * 8


def tiny_module() -> bytes:
    types = section(1, vector([b"\x60\x00\x00"]))
    imports = section(2, vector([name("env") + name("imported") + b"\x00" + uleb(0)]))
    functions = section(3, vector([uleb(0)] * len(BODIES)))
    # Two defined globals holding data addresses (i32.const, immutable), as -sMAIN_MODULE exports them.
    globals_ = section(6, vector([b"\x7f\x00\x41" + uleb(0) + b"\x0b", b"\x7f\x00\x41" + uleb(624) + b"\x0b"]))
    exports = section(7, vector([
        name("a_first") + b"\x00" + uleb(1),   # defined function 0
        name("a_last") + b"\x00" + uleb(4),    # defined function 3
        name("b_second") + b"\x00" + uleb(6),  # defined function 5
        name("a_table") + b"\x03" + uleb(0),
        name("b_table") + b"\x03" + uleb(1),
    ]))
    code = section(10, vector(BODIES))
    data = section(11, vector([b"\x00\x41" + uleb(0) + b"\x0b" + uleb(len(DATA)) + DATA]))
    custom = section(0, name("producers") + b"xyz")
    return b"\0asm\x01\0\0\0" + types + imports + functions + globals_ + exports + code + data + custom


NM_OUTPUT = """\
cpython/Modules/a.o: 00000001 0000000c T a_first
cpython/Modules/a.o: 0000000e 00000016 t a_static_1
cpython/Modules/a.o: 00000025 00000020 t a_static_2
cpython/Modules/a.o: 00000046 0000002a T a_last
cpython/Modules/a.o: 00000000 00000010 D a_table
cpython/Modules/a.o: 00000000 00000000 d .debug_abbrev
prefix/libsqlite3.a:b.o: 00000001 00000034 t b_first
prefix/libsqlite3.a:b.o: 00000040 0000003e T b_second
prefix/libsqlite3.a:b.o: 00000000 00000008 D b_table
emscripten/libc.a:x.o: 00000001 00000010 T a_first
"""


def test_a_module_is_read_for_its_bodies_exports_globals_and_data():
    module = breakdown.read_wasm(tiny_module())
    assert module.function_imports == 1
    assert module.bodies == tuple(len(b) for b in BODIES)
    assert module.function_exports == {0: ("a_first",), 3: ("a_last",), 5: ("b_second",)}
    assert module.global_exports == {"a_table": 0, "b_table": 624}
    assert module.data_segments == (DATA,)
    assert module.sections["custom:producers"] == len(name("producers")) + 3


def test_nm_output_gives_each_object_its_functions_in_order_and_its_component():
    objects = breakdown.parse_nm(NM_OUTPUT, breakdown.component_of)
    a, b, libc = objects
    assert a.path == "cpython/Modules/a.o" and a.component == "CPython Modules/a"
    assert [names for names, _ in a.functions] == [("a_first",), ("a_static_1",), ("a_static_2",), ("a_last",)]
    assert a.external_functions == ("a_first", "a_last") and a.data == {"a_table": 16}, "debug sections are not data"
    assert b.component == "sqlite" and libc.component == "emscripten libc (musl)"


@pytest.mark.parametrize("path, component", [
    ("cpython/Python/ceval.o", "CPython Python/"),
    ("cpython/Objects/unicodeobject.o", "CPython Objects/"),
    ("cpython/Modules/_decimal/_decimal.o", "CPython Modules/_decimal/"),
    ("cpython/Modules/unicodedata.o", "CPython Modules/unicodedata"),
    ("prefix/libmpdec.a:mpdecimal.o", "mpdecimal"),
    ("prefix/liblzma.a:liblzma_la-lzma_decoder.o", "xz (liblzma)"),
    ("emscripten/libc++abi-noexcept.a:x.o", "libc++ / libc++abi"),
    ("emscripten/libdlmalloc.a:dlmalloc.o", "emscripten dlmalloc"),
])
def test_objects_are_named_by_where_they_came_from(path, component):
    assert breakdown.component_of(path) == component


def test_code_is_attributed_by_name_then_by_layout_and_the_rest_is_unattributed():
    module = breakdown.read_wasm(tiny_module())
    objects = breakdown.parse_nm(NM_OUTPUT, breakdown.component_of)
    result = breakdown.attribute(module, objects)
    sizes = [len(b) for b in BODIES]
    # By name: a_first (CPython's a.o wins over libc's copy: it was linked first), a_last, b_second.
    assert result.code_by_name == sizes[0] + sizes[3] + sizes[5]
    # By layout: the two static functions between a_first and a_last belong to a.o; the one
    # function between a_last (a.o's last) and b_second (b.o's second) is b.o's first.
    assert result.code_by_layout == sizes[1] + sizes[2] + sizes[4]
    assert result.code == {"CPython Modules/a": sum(sizes[:4]), "sqlite": sizes[4] + sizes[5]}
    assert result.code_unattributed == 0
    assert (result.anchors, result.anchors_in_order) == (3, 3)


def test_objects_that_export_nothing_share_a_gap_by_their_size_in_link_order():
    module = breakdown.read_wasm(tiny_module())
    # a.o exports only a_first (the first of its 2 functions); then m.o (hidden functions only:
    # it exports nothing); then b.o, whose b_second is exported. The gap between a_first and
    # b_second is 4 functions: a.o's last, two of m.o's (wasm-opt may drop or inline some), b_first.
    # With the link order they share it by their sizes in the objects (22, 3 × 48 and 48 bytes).
    nm = """\
cpython/Parser/a.o: 00000001 0000000c T a_first
cpython/Parser/a.o: 0000000e 00000016 t a_static
cpython/Parser/m.o: 00000001 00000030 t m_1
cpython/Parser/m.o: 00000040 00000030 t m_2
cpython/Parser/m.o: 00000080 00000030 t m_3
cpython/Objects/b.o: 00000001 00000030 T b_first
cpython/Objects/b.o: 00000040 0000003e T b_second
"""
    objects = breakdown.parse_nm(nm, breakdown.component_of)
    sizes = [len(b) for b in BODIES]
    without_order = breakdown.attribute(module, objects)
    with_order = breakdown.attribute(module, objects, link_order=["cpython/Parser/a.o", "cpython/Parser/m.o", "cpython/Objects/b.o"])
    assert without_order.code_unattributed == sizes[2] + sizes[3], "without the link order, m.o's share is unknown"
    assert with_order.code_unattributed == 0
    assert with_order.code == {"CPython Parser/": sum(sizes[:4]), "CPython Objects/": sizes[4] + sizes[5]}


def test_libpython_member_names_become_object_paths_unless_ambiguous():
    objects = breakdown.parse_nm(
        "cpython/Parser/token.o: 00000001 0000000c T a\ncpython/Objects/abstract.o: 00000001 0000000c T b\n"
        "cpython/Modules/_io/fileio.o: 00000001 0000000c T c\ncpython/Modules/x/fileio.o: 00000001 0000000c T d\n",
        breakdown.component_of)
    assert breakdown.cpython_link_order(objects, ["token.o", "fileio.o", "abstract.o"]) == [
        "cpython/Programs/python.o", "cpython/Parser/token.o", "cpython/Objects/abstract.o"]


def test_a_gap_between_objects_longer_than_their_functions_stays_unattributed():
    module = breakdown.read_wasm(tiny_module())
    # Now b.o holds only b_second: the function before it belongs to no object nm knows.
    objects = breakdown.parse_nm(NM_OUTPUT.replace("prefix/libsqlite3.a:b.o: 00000001 00000034 t b_first\n", ""),
                                 breakdown.component_of)
    result = breakdown.attribute(module, objects)
    assert result.code_unattributed == len(BODIES[4])


def test_data_is_attributed_by_symbol_address_and_size_and_big_static_tables_by_content():
    module = breakdown.read_wasm(tiny_module())
    objects = breakdown.parse_nm(NM_OUTPUT, breakdown.component_of)
    plain = breakdown.attribute(module, objects)
    assert plain.data == {"CPython Modules/a": 16, "sqlite": 8}
    assert plain.data_unattributed == len(DATA) - 24
    # A static table of 600 bytes that only a.o holds is found by its bytes; the 8 bytes between
    # a_table and that table, a.o's on both sides, are a.o's too.
    found = breakdown.attribute(module, objects, static_blobs={"CPython Modules/a": [b"\x07" * 600]})
    assert found.data_by_content == 600 and found.data_by_layout == 8
    assert found.data["CPython Modules/a"] == 16 + 8 + 600 and found.data_unattributed == 0


def test_data_between_two_symbols_of_one_object_is_that_object_s():
    module = breakdown.read_wasm(tiny_module())
    objects = [ObjectFile(path="cpython/Python/x.o", component="CPython Python/", functions=(),
                          external_functions=(), data={"a_table": 16, "b_table": 8}, external_data=("a_table", "b_table"))]
    result = breakdown.attribute(module, objects)
    assert result.data == {"CPython Python/": len(DATA)}
    assert result.data_by_layout == len(DATA) - 24


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return buffer.getvalue()


def test_python_data_is_broken_down_by_every_top_level_package_and_module():
    stdlib = _zip({"asyncio/__init__.pyc": b"a" * 300, "asyncio/events.pyc": b"e" * 200,
                   "json/__init__.pyc": b"j" * 100, "typing.pyc": b"t" * 50})
    os_py = b"import sys\n" * 10
    data = os_py + stdlib
    loader = (f'loadPackage({{files:[{{filename:"/usr/local/lib/python3.13/os.py",start:0,end:{len(os_py)}}},'
              f'{{filename:"/usr/local/lib/python313.zip",start:{len(os_py)},end:{len(data)}}}],remote_package_size:{len(data)}}})')
    rows = {row.name: row for row in breakdown.data_breakdown(loader, data)}
    assert set(rows) == {"asyncio", "json", "typing", "/usr/local/lib/python3.13/os.py"}
    assert (rows["asyncio"].kind, rows["asyncio"].files, rows["asyncio"].raw, rows["asyncio"].stored) == ("package", 2, 500, 500)
    assert rows["asyncio"].gzip == len(gzip.compress(b"a" * 300 + b"e" * 200, 9, mtime=0))
    assert rows["typing"].kind == "module" and rows["/usr/local/lib/python3.13/os.py"].kind == "file"


def test_the_stdlib_packs_are_rows_that_say_which_pack_they_come_from(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "json.zip").write_bytes(_zip({"json/__init__.pyc": b"j" * 100, "json/decoder.pyc": b"d" * 50}))
    (tmp_path / "packs" / "bisect.zip").write_bytes(_zip({"bisect.pyc": b"b" * 30}))
    rows = {row.name: row for row in breakdown.packs_breakdown(tmp_path / "packs")}
    assert (rows["json"].where, rows["json"].kind, rows["json"].files, rows["json"].raw) == ("packs/json.zip", "package", 2, 150)
    assert (rows["bisect"].where, rows["bisect"].kind) == ("packs/bisect.zip", "module")


def test_a_side_module_in_the_packs_is_one_row_counted_compressed(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "unicodedata.wasm").write_bytes(b"\0asm" + bytes(1000))
    [row] = breakdown.packs_breakdown(tmp_path / "packs")
    assert (row.name, row.kind, row.where, row.raw, row.stored) == ("unicodedata", "side module", "packs/unicodedata.wasm", 1004, 1004)
    assert row.gzip < 100


FAKE_LOADER = (
    'var Module=typeof Module!="undefined"?Module:{};'
    '(()=>{function loadPackage(metadata){var x=1}loadPackage({files:[],remote_package_size:0})})();'
    'var FS={root:null,mount(){return "}{"}};'
    'var MEMFS={ops_table:null};'
    'function _glClear(x){GLctx.clear(x)}'
    'var _SDL_Init=flags=>0;'
    'var SOCKFS={mount(){}};'
    'var LDSO={loadedLibsByName:{}};'
    'function _Py_emscripten_runtime(){return 0}_Py_emscripten_runtime.sig="i";'
    'var wasmImports={glClear:_glClear};'
    'var _malloc=a0=>(_malloc=wasmExports["malloc"])(a0);'
    'var ___syscall_openat=(dirfd,path,flags,varargs)=>0;'
    'function run(){callMain()}'
    'run();'
)


def test_python_js_is_split_into_its_top_level_statements_and_every_byte_counted_once():
    statements = breakdown.top_level_statements(FAKE_LOADER)
    assert "".join(statements) == FAKE_LOADER
    assert 'var FS={root:null,mount(){return "}{"}};' in statements, "braces inside strings do not count"
    assert "function _glClear(x){GLctx.clear(x)}" in statements, "a function declaration ends at its brace"
    parts = breakdown.js_breakdown(FAKE_LOADER)
    assert sum(parts.values()) == len(FAKE_LOADER)
    part_of = breakdown.js_part_of
    assert part_of('var FS={root:null};').startswith("file systems")
    assert part_of('var MEMFS={ops_table:null};').startswith("file systems")
    assert part_of("function _glClear(x){GLctx.clear(x)}").startswith("graphics")
    assert part_of("var _SDL_Init=flags=>0;").startswith("graphics")
    assert part_of("var SOCKFS={mount(){}};").startswith("sockets")
    assert part_of("var LDSO={loadedLibsByName:{}};").startswith("dynamic linking")
    assert part_of('_Py_emscripten_runtime.sig="i";').startswith("CPython")
    assert part_of("var wasmImports={glClear:_glClear};").startswith("wasm imports")
    assert part_of('var _malloc=a0=>(_malloc=wasmExports["malloc"])(a0);').startswith("wasm imports")
    assert part_of("var ___syscall_openat=(dirfd,path,flags,varargs)=>0;").startswith("syscalls")
    assert part_of("(()=>{function loadPackage(metadata){}})();").startswith("file packager")
    assert part_of("function run(){callMain()}") == breakdown.OTHER_JS


def test_the_document_keeps_its_own_words_around_the_generated_tables(tmp_path: Path):
    (tmp_path / "python.wasm").write_bytes(tiny_module())
    (tmp_path / "python.js").write_text(FAKE_LOADER)
    (tmp_path / "python.data").write_bytes(b"")
    report = breakdown.breakdown_of(tmp_path, breakdown.parse_nm(NM_OUTPUT, breakdown.component_of), note="test objects.")
    existing = f"# Sizes\n\nBefore issue 11.\n\n{breakdown.SIZES_START}\nold tables\n{breakdown.SIZES_END}\n\nAfter words.\n"
    document = breakdown.size_document("t", report, existing)
    assert document.startswith("# Sizes\n\nBefore issue 11.\n\n") and document.endswith("\n\nAfter words.\n")
    assert "old tables" not in document and "| CPython Modules/a |" in document and "**unattributed**" in document
    fresh = breakdown.size_document("t", report)
    assert fresh.startswith("# Size breakdown of `t`") and breakdown.SIZES_END in fresh
    json_report = breakdown.breakdown_json(report)
    assert json_report["python.wasm"]["code"]["unattributed"] == 0
    assert json_report["python.js"]["size"] == len(FAKE_LOADER)


def test_static_tables_are_read_from_objects_and_from_static_libraries():
    table = bytes(range(256)) * 3
    obj = b"\0asm\x01\0\0\0" + section(11, vector([b"\x00\x41" + uleb(0) + b"\x0b" + uleb(len(table)) + table,
                                                   b"\x00\x41" + uleb(0) + b"\x0b" + uleb(600) + b"\0" * 600]))
    member = b"sqlite3.o/".ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"644".ljust(8) \
        + str(len(obj)).encode().ljust(10) + b"`\n"
    archive = b"!<arch>\n" + member + obj + (b"\n" if len(obj) % 2 else b"")
    assert breakdown.ar_members(archive) == [("sqlite3.o", obj)]
    blobs = breakdown.static_blobs([("cpython/Modules/unicodedata.o", obj), ("prefix/libsqlite3.a", archive)])
    # The all-zero segment (.bss) is nobody's table.
    assert blobs == {"CPython Modules/unicodedata": [table], "sqlite": [table]}


def test_a_lone_export_among_another_object_s_functions_bounds_no_gap():
    # wasm-opt merged b_second's body with one of a.o's: its export sits among a.o's functions.
    # a.o: a_first, a_mid (hidden), a_last; b.o: b_first, b_second. Layout: a_first, [b_second],
    # a_mid?, a_last... The lone b_second must not cut a.o's run in two.
    objects = breakdown.parse_nm(
        "cpython/Python/a.o: 00000001 0000000c T a_first\ncpython/Python/a.o: 00000010 0000000c t a_static_1\n"
        "cpython/Python/a.o: 00000020 0000000c t a_static_2\ncpython/Python/a.o: 00000030 0000000c T a_last\n"
        "cpython/Objects/b.o: 00000001 0000000c T b_first\ncpython/Objects/b.o: 00000030 0000000c T b_second\n"
        "cpython/Objects/b.o: 00000040 0000000c T b_third\n",
        breakdown.component_of)
    module = breakdown.WasmModule(
        sections={}, function_imports=0, bodies=(10, 10, 10, 10, 10, 10),
        function_exports={0: ("a_first",), 1: ("b_second",), 3: ("a_last",), 4: ("b_first",), 5: ("b_third",)},
        global_exports={}, data_segments=())
    result = breakdown.attribute(module, objects)
    assert result.code == {"CPython Python/": 30, "CPython Objects/": 30}
    assert (result.anchors, result.anchors_in_order) == (4, 4)
