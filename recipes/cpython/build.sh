#!/bin/bash
# Step 2: cross-compile CPython against the libraries the other recipes installed in
# $WF_PREFIX, make the stdlib deterministic and lay out the flavor's artifacts in $WF_OUT.
. "$(dirname "$0")/../lib/common.sh"
RECIPE_DIR="$(cd "$(dirname "$0")" && pwd)"
cd "$WF_BUILD"
: "${WF_OUT:?}" "${WF_FLAVOR:?}"
case " $WF_FLAGS " in
  # Tools/wasm/wasm_assets.py knows only the release build's sysconfigdata name.
  *" debug "*) patch -p1 --quiet --forward <"$RECIPE_DIR/wasm-assets-pydebug.patch" ;;
esac
BUILD_PYTHON="$WF_BUILD/builddir/build/python"
HOST_DIR="$WF_BUILD/builddir/host"
rm -rf "$HOST_DIR" && mkdir -p "$HOST_DIR" && cd "$HOST_DIR"

# Passing *_CFLAGS/*_LIBS makes configure use our libraries instead of emscripten ports, which
# would download at build time.
P="$WF_PREFIX"
export ZLIB_CFLAGS="-I$P/include" ZLIB_LIBS="-L$P/lib -lz"
export BZIP2_CFLAGS="-I$P/include" BZIP2_LIBS="-L$P/lib -lbz2"
export LIBLZMA_CFLAGS="-I$P/include" LIBLZMA_LIBS="-L$P/lib -llzma"
export LIBSQLITE3_CFLAGS="-I$P/include" LIBSQLITE3_LIBS="-L$P/lib -lsqlite3"
export LIBMPDEC_CFLAGS="-I$P/include" LIBMPDEC_LIBS="-L$P/lib -lmpdec"
export PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/nonexistent
export CFLAGS="$WF_CFLAGS" LDFLAGS="$WF_LDFLAGS"

case "$WF_SDK" in
  emscripten)
    # libffi (for ctypes) is an emscripten-only dependency of this recipe.
    export LIBFFI_CFLAGS="-I$P/include" LIBFFI_LIBS="-L$P/lib -lffi"
    export CONFIG_SITE="$WF_BUILD/Tools/wasm/config.site-wasm32-emscripten"
    ;;
  wasi) export CONFIG_SITE="$WF_BUILD/Tools/wasm/config.site-wasm32-wasi" CPP="$CC -E" ;;
esac
FREEZE_MAKE_ARGS=()
if [ "$WF_FLAVOR" = browser ]; then
  # The loader half of the stdlib packs (Module.loadPackages; files that fetch on first read) and
  # of asyncio on the page's main thread (Module.runPythonAsync).
  LDFLAGS="$LDFLAGS --pre-js=$RECIPE_DIR/browser-packs.pre.js --pre-js=$RECIPE_DIR/browser-webloop.pre.js"
  # The modules frozen into python.wasm (os, site, importlib's bootstrap, ...) are compiled by the
  # build Python (Programs/_freeze_module.py): without column positions, like the stdlib zip, a
  # fifth fewer brotli bytes of python.wasm's data (docs/size-breakdown.md, step 4).
  FREEZE_MAKE_ARGS=("PYTHON_FOR_FREEZE=$BUILD_PYTHON -X no_debug_ranges")
fi
if [ "$WF_FLAVOR" = node ]; then
  # Emscripten 3.1.69's NODERAWFS cannot fstat fds 0-2, so CPython would start without
  # sys.stdout: the loader gets a fix for its standard streams (see the file).
  LDFLAGS="$LDFLAGS --pre-js=$RECIPE_DIR/node-stdio.pre.js"
fi

# Setup.local is read before Setup.stdlib and the first rule for a module wins: the modules of
# side-modules.txt, under *shared*, are linked with BLDSHARED (-sSIDE_MODULE=1) instead of into
# python.wasm. Their rules are Setup.stdlib.in's, so they keep configure's flags and libraries.
SIDE_MODULES=()
SIDE_MODULE_MAKE_ARGS=()
case " $WF_FLAGS " in
  *" side-modules "*)
    mapfile -t SIDE_MODULES < <(grep -v -e '^#' -e '^$' "$RECIPE_DIR/side-modules.txt")
    mkdir -p Modules
    echo "*shared*" >Modules/Setup.local
    for module in "${SIDE_MODULES[@]}"; do
      marker="@MODULE_$(echo "$module" | tr '[:lower:]' '[:upper:]')_TRUE@"
      rule=$(sed -n "s/^$marker\($module .*\)/\1/p" "$WF_BUILD/Modules/Setup.stdlib.in")
      [ -n "$rule" ] || { echo "wasmforge: side-modules.txt: $module has no rule in Modules/Setup.stdlib.in" >&2; exit 2; }
      echo "$rule" >>Modules/Setup.local
    done
    # configure links the main module with -O2 -g0 (LINKFORSHARED) and -sWASM_BIGINT
    # (LDFLAGS_NODIST) but gives BLDSHARED none of them: -g0 keeps the objects' DWARF (and its build
    # paths) out of a side module, -O2 runs wasm-opt, and without -sWASM_BIGINT the side module
    # imports every i64 function split in two, which the main module's exports do not match.
    SIDE_MODULE_MAKE_ARGS=("BLDSHARED=\$(CC) -shared -sSIDE_MODULE=1 -sWASM_BIGINT -O2 -g0")
    ;;
esac

wf_log "configure (every link test is a full wasm link: this is the slow part)"
wf_configure ../../configure -C --host="$WF_HOST" --build="$(../../config.guess)" \
  --with-build-python="$BUILD_PYTHON" >configure.log 2>&1 || { tail -40 configure.log; exit 1; }
