#!/bin/bash
# Debian's orig tarball is sqlite's full source tree, not the amalgamation: generate sqlite3.c
# with the native compiler and tclsh, then compile that one file for the SDK.
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
mkdir -p native && cd native
CC=gcc ../configure --disable-tcl >/dev/null
make sqlite3.c sqlite3.h
wf_log "generated the amalgamation"
# shellcheck disable=SC2086
$CC $WF_CFLAGS -c sqlite3.c -o sqlite3.o
rm -f libsqlite3.a
$AR rcs libsqlite3.a sqlite3.o
install -D -m 644 libsqlite3.a "$WF_PREFIX/lib/libsqlite3.a"
install -D -m 644 sqlite3.h "$WF_PREFIX/include/sqlite3.h"
wf_log "installed libsqlite3.a"
