"""Everything a task needs, loaded and validated once: matrix, recipes, toolchain locks, cache."""

from dataclasses import dataclass
from pathlib import Path

from wasmforge.core.cache import ContentCache
from wasmforge.model.matrix import Matrix, Target, load_matrix
from wasmforge.model.paths import ProjectPaths
from wasmforge.model.recipes import RecipeBook
from wasmforge.model.toolchains import ToolchainLock, ToolchainSpec, load_lock, load_spec


@dataclass(frozen=True, kw_only=True)
class Workspace:
    paths: ProjectPaths
    matrix: Matrix
    book: RecipeBook
    cache: ContentCache

    @classmethod
    def load(cls, root: Path | None = None, cache_dir: Path | None = None, matrix_path: Path | None = None) -> "Workspace":
        paths = ProjectPaths.discover(root=root, cache=cache_dir)
        matrix = load_matrix(
            matrix_path or paths.matrix, paths.schemas / "matrix.schema.json", paths.recipes, paths.toolchains
        )
        book = RecipeBook(paths.recipes, paths.schemas / "recipe.schema.json")
        return cls(paths=paths, matrix=matrix, book=book, cache=ContentCache(paths.cache))

    def toolchain_spec(self, target: Target) -> ToolchainSpec:
        return load_spec(self.paths.toolchains / f"{target.sdk.toolchain}.json")

    def toolchain_lock(self, target: Target) -> ToolchainLock:
        return load_lock(self.toolchain_spec(target).lock_path)

    def all_locks(self) -> dict[str, ToolchainLock]:
        names = sorted({t.sdk.toolchain for t in self.matrix.targets})
        return {name: load_lock(self.paths.toolchains / f"{name}.lock.json") for name in names}

    @property
    def workdir(self) -> Path:
        return self.paths.cache / "work"
