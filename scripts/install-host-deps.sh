#!/usr/bin/env bash
# Installs what wasmforge needs on a Debian/Ubuntu host that already runs Docker Engine:
# debootstrap (toolchain images without a registry), chromium (browser tests), nodejs (node
# flavor tests), diffoscope (reproducibility reports), nix-bin (checks of the Nix rendering),
# docker-registry (OCI store tests), shellcheck (actionlint checks the CI workflow's scripts with
# it), docker-buildx >= 0.14 (`docker buildx bake` of docker-bake.hcl; from Debian unstable where
# the release has none or an older one: install-docker-buildx.sh), then the Python package with
# its test extra (which brings wasmtime for the WASI tests and actionlint). Run as root (or sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  debootstrap chromium nodejs diffoscope nix-bin docker-registry openssl shellcheck >/dev/null
bash "$(dirname "$0")/install-docker-buildx.sh"
python3 -m pip install -q -e ".[test]"
