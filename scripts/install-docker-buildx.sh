#!/usr/bin/env bash
# Installs Debian's docker-buildx (BuildKit's CLI plugin: `docker buildx bake`) from the host's
# own Debian archive, at version 0.14 or newer: docker-bake.hcl keeps every build step off the
# network with bake's `network = "none"`, which buildx added in 0.14; older versions ignore the
# attribute without a word (trixie's 0.13.1 does: its builds had a network). Bookworm (12) has no
# docker-buildx and trixie (13) has 0.13.1, so there this script adds Debian unstable's main suite
# (0.29.1 in 2026-12), from the same archive the host already uses, pinned so that apt takes
# docker-buildx alone from it and nothing else (every other package there gets priority -1: never
# installed, never an upgrade). docker-buildx is one static Go binary that needs only
# libc6 >= 2.34 (bookworm has 2.36); should unstable's ever need more, apt fails saying so rather
# than pulling in unstable's libc. apt checks the suite's signature with the host's
# debian-archive-keyring and the .deb's sha256 as for any package; not the Release file's one-week
# expiry, since the archive copies these machines reach lag behind unstable (as for the toolchain
# images: README, "SDKs and Python versions"), and an expired Release would fail every
# `apt-get update` on the host.
# Called by install-host-deps.sh; safe to run again. Run as root (or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

MIN_VERSION=0.14
SOURCE=/etc/apt/sources.list.d/wasmforge-docker-buildx.sources
PIN=/etc/apt/preferences.d/wasmforge-docker-buildx
# shellcheck source=/dev/null
. /etc/os-release

candidate() {
  apt-cache policy docker-buildx 2>/dev/null | sed -n 's/^ *Candidate: //p'
}

recent_enough() {
  local version
  version="$(candidate)"
  [ -n "$version" ] && [ "$version" != "(none)" ] && dpkg --compare-versions "$version" ge "$MIN_VERSION"
}

host_archive() {
  # The URI the host's apt already uses for its release's main component (no host name here).
  # shellcheck disable=SC2016  # $(REPO_URI) is apt's format field, not a shell expansion
  apt-get indextargets --format '$(REPO_URI)' "RELEASE: ${VERSION_CODENAME}" "COMPONENT: main" \
    "IDENTIFIER: Packages" | head -n 1
}

add_pinned_unstable() {
  if [ "${ID:-}" != debian ]; then
    echo "install-docker-buildx: ${PRETTY_NAME:-this system} has no docker-buildx >= ${MIN_VERSION}; install buildx ${MIN_VERSION} or newer from your distribution" >&2
    exit 1
  fi
  local archive
  archive="$(host_archive)"
  if [ -z "$archive" ]; then
    echo "install-docker-buildx: found no Debian archive for ${VERSION_CODENAME} main in apt's sources" >&2
    exit 1
  fi
  cat >"$SOURCE" <<SOURCES
# Added by wasmforge's scripts/install-docker-buildx.sh for docker-buildx alone (see $PIN).
Types: deb
URIs: ${archive}
Suites: unstable
Components: main
Architectures: $(dpkg --print-architecture)
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
Check-Valid-Until: no
SOURCES
  cat >"$PIN" <<PINS
# wasmforge: docker-buildx >= ${MIN_VERSION} from unstable (bookworm has none, trixie 0.13.1), and nothing else.
Package: *
Pin: release a=unstable
Pin-Priority: -1

Package: docker-buildx
Pin: release a=unstable
Pin-Priority: 990
PINS
  apt-get update -qq
}

if ! recent_enough; then
  add_pinned_unstable
fi
if ! recent_enough; then
  echo "install-docker-buildx: the archive offers docker-buildx $(candidate); wasmforge needs ${MIN_VERSION} or newer" >&2
  exit 1
fi
apt-get install -y -qq --no-install-recommends docker-buildx >/dev/null
docker buildx version
