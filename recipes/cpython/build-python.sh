#!/bin/bash
# Step 1: unpack CPython and build a native interpreter of the same version; the cross build
# runs it to generate code, freeze modules and compile the stdlib.
. "$(dirname "$0")/../lib/common.sh"
RECIPE_DIR="$(cd "$(dirname "$0")" && pwd)"
wf_unpack
# asyncio's default loop needs socketpair(), which emscripten and WASI lack: give it one that
# waits without (wasm_asyncio.py). The native build Python ignores it (the patch checks the platform).
install -m 644 "$RECIPE_DIR/wasm_asyncio.py" Lib/_wasmforge_asyncio.py
patch -p1 --quiet --forward <"$RECIPE_DIR/asyncio-socketless-loop.patch"
mkdir -p builddir/build && cd builddir/build
CC=gcc ../../configure -C --prefix="$WF_BUILD/builddir/build-prefix" >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
make -j"$WF_JOBS" >make.log 2>&1 || { tail -40 make.log; exit 1; }
wf_log "build python: $(./python -c 'import sys; print(sys.version.split()[0])')"
