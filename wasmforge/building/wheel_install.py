"""`invoke install-wheel`: wheels unpacked into the site-packages directory of a node artifact.

The node flavor's interpreter takes the directory of python.js as its prefix, so `site` adds
<dir>/lib/python3.X/site-packages to sys.path when that directory exists: installing is
unpacking there. The destination is a copy of dist/<target-id>/ (made when it does not exist
yet), so the built artifact stays what its manifest says. Each wheel is checked first: its tags
must fit the artifact (wheel_tags.check_wheel_fits) and every file must match its RECORD line;
it is unpacked into a temporary directory beside site-packages and moved in only when whole.
"""

import csv
import io
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from wasmforge.building.wheel_archive import record_hash
from wasmforge.core import log
from wasmforge.core.errors import WheelError
from wasmforge.model.manifest import MANIFEST, read_manifest
from wasmforge.model.wheel_tags import ArtifactTags, check_wheel_fits


def site_packages(prefix: Path, python_version: str) -> Path:
    major_minor = ".".join(python_version.split(".")[:2])
    return prefix / "lib" / f"python{major_minor}" / "site-packages"


def prepare_prefix(dist: Path, dest: Path, target_id: str) -> None:
    """`dest` as a runnable copy of the artifact in `dist`: copied when absent, else checked to be
    a copy of that target."""
    if not dest.exists():
        if not (dist / MANIFEST).is_file():
            raise WheelError(f"{dist}: no artifact; run `invoke build --target {target_id}` first")
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        shutil.rmtree(staging)
        shutil.copytree(dist, staging)
        staging.rename(dest)
        log.detail(f"copied {dist} to {dest}")
        return
    manifest = dest / MANIFEST
    if not (dest / "python.js").is_file() or not manifest.is_file():
        raise WheelError(f"{dest}: not a node artifact directory (no python.js and {MANIFEST}); give a new directory")
    found = read_manifest(manifest).target["id"]
    if found != target_id:
        raise WheelError(f"{dest}: holds {found}, not {target_id}")


def checked_wheel(wheel: Path, tags: ArtifactTags) -> dict[str, bytes]:
    """The wheel's files under the names they install as, once its tags fit the artifact and
    every file matches its RECORD line (what install and publish both require)."""
    check_wheel_fits(wheel.name, tags)
    try:
        with zipfile.ZipFile(wheel) as archive:
            return _verified_files(wheel, archive)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise WheelError(f"{wheel}: not a readable wheel ({exc})") from None


def install_wheel(wheel: Path, site: Path, tags: ArtifactTags) -> list[str]:
    """Unpack one checked wheel into `site`; return the top-level names it added."""
    files = checked_wheel(wheel, tags)
    tops = sorted({PurePosixPath(name).parts[0] for name in files})
    clashes = [top for top in tops if (site / top).exists()]
    if clashes:
        raise WheelError(f"{wheel.name}: {site} already has {', '.join(clashes)}; install into a fresh directory")
    site.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=site.parent))
    try:
        for name, data in files.items():
            target = staging.joinpath(*PurePosixPath(name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        for top in tops:
            (staging / top).rename(site / top)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(f"installed {wheel.name} into {site}")
    return tops


def _verified_files(wheel: Path, archive: zipfile.ZipFile) -> dict[str, bytes]:
    """Every file of the wheel, after checking it against RECORD; a wheel with .data directories
    other than purelib/platlib (scripts, headers) is refused: nothing here would use them."""
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    for name in names:
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts:
            raise WheelError(f"{wheel.name}: unsafe path {name!r}")
    records = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise WheelError(f"{wheel.name}: no single .dist-info/RECORD")
    listed = {row[0]: row[1] for row in csv.reader(io.StringIO(archive.read(records[0]).decode())) if row}
    files: dict[str, bytes] = {}
    for name in names:
        data = archive.read(name)
        if name != records[0] and listed.get(name) != record_hash(data):
            raise WheelError(f"{wheel.name}: {name} does not match its RECORD line")
        files[_installed_name(wheel, name)] = data
    return files


def _installed_name(wheel: Path, name: str) -> str:
    first, _, rest = name.partition("/")
    if not first.endswith(".data"):
        return name
    scheme, _, below = rest.partition("/")
    if scheme not in ("purelib", "platlib"):
        raise WheelError(f"{wheel.name}: has {first}/{scheme}/, which an artifact has nowhere to put")
    return below
