#!/bin/bash
# bzip2 has no configure; build the library and install the header by hand.
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
wf_make libbz2.a CC="$CC" AR="$AR" RANLIB="$RANLIB" CFLAGS="$WF_CFLAGS -D_FILE_OFFSET_BITS=64"
install -D -m 644 libbz2.a "$WF_PREFIX/lib/libbz2.a"
install -D -m 644 bzlib.h "$WF_PREFIX/include/bzlib.h"
wf_log "installed libbz2.a"
