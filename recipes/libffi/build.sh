#!/bin/bash
# Debian's orig tarball is upstream's git tree without a generated configure: run autoreconf
# with the locked toolchain's autotools (deterministic for a fixed toolchain).
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
autoreconf -fi >/dev/null 2>&1
CFLAGS="$WF_CFLAGS" wf_configure ./configure --host="$WF_HOST" --prefix="$WF_PREFIX"
wf_make
wf_make install
wf_log "installed libffi.a"
