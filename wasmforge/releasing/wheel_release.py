"""Wheels published with their artifact, and a PEP 503 "simple" index over them.

A release may carry the wheels built for its artifact (`invoke wheel`): each is checked as an
install checks it (its tags fit the target, every file matches RECORD) and becomes a release
file `wheels/<file name>`, signed through the index like every other file. Beside them the
release carries `simple/index.html` and `simple/<project>/index.html`, whose links are relative
(`../../wheels/<file>#sha256=<hex>`), so the same pages work wherever the release's files sit
under their names: a directory store's `releases/<version>/<target>/`, a static mirror of it, or
the folder `invoke pull` verified. pip checks each download against the `#sha256=` fragment.
"""

import html
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from wasmforge.building.wheel_install import checked_wheel
from wasmforge.core.errors import PublishError
from wasmforge.core.hashing import sha256_file
from wasmforge.model.wheel_tags import ArtifactTags

WHEELS = "wheels"
SIMPLE = "simple"
PAGE = "index.html"


@dataclass(frozen=True, kw_only=True)
class WheelSet:
    """The wheels to publish with an artifact, and the tags that artifact loads."""

    paths: tuple[Path, ...]
    tags: ArtifactTags


@dataclass(frozen=True, kw_only=True)
class PublishedWheel:
    file_name: str
    project: str  # the PEP 503 normalised name: markupsafe, msgpack
    sha256: str


def stage_wheels(wheels: WheelSet, staging: Path) -> list[str]:
    """Copy each wheel to staging/wheels/, check the copy, and write the simple index beside them; return
    the release file names added, wheels first."""
    names = [path.name for path in wheels.paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PublishError(f"wheel {duplicates[0]} is given twice; a release holds one file per name")
    published: list[PublishedWheel] = []
    for path in sorted(wheels.paths, key=lambda p: p.name):
        copy = staging / WHEELS / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        # The copy is checked, so what is published is what was checked.
        checked_wheel(copy, wheels.tags)
        published.append(PublishedWheel(file_name=path.name, project=project_of(path.name), sha256=sha256_file(copy)))
    pages = simple_pages(published)
    for name, data in pages.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    return [f"{WHEELS}/{wheel.file_name}" for wheel in published] + sorted(pages)


def project_of(file_name: str) -> str:
    return canonicalize_name(parse_wheel_filename(file_name)[0])


def simple_pages(wheels: list[PublishedWheel]) -> dict[str, bytes]:
    """PEP 503 pages (release file name -> bytes), a function of the wheels alone."""
    projects = sorted({wheel.project for wheel in wheels})
    pages = {f"{SIMPLE}/{PAGE}": _page("Simple index", [(f"{project}/", project) for project in projects])}
    for project in projects:
        links = [
            (f"../../{WHEELS}/{wheel.file_name}#sha256={wheel.sha256}", wheel.file_name)
            for wheel in sorted(wheels, key=lambda w: w.file_name) if wheel.project == project
        ]
        pages[f"{SIMPLE}/{project}/{PAGE}"] = _page(f"Links for {project}", links)
    return pages


def is_wheel_file(name: str) -> bool:
    """A release file that a directory store also keeps under its readable name."""
    return name.startswith((f"{WHEELS}/", f"{SIMPLE}/"))


def _page(title: str, links: list[tuple[str, str]]) -> bytes:
    anchors = "".join(f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br>\n' for href, text in links)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{anchors}  </body>\n</html>\n"
    ).encode()
