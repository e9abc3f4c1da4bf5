"""Nightlies: build the supported targets with that night's SOURCE_DATE_EPOCH, smoke-test,
publish as nightly-YYYY-MM-DD with each build's cross-build environment; and reproduce a
published release from its store."""

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path

from wasmforge.building.build import BuildSettings, build_target
from wasmforge.building.reproduce import ReproduceResult, reproduce
from wasmforge.building.xbuildenv import has_xbuildenv, make_xbuildenv, xbuildenv_path
from wasmforge.model.matrix import Target
from wasmforge.model.plan import plan_for
from wasmforge.model.workspace import Workspace
from wasmforge.releasing.freshness import SeenVersions
from wasmforge.releasing.publish import PublishRequest, publish
from wasmforge.releasing.publisher_state import PublisherState
from wasmforge.releasing.pull import PullRequest, pull
from wasmforge.releasing.signing import PublicKey, SigningKey
from wasmforge.releasing.stores import open_store, open_writable_store
from wasmforge.verifying.smoke import smoke_test


@dataclass(frozen=True, kw_only=True)
class NightlyResult:
    target: Target
    version: str
    dist: Path
    smoke: str


def nightly_epoch(day: date) -> int:
    """Midnight UTC of the night's date: every nightly of one day gets the same clock."""
    return int(datetime.combine(day, time(0, 0), tzinfo=timezone.utc).timestamp())


def nightly_version(day: date) -> str:
    """The release version of a night's build; also `publish`'s default version (a datetime is a date)."""
    return f"nightly-{day:%Y-%m-%d}"


def run_nightly(ws: Workspace, targets: list[Target], day: date, store_url: str, key: SigningKey,
                settings: BuildSettings) -> list[NightlyResult]:
    version = nightly_version(day)
    results = []
    for target in targets:
        dist = ws.paths.nightly_dist_of(version, target)
        plan = plan_for(ws, target, source_date_epoch=nightly_epoch(day))
        build_target(ws, plan, BuildSettings(jobs=settings.jobs, nocache=settings.nocache, dist_dir=dist))
        smoke = smoke_test(target, dist)
        # Published with its artifact, as a nightly cross-build environment for package builders.
        environment = make_xbuildenv(target, dist, xbuildenv_path(dist.parent, target)) if has_xbuildenv(target) else None
        publish(open_writable_store(store_url), PublishRequest(
            target_id=target.id, dist=dist, version=version, key=key,
            schema=ws.paths.schemas / "index.schema.json", now=datetime.now(timezone.utc),
            state=PublisherState(ws.paths.publish_state, ws.paths.lock_timeout()),
            xbuildenv=environment.path if environment is not None else None,
        ))
        results.append(NightlyResult(target=target, version=version, dist=dist, smoke=smoke))
    return results


def reproduce_from_store(ws: Workspace, store_url: str, target: Target, version: str, public_key: PublicKey,
                         seen: SeenVersions, workdir: Path) -> ReproduceResult:
    """Pull the release (signature and hashes verified), then rebuild it from scratch and compare."""
    published = workdir / "published"
    pull(open_store(store_url), PullRequest(
        target_id=target.id, version=version, dest=published, public_key=public_key, seen=seen,
        schema=ws.paths.schemas / "index.schema.json", now=datetime.now(timezone.utc), force=True,
    ))
    return reproduce(ws, published / "manifest.json", workdir=workdir / "rebuild")
