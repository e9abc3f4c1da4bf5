# Sourced by every recipe script, in Docker and in Nix alike: the shared determinism controls
# and the SDK's compiler wrappers. Inputs come from the environment (WF_*), never from the host.
set -euo pipefail
umask 022
export TZ=UTC LC_ALL=C.UTF-8 LANG=C.UTF-8 PYTHONHASHSEED=0
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set by the caller}"
: "${WF_NAME:?}" "${WF_SOURCE:?}" "${WF_PREFIX:?}" "${WF_BUILD:?}" "${WF_SDK:?}"
export SOURCE_DATE_EPOCH
WF_JOBS="${WF_JOBS:-2}"
WF_CFLAGS="${WF_CFLAGS:-}"
WF_LDFLAGS="${WF_LDFLAGS:-}"
WF_CONFIGURE_ARGS="${WF_CONFIGURE_ARGS:-}"
WF_MAKE_ARGS="${WF_MAKE_ARGS:-}"
# Keep the build directory out of __FILE__ strings and debug info.
WF_CFLAGS="$WF_CFLAGS -ffile-prefix-map=$WF_BUILD=/wasmforge/src/$WF_NAME"

case "$WF_SDK" in
  emscripten)
    WF_HOST=wasm32-unknown-emscripten
    WF_CONFIGURE_WRAPPER=emconfigure
    WF_MAKE_WRAPPER=emmake
    export CC=emcc AR=emar RANLIB=emranlib
    ;;
  wasi)
    WF_HOST=wasm32-unknown-wasi
    WF_CONFIGURE_WRAPPER=
    WF_MAKE_WRAPPER=
    export CC="${WF_WASI_CC:-clang-19 --target=wasm32-wasi}" AR="${WF_WASI_AR:-llvm-ar-19}" RANLIB="${WF_WASI_RANLIB:-llvm-ranlib-19}"
    ;;
  *) echo "wasmforge: unknown SDK '$WF_SDK'" >&2; exit 2 ;;
esac

wf_log() { echo "[wasmforge] $WF_NAME: $*"; }

# Unpack the pinned source into a fresh $WF_BUILD and enter it.
wf_unpack() {
  rm -rf "$WF_BUILD"
  mkdir -p "$WF_BUILD"
  tar -xf "$WF_SOURCE" -C "$WF_BUILD" --strip-components=1 --no-same-owner
  cd "$WF_BUILD"
  wf_log "unpacked $(basename "$WF_SOURCE")"
}

wf_configure() {
  # shellcheck disable=SC2086 # flag lists are space-separated by design
  $WF_CONFIGURE_WRAPPER "$@" $WF_CONFIGURE_ARGS
}

wf_make() {
  # shellcheck disable=SC2086
  $WF_MAKE_WRAPPER make -j"$WF_JOBS" $WF_MAKE_ARGS "$@"
}
