#!/bin/bash
# liblzma only: the xz command-line tools are of no use inside CPython.
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
CFLAGS="$WF_CFLAGS" wf_configure ./configure --host="$WF_HOST" --prefix="$WF_PREFIX"
wf_make -C src/liblzma
wf_make -C src/liblzma install
wf_log "installed liblzma.a"
