"""Promotion and rollback: prod's catalog swapped for another in one rename, recorded.

Promoting NAME makes prod's catalog name NAME's segments: no Parquet is
read or written, whatever the marts' size. It goes through
`publish.segments.swap_catalog`, as a build's publication does: a new
catalog is written beside prod's, its record (who, when, which
environment, which build) is written and synced, then one `rename(2)`
replaces prod's catalog. Readers see the old snapshot or the new one,
never a mix; killed at any point, prod is on one of the two. The record
carries the event; `.history.jsonl` in the store keeps every promotion
and rollback after the records are collected.

Rollback makes prod's catalog name again what the catalog before the
current one named (the one live before the last promotion, rollback or
build), as a new publication; its segments are kept for the last
KEEP_PUBLICATIONS publications.

After either, prod's warehouse no longer holds what prod's catalog names,
so prod's next build is a full refresh (`transform.build.plan_build`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpch_elt.environments.registry import PROD, Environment, load, now, prod_live, store, who
from tpch_elt.errors import PipelineError
from tpch_elt.publish.segments import (
    Publication,
    Record,
    Segment,
    append_history,
    history,
    manifest_of,
    next_number,
    published_path,
    settled_records,
    swap_catalog,
)
from tpch_elt.settings import Settings
from tpch_elt.warehouse.lock import warehouse_lock

PROMOTE = "promote"
ROLLBACK = "rollback"


@dataclass(frozen=True)
class Swapped:
    """What a promotion or rollback did."""

    record: Record  # prod's catalog now
    replaced: int  # the publication prod's catalog was before
    seconds: float
    parquet_bytes_written: int  # always 0: a swap writes a catalog, never a segment


def check_promotable(settings: Settings, env: Environment, *, force: bool) -> Record:
    """prod's live record, if `env` may be promoted onto it; else one line on what to do."""
    build = env.build
    if build is None:
        raise PipelineError(
            f"environment {env.name!r} has no build to promote: change a model, then "
            f"`tpch-elt env build {env.name}`"
        )
    if not build.passed:
        failed = f" ({', '.join(build.failures[:3])})" if build.failures else ""
        raise PipelineError(
            f"environment {env.name!r} failed its audit on its last build{failed}: fix it and "
            f"`tpch-elt env build {env.name}` again; a failed build is never promoted"
        )
    if build.restricted:
        raise PipelineError(
            f"environment {env.name!r} was built with {' '.join(build.restricted)}, which may leave out tests "
            f"of what it rebuilt: `tpch-elt env build {env.name}` without them to promote it"
        )
    live = prod_live(settings)
    if live.publication.number != build.base and not force:
        raise PipelineError(
            f"prod moved since environment {env.name!r} was built: it was built on publication "
            f"{build.base}, prod is at {live.publication.number}; `tpch-elt env build {env.name}` "
            f"rebuilds it on the new base, or `tpch-elt env promote {env.name} --force` promotes it "
            "as it is (after showing its diff against prod)"
        )
    return live


def promote(
    settings: Settings, name: str, *, force: bool = False, by: str | None = None, to: str = PROD
) -> Swapped:
    """Make prod's catalog name environment `name`'s segments (refused with a reason, see check_promotable).

    `by`: who approved it (the Airflow approver); else who() runs it.
    """
    if to != PROD:
        raise PipelineError(f"promotion goes to prod, not {to!r}: `tpch-elt env create {to} --from {name}`")
    started = time.perf_counter()
    env = load(settings, name)
    # At once or not at all: a second promotion (or a build publishing)
    # holds the lock; this one is refused, never queued behind it.
    with warehouse_lock(settings.warehouse_path, f"promote environment {name}"):
        live = check_promotable(settings, env, force=force)
        assert env.build is not None
        event = {
            "kind": PROMOTE,
            "environment": name,
            "by": by or who(),
            "at": now().isoformat(),
            "build": env.build.number,
            "built_by": env.build.by,
            "invocation_id": env.build.invocation_id,
            "built_on": env.build.base,
            "replaced": live.publication.number,
            "forced": live.publication.number != env.build.base,
        }
        record = _swap(
            settings,
            live,
            env.segments,
            event,
            invocation_id=env.build.invocation_id,
            batch_id=env.batch_id,
            rebuilt=env.build.rebuilt,
            manifest=env.manifest,
        )
    return Swapped(record, live.publication.number, time.perf_counter() - started, 0)


