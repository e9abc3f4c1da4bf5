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


class PublishError(WasmforgeError):
    """A dist directory cannot be published as it is (inconsistent, wrong target, read-only store)."""

    exit_code = 13


class SignatureError(WasmforgeError):
    """A signature does not verify with the pinned key, or a key file is missing or malformed."""

    exit_code = 14


class StoreError(WasmforgeError):
    """A store cannot be reached, or lacks a file that the signed index lists."""

    exit_code = 15


class ReleaseIndexError(WasmforgeError):
    """A signed index is malformed or unsafe (schema violation, path-like file names, duplicates)."""

    exit_code = 16


class StaleIndexError(WasmforgeError):
    """An index has expired, or is older than one already seen (a rollback)."""

    exit_code = 17


class ReleaseNotFoundError(WasmforgeError):
    """The store has no release for the requested target or version."""

    exit_code = 18


class PullError(WasmforgeError):
    """A pull cannot write its destination (it exists and --force was not given)."""

    exit_code = 19


class RuntimeUnavailableError(WasmforgeError):
    """The runtime an artifact needs (Chromium, Playwright, Node) is missing or not supported yet."""

    exit_code = 20


class RegrtestError(WasmforgeError):
    """CPython's test suite could not be run or gave no results (a crash, a timeout, a bad list)."""

    exit_code = 21


class BenchError(WasmforgeError):
    """A benchmark could not measure what it was asked to (a missing artifact or reference)."""

    exit_code = 22


class LockError(WasmforgeError):
    """Another process holds a lock (a destination, the pull state, a store) for longer than the wait."""

    exit_code = 23


class StoreIdentityError(WasmforgeError):
    """A URL now serves another store than the one this machine, or this publisher, found there."""

    exit_code = 24


class BudgetError(WasmforgeError):
    """An artifact is larger than a size budget of its matrix entry (the report is printed first)."""

    exit_code = 25


class XbuildenvError(WasmforgeError):
    """A cross-build environment cannot be made for a target (no build image, another build's image, no dynamic linking)."""

    exit_code = 26


class WheelError(WasmforgeError):
    """A wheel cannot be built or installed (no lock entry, no extension module built, another platform or Python)."""

    exit_code = 27
