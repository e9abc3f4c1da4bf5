#!/bin/bash
# libmpdec for the _decimal module (CPython 3.13 prefers a system libmpdec).
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
CFLAGS="$WF_CFLAGS" wf_configure ./configure --host="$WF_HOST" --prefix="$WF_PREFIX"
wf_make -C libmpdec libmpdec.a
install -D -m 644 libmpdec/libmpdec.a "$WF_PREFIX/lib/libmpdec.a"
install -D -m 644 libmpdec/mpdecimal.h "$WF_PREFIX/include/mpdecimal.h"
wf_log "installed libmpdec.a"