wf_log "make"
wf_make "${SIDE_MODULE_MAKE_ARGS[@]}" "${FREEZE_MAKE_ARGS[@]}" >make.log 2>&1 || { tail -60 make.log; exit 1; }

# make's stdlib zip has build-time timestamps and build paths in co_filename: rewrite it as a
# pure function of the sources. make leaves rlcompleter out (there is no readline), but pdb
# imports it, and doctest imports pdb. It leaves concurrent/futures/thread.py out too (wasm has
# no threads), which a pthreads build has: ThreadPoolExecutor and asyncio.to_thread need it.
# Extra arguments go to the script (--stored).
ADDED_MODULES=(--add rlcompleter.py)
case " $WF_FLAGS " in
  *" pthreads "*) ADDED_MODULES+=(--add concurrent/futures/thread.py) ;;
esac
BUILD_PYTHON_FLAGS=()
normalize_stdlib_zip() {
  local zip
  zip=$(ls usr/local/lib/python3*.zip)
  wf_log "normalising $zip"
  "$BUILD_PYTHON" "${BUILD_PYTHON_FLAGS[@]}" "$RECIPE_DIR/normalize_stdlib_zip.py" --zip "$zip" --srcdir "$WF_BUILD" \
    --builddir "$HOST_DIR/$(cat pybuilddir.txt)" --prefix /usr/local "${ADDED_MODULES[@]}" "$@"
}

mkdir -p "$WF_OUT"
case "$WF_SDK/$WF_FLAVOR" in
  emscripten/browser)
    # python.data embeds the zip: link again so the loader and the data bundle hold the
    # normalised one, cut down to the start-up core; every other top-level module becomes a pack
    # in packs/, fetched on first import (stdlib_packs.py). The core and the packs are stored, not
    # deflated: a server sends them gzip- or brotli-compressed, and one stream over all members
    # compresses better than each alone (brotli gains a fifth more). The modules frozen into
    # python.wasm are left out: with frozen modules on, their zip copies are never read.
    # Bytecode without column positions: a quarter less to download, and a traceback through a
    # zip has no source line for the carets anyway (docs/size-breakdown.md, step 4).
    rm -rf packs usr/local/lib/wasmforge-packs
    SIDE_MODULE_ARGS=()
    for module in "${SIDE_MODULES[@]}"; do
      so=$(ls Modules/"$module".cpython-*.so)
      SIDE_MODULE_ARGS+=(--side-module "$so")
    done
    # The build Python runs in its build tree, where frozen modules are off unless asked for.
    BUILD_PYTHON_FLAGS=(-X no_debug_ranges -X frozen_modules=on)
    normalize_stdlib_zip --stored --no-column-positions --packs "$HOST_DIR/packs" "${SIDE_MODULE_ARGS[@]}" \
      --extra "_wasmforge_packs=$RECIPE_DIR/browser_packs_finder.py" \
      --extra "sitecustomize=$RECIPE_DIR/browser_packs_sitecustomize.py" \
      --extra "_wasmforge_webloop=$RECIPE_DIR/browser_webloop.py"
    install -D -m 644 packs/index.json usr/local/lib/wasmforge-packs/index.json
    rm -f python.js python.wasm python.data python.worker.js
    # The Makefile links with configure's LDFLAGS twice (CONFIGURE_LDFLAGS and LDFLAGS), which
    # would put the browser's --pre-js files into python.js twice: once is enough.
    wf_make python.js LDFLAGS= "${FREEZE_MAKE_ARGS[@]}" >>make.log 2>&1 || { tail -40 make.log; exit 1; }
    for artifact in python.js python.wasm python.data python.worker.js python.wasm.map; do
      if [ -f "$artifact" ]; then install -m 644 "$artifact" "$WF_OUT/$artifact"; fi
    done
    install -d -m 755 "$WF_OUT/packs"
    install -m 644 packs/*.zip packs/index.json "$WF_OUT/packs/"
    if [ "${#SIDE_MODULES[@]}" -gt 0 ]; then install -m 644 packs/*.wasm "$WF_OUT/packs/"; fi
    ;;
  emscripten/node)
    # NODERAWFS reads the stdlib from the host's file system. Ship the same pyc zip and the
    # landmarks CPython's getpath looks for next to python.js: lib/python313.zip sets the
    # prefix, lib/python3.13/lib-dynload the exec prefix.
    wf_make wasm_stdlib >>make.log 2>&1 || { tail -40 make.log; exit 1; }
    normalize_stdlib_zip
    install -m 644 python.js python.wasm "$WF_OUT/"
    (cd usr/local && find lib -type f | LC_ALL=C sort) | while read -r asset; do
      install -D -m 644 "usr/local/$asset" "$WF_OUT/$asset"
    done
    ;;
  wasi/*)
    # DWARF makes python.wasm four times larger and embeds build paths: strip it.
    llvm-strip-19 -o "$WF_OUT/python.wasm" python.wasm
    chmod 644 "$WF_OUT/python.wasm"
    "$BUILD_PYTHON" "$RECIPE_DIR/stdlib_tar.py" --srcdir "$WF_BUILD" \
      --builddir "$HOST_DIR/$(cat pybuilddir.txt)" --out "$WF_OUT/python-stdlib.tar.gz"
    ;;
  *) echo "wasmforge: cpython has no layout for $WF_SDK/$WF_FLAVOR" >&2; exit 2 ;;
esac
wf_log "artifacts: $(cd "$WF_OUT" && find . -type f | LC_ALL=C sort | tr '\n' ' ')"
