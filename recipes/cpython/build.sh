#!/bin/bash
# Step 2: cross-compile CPython against the libraries the other recipes installed in
# $WF_PREFIX, then make the stdlib bundle deterministic and link the final artifacts.
. "$(dirname "$0")/../lib/common.sh"
cd "$WF_BUILD"
: "${WF_OUT:?}" "${WF_FLAVOR:?}"
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
export LIBFFI_CFLAGS="-I$P/include" LIBFFI_LIBS="-L$P/lib -lffi"
export LIBMPDEC_CFLAGS="-I$P/include" LIBMPDEC_LIBS="-L$P/lib -lmpdec"
export PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/nonexistent
export CFLAGS="$WF_CFLAGS" LDFLAGS="$WF_LDFLAGS"

case "$WF_SDK" in
  emscripten) export CONFIG_SITE="$WF_BUILD/Tools/wasm/config.site-wasm32-emscripten" ;;
  wasi) export CONFIG_SITE="$WF_BUILD/Tools/wasm/config.site-wasm32-wasi" CPP="$CC -E" ;;
esac

wf_log "configure (every link test is a full wasm link: this is the slow part)"
wf_configure ../../configure -C --host="$WF_HOST" --build="$(../../config.guess)" \
  --with-build-python="$BUILD_PYTHON" >configure.log 2>&1 || { tail -40 configure.log; exit 1; }
wf_log "make"
wf_make >make.log 2>&1 || { tail -60 make.log; exit 1; }

# The stdlib zip that make wrote has build-time timestamps and build paths in co_filename:
# rewrite it deterministically, then link again so the loader and data bundle embed it.
ZIP=$(ls usr/local/lib/python3*.zip 2>/dev/null || true)
if [ -n "$ZIP" ]; then
  wf_log "normalising $ZIP"
  "$BUILD_PYTHON" "$(dirname "$0")/normalize_stdlib_zip.py" --zip "$ZIP" --srcdir "$WF_BUILD" \
    --builddir "$HOST_DIR/$(cat pybuilddir.txt)" --prefix /usr/local
  rm -f python.js python.wasm python.data python.worker.js
  wf_make python.js >>make.log 2>&1 || { tail -40 make.log; exit 1; }
fi

mkdir -p "$WF_OUT"
for artifact in python.js python.wasm python.data python.worker.js python.wasm.map; do
  if [ -f "$artifact" ]; then install -m 644 "$artifact" "$WF_OUT/$artifact"; fi
done
wf_log "artifacts: $(cd "$WF_OUT" && ls | tr '\n' ' ')"