def rollback(settings: Settings, environment: str = PROD) -> Swapped:
    """Return prod to the catalog it had before its current one."""
    if environment != PROD:
        raise PipelineError(
            f"rollback applies to prod (the environment readers see), not {environment!r}: "
            f"rebuild {environment!r} with `tpch-elt env build {environment}` instead"
        )
    started = time.perf_counter()
    with warehouse_lock(settings.warehouse_path, "roll back prod"):
        live = prod_live(settings)
        records = settled_records(published_path(settings.warehouse_path), store(settings))
        earlier = [r for r in records if r.publication.number < _origin(live)]
        if not earlier:
            raise PipelineError(
                f"prod has no earlier catalog to roll back to (publication {live.publication.number} is the "
                "oldest kept): nothing changed"
            )
        previous = earlier[-1]
        missing = [s.path for s in previous.segments if not (store(settings) / s.path).is_file()]
        if missing:
            raise PipelineError(
                f"prod's previous catalog (publication {previous.publication.number}) names segments that are "
                f"gone ({missing[0]}): it cannot be restored; rebuild with `tpch-elt build --full-refresh`"
            )
        restores = _origin(previous)
        event = {
            "kind": ROLLBACK,
            "environment": PROD,
            "by": who(),
            "at": now().isoformat(),
            "restores": restores,
            "replaced": live.publication.number,
        }
        record = _swap(
            settings,
            live,
            tuple(previous.segments),
            event,
            records=records,
            invocation_id=previous.publication.invocation_id,
            batch_id=previous.publication.batch_id,
            rebuilt=(),
            manifest=manifest_of(store(settings), previous.publication.number),
        )
    return Swapped(record, live.publication.number, time.perf_counter() - started, 0)


def _origin(record: Record) -> int:
    """The publication whose content `record`'s catalog names (a rollback names an earlier one's)."""
    event = record.event or {}
    restores = event.get("restores") if event.get("kind") == ROLLBACK else None
    return int(restores) if isinstance(restores, int) else record.publication.number


def _swap(
    settings: Settings,
    live: Record,
    segments: tuple[Segment, ...],
    event: dict[str, Any],
    *,
    records: list[Record] | None = None,
    invocation_id: str | None,
    batch_id: int | None,
    rebuilt: tuple[str, ...],
    manifest: Path | None,
) -> Record:
    """prod's catalog replaced by one naming `segments`, as a new publication carrying `event`."""
    shared = store(settings)
    target = published_path(settings.warehouse_path)
    if records is None:
        records = settled_records(target, shared)
    known = {int(entry.get("number") or 0) for entry in history(shared)}
    if live.event and live.publication.number not in known:
        # the swap that made prod's catalog died after its rename, before its history line
        append_history(shared, {"number": live.publication.number, **dict(live.event), "mended": True})
    number = next_number(shared, records, floor=max(known, default=0))
    marts = sorted({s.mart for s in segments})
    publication = Publication(
        target,
        number,
        now(),
        invocation_id,
        batch_id,
        tuple(m for m in marts if m in rebuilt),
        tuple(m for m in marts if m not in rebuilt),
        0,
    )
    record = swap_catalog(
        target,
        shared,
        list(segments),
        publication,
        warehouse=settings.warehouse_path,
        event=event,
        manifest=manifest,
    )
    append_history(shared, {"number": number, **event})
    return record
