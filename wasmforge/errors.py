"""One error hierarchy; each kind of failure has its own exit code.

Only the task layer (tasks.py) catches these and turns them into a one-line message.
"""


class WasmforgeError(Exception):
    exit_code = 1


class MatrixError(WasmforgeError):
    """matrix.json (or a recipe) is malformed or inconsistent."""

    exit_code = 2


class UnknownTargetError(WasmforgeError):
    exit_code = 3


class ExcludedTargetError(WasmforgeError):
    exit_code = 4


class RecipeError(WasmforgeError):
    exit_code = 5


class FetchError(WasmforgeError):
    exit_code = 6


class IntegrityError(FetchError):
    """A file's size or sha256 is not what its pin says."""

    exit_code = 7


class ToolchainError(WasmforgeError):
    exit_code = 8


class BuildError(WasmforgeError):
    exit_code = 9


class RenderError(WasmforgeError):
    exit_code = 10


class ReproducibilityError(WasmforgeError):
    exit_code = 11


class ManifestError(WasmforgeError):
    exit_code = 12
