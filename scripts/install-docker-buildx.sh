#!/usr/bin/env bash
# Installs Debian's docker-buildx (BuildKit's CLI plugin: `docker buildx bake`) from the host's
# own Debian archive. Debian ships it from trixie (13) on; bookworm (12) has no such package, so
# there this script adds trixie's main suite, from the same archive the host already uses, pinned
# so that apt takes docker-buildx alone from it and nothing else (every other trixie package gets
# priority -1: never installed, never an upgrade). docker-buildx is one static Go binary that
# needs only libc6 >= 2.34 (bookworm has 2.36); apt checks the suite's signature with the host's
# debian-archive-keyring (which holds trixie's keys) and the .deb's sha256 as for any package.
# Called by install-host-deps.sh; safe to run again. Run as root (or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SOURCE=/etc/apt/sources.list.d/wasmforge-trixie-buildx.sources
PIN=/etc/apt/preferences.d/wasmforge-trixie-buildx
# shellcheck source=/dev/null
. /etc/os-release

has_candidate() {
  apt-cache policy docker-buildx 2>/dev/null | grep -q 'Candidate: [^(]'
}

host_archive() {
  # The URI the host's apt already uses for its release's main component (no host name here).
  # shellcheck disable=SC2016  # $(REPO_URI) is apt's format field, not a shell expansion
  apt-get indextargets --format '$(REPO_URI)' "RELEASE: ${VERSION_CODENAME}" "COMPONENT: main" \
    "IDENTIFIER: Packages" | head -n 1
}

add_pinned_trixie() {
  if [ "${ID:-}" != debian ]; then
    echo "install-docker-buildx: ${PRETTY_NAME:-this system} has no docker-buildx package; install the buildx plugin from your distribution" >&2
    exit 1
  fi
  local archive
  archive="$(host_archive)"
  if [ -z "$archive" ]; then
    echo "install-docker-buildx: found no Debian archive for ${VERSION_CODENAME} main in apt's sources" >&2
    exit 1
  fi
  cat >"$SOURCE" <<EOF
# Added by wasmforge's scripts/install-docker-buildx.sh for docker-buildx alone (see $PIN).
Types: deb
URIs: ${archive}
Suites: trixie
Components: main
Architectures: $(dpkg --print-architecture)
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$PIN" <<EOF
# wasmforge: take docker-buildx from trixie (bookworm has none), and nothing else.
Package: *
Pin: release n=trixie
Pin-Priority: -1

Package: docker-buildx
Pin: release n=trixie
Pin-Priority: 500
EOF
  apt-get update -qq
}

if ! has_candidate; then
  add_pinned_trixie
fi
apt-get install -y -qq --no-install-recommends docker-buildx >/dev/null
docker buildx version
