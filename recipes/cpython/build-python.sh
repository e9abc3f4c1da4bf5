#!/bin/bash
# Step 1: unpack CPython and build a native interpreter of the same version; the cross build
# runs it to generate code, freeze modules and compile the stdlib.
. "$(dirname "$0")/../lib/common.sh"
wf_unpack
mkdir -p builddir/build && cd builddir/build
CC=gcc ../../configure -C --prefix="$WF_BUILD/builddir/build-prefix" >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
make -j"$WF_JOBS" >make.log 2>&1 || { tail -40 make.log; exit 1; }
wf_log "build python: $(./python -c 'import sys; print(sys.version.split()[0])')"
