#!/bin/bash
# zlib as a static library for the SDK.
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
CFLAGS="$WF_CFLAGS" wf_configure ./configure --static --prefix="$WF_PREFIX"
wf_make libz.a
wf_make install
wf_log "installed $(ls "$WF_PREFIX/lib/libz.a")"
