"""Imports from the stdlib packs that wasmforge's browser build fetches on demand.

The browser artifact preloads only the core of the stdlib (python.data); every other top-level
module or package is a zip in packs/, which the loader (browser-packs.pre.js) puts in the file
system at /usr/local/lib/wasmforge-packs: in a Web Worker and under Node as files that fetch
themselves when first read, on a page's main thread (which cannot fetch synchronously) only once
`Module.loadPackages(...)` or `Module.loadPackagesFromImports(code)` has fetched them.

This finder comes after the path finder on sys.meta_path, so a module found anywhere on sys.path
wins; site imports it through sitecustomize (so `python -S` has the core only).
"""

import sys
import zipimport

from _wasmforge_pack_index import EXTENSIONS, PACKS

PACK_DIR = "/usr/local/lib/wasmforge-packs"


class PackFinder:
    """Finds a top-level stdlib module in its pack; its submodules then come from the pack's zip."""

    def __init__(self) -> None:
        self._importers: dict[str, zipimport.zipimporter] = {}

    def find_spec(self, fullname, path=None, target=None):
        if path is None and fullname in EXTENSIONS:
            # Loaded, a side module is a file in lib-dynload that the path finder has found.
            raise ModuleNotFoundError(
                f"No module named {fullname!r} here yet: it is a side module in the stdlib packs, which is not "
                f"loaded (on a page's main thread, await Module.loadPackages([{fullname!r}]) or "
                f"Module.loadPackagesFromImports(code) before running the code)",
                name=fullname,
            )
        if path is not None or fullname not in PACKS:
            return None
        importer = self._importers.get(fullname)
        if importer is None:
            importer = self._open(fullname)
            self._importers[fullname] = importer
        return importer.find_spec(fullname)

    def invalidate_caches(self) -> None:
        self._importers.clear()

    @staticmethod
    def _open(name):
        path = f"{PACK_DIR}/{name}.zip"
        try:
            return zipimport.zipimporter(path)
        except (zipimport.ZipImportError, OSError) as error:
            raise ModuleNotFoundError(
                f"No module named {name!r} here yet: it is in the stdlib pack {path}, which is not loaded "
                f"(on a page's main thread, await Module.loadPackages([{name!r}]) or "
                f"Module.loadPackagesFromImports(code) before running the code) [{error}]",
                name=name,
            ) from None


def install() -> None:
    if not any(isinstance(finder, PackFinder) for finder in sys.meta_path):
        sys.meta_path.append(PackFinder())
