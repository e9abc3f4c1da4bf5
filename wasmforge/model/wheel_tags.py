"""Which wheels an artifact can load: its platform (what `sysconfig.get_platform()` says inside
it), its Python tag and ABI, and the one check an install makes before it writes anything.

The platform is worked out the way CPython's sysconfig does for an Emscripten interpreter,
`f"{osname}-{release}-{machine}"` from `os.uname()`, where emscripten's uname gives the SDK
version it was linked with as the release; tests/test_xbuildenv.py checks the formula against
the interpreter itself. A wheel tag is that string with `-` and `.` replaced by `_`, as
setuptools' bdist_wheel and `packaging` write it.
"""

from dataclasses import dataclass

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wasmforge.core.errors import WheelError
from wasmforge.model.matrix import Target

ANY_PLATFORM = "any"


@dataclass(frozen=True, kw_only=True)
class ArtifactTags:
    """What a wheel must be built for to load in one artifact."""

    target_id: str
    platform: str  # sysconfig.get_platform(): emscripten-3.1.69-wasm32
    python: str  # cp313
    abi: str  # cp313, or cp313d for a --with-pydebug build

    @property
    def platform_tag(self) -> str:
        return wheel_platform_tag(self.platform)

    @property
    def wheel_tag(self) -> str:
        """The one tag our wheels carry: cp313-cp313-emscripten_3_1_69_wasm32."""
        return f"{self.python}-{self.abi}-{self.platform_tag}"


def wheel_platform_tag(platform: str) -> str:
    return platform.replace("-", "_").replace(".", "_")


def emscripten_platform(sdk_version: str) -> str:
    return f"emscripten-{sdk_version}-wasm32"


def artifact_tags(target: Target) -> ArtifactTags:
    """The tags of an emscripten target's wheels; a WheelError for any other SDK."""
    if target.sdk.kind != "emscripten":
        raise WheelError(f"{target.id}: wheels with extension modules are built for emscripten targets only (this is {target.sdk.kind})")
    major, minor = target.python.version.split(".")[:2]
    python = f"cp{major}{minor}"
    return ArtifactTags(
        target_id=target.id,
        platform=emscripten_platform(target.sdk.version),
        python=python,
        abi=python + ("d" if target.has_flag("debug") else ""),
    )


def check_wheel_fits(file_name: str, tags: ArtifactTags) -> None:
    """Raise a one-line WheelError naming the file unless one of its tags loads in the artifact:
    the artifact's platform (or `any`), its Python (or a pure `py3`), its ABI (or abi3/none)."""
    try:
        _, _, _, wheel_tags = parse_wheel_filename(file_name)
    except InvalidWheelFilename as exc:
        raise WheelError(f"{file_name}: not a wheel file name ({exc})") from None
    if not any(tag.platform in (tags.platform_tag, ANY_PLATFORM) for tag in wheel_tags):
        platforms = ", ".join(sorted({tag.platform for tag in wheel_tags}))
        raise WheelError(f"{file_name}: built for platform {platforms}, but {tags.target_id} loads {tags.platform_tag} (or any)")
    if not any(_fits_python(tag, tags) for tag in wheel_tags):
        found = ", ".join(sorted({f"{tag.interpreter}-{tag.abi}" for tag in wheel_tags}))
        raise WheelError(f"{file_name}: built for Python/ABI {found}, but {tags.target_id} is {tags.python}-{tags.abi}")


def _fits_python(tag: Tag, tags: ArtifactTags) -> bool:
    major = tags.python[2]
    interpreter_ok = tag.interpreter in (tags.python, f"py{major}", f"py{tags.python[2:]}")
    if tag.abi == "none":
        return interpreter_ok
    if tag.abi == "abi3":
        # abi3 of an older minor loads in a newer CPython; a debug build has no stable ABI.
        return _cpython_minor(tag.interpreter) is not None and _cpython_minor(tag.interpreter) <= _cpython_minor(tags.python) \
            and not tags.abi.endswith("d")
    return interpreter_ok and tag.abi == tags.abi


def _cpython_minor(interpreter: str) -> int | None:
    """cp313 -> 13; None for anything that is not a CPython 3 tag."""
    if not interpreter.startswith("cp3") or not interpreter[3:].isdigit():
        return None
    return int(interpreter[3:])
