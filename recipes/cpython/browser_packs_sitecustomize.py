"""Installed as sitecustomize in wasmforge's browser build: the stdlib modules outside the preloaded core import from packs."""

import _wasmforge_packs

_wasmforge_packs.install()
