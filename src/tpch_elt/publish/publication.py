"""Write–audit–publish: readers only ever see marts that passed their tests.

dbt builds in place: a model that fails its own tests stays in the
warehouse. So consumers do not read the warehouse. They read the published
snapshot, a small DuckDB catalog beside it (`warehouse.published.duckdb`
for `warehouse.duckdb`) whose schema `mart` holds one view per mart over
immutable Parquet segments in `warehouse.published/`, and a `publication`
table that says which build it came from.

    write    `dbt build` changes staging, intermediate and mart in the
             warehouse, which only tpch-elt (under its writer lock) opens.
    audit    the same invocation runs every test; error-severity failures
             make the build fail.
    publish  only a build that passed publishes. New segments are written
             first (invisible: no catalog names them yet); then a new
             catalog is written beside the old one, synced, and renamed
             over it (`rename(2)` is atomic). A reader sees the old
             snapshot or the new one, never a mix, and a reader holding the
             old catalog keeps reading its segments (see below for how long).

What a publication writes follows the delta, like the build:
  - marts the build did not rebuild (the daily marts on a 4-hourly
    increment) keep their segments;
  - an incremental mart keyed on a unique key with a `_batch_id` column
    (`mart_orders`) gets one new segment with the rows of the batches the
    build added, unless those rows replace rows of older segments (then,
    and after a full refresh, it is rewritten as one segment);
  - any other rebuilt mart is rewritten as one segment.
Each publication also writes a record of what its catalog names (one
JSON file per publication in `warehouse.published/.publications/`, written
and synced before the catalog is renamed into place). Publication reads
these records, never the live catalog, so a reader holding that catalog
(even read-write, a notebook's default) cannot block a build.
A segment is deleted only when none of the last KEEP_PUBLICATIONS
publications names it (and it is older than them): a reader that opened a
catalog keeps reading it through the next KEEP_PUBLICATIONS - 1
publications (longer while its segments are carried over); after that it
may fail loudly (missing file), never read a mix. Reconnecting sees the
newest snapshot.

A build that fails publishes nothing: the previous snapshot stays, unchanged
and readable. The next build tests again every batch processed since the
last publication (`tpch_elt.transform.build.plan_build`), so a failed batch is never
published by a later, passing increment. A killed build is the same case.

Snowflake maps this onto zero-copy clones: build in a clone of the
production database, test there, then `alter database … swap with …`
(README, "Write–audit–publish").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.publish.plan import MART_SCHEMA
from tpch_elt.publish.segments import (
    Publication,
    Record,
    Segment,
    collect_garbage,
    failure_reason,
    legacy_latest,
    live_record,
    next_number,
    published_path,
    segments_dir,
    settled_records,
    swap_catalog,
    write_mart,
)
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect, table_exists
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.lock import warehouse_lock
from tpch_elt.warehouse.watermarks import processed

# In the warehouse: one row per publication (the audit trail, and the
# watermark from which the next build must test again).
PUBLICATIONS = "observability.publications"


def ensure_publications_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists observability")
    con.execute(
        f"""
        create table if not exists {PUBLICATIONS} (
            published_at timestamp not null,
            number integer,
            invocation_id varchar,
            batch_id integer,
            path varchar not null,
            rebuilt varchar[] not null,
            carried_over varchar[] not null,
            bytes_written bigint
        )
        """
    )


def _has_numbers(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether observability.publications has its `number` column (older warehouses lack it)."""
    row = con.execute(
        "select count(*) from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'observability' and table_name = 'publications' and column_name = 'number'"
    ).fetchone()
    return bool(row and row[0])


def last_published_batch(con: duckdb.DuckDBPyConnection) -> tuple[bool, int | None]:
    """(anything published yet, newest batch the last publication covered)."""
    if not table_exists(con, "observability", "publications"):
        return False, None
    # By number: two publications can share a second, and clocks step back.
    order = "number desc nulls last, published_at desc" if _has_numbers(con) else "published_at desc"
    rows = con.execute(f"select batch_id from {PUBLICATIONS} order by {order} limit 1").fetchall()
    if not rows:
        return False, None
    return True, None if rows[0][0] is None else int(rows[0][0])


def last_publication_number(con: duckdb.DuckDBPyConnection) -> int | None:
    """The number of the warehouse's newest publication (None: none recorded, or a warehouse without numbers)."""
    if not (table_exists(con, "observability", "publications") and _has_numbers(con)):
        return None
    newest = con.execute(f"select max(number) from {PUBLICATIONS}").fetchall()[0][0]
    return None if newest is None else int(newest)


def swapped_since_built(settings: Settings, con: duckdb.DuckDBPyConnection) -> str | None:
    """Why prod's catalog names what this warehouse did not publish (None: it names the warehouse's own).

    A promotion or rollback (tpch_elt.environments.promotion) swaps the
    catalog without touching the warehouse; until the warehouse publishes
    again, its incremental models and carried-over marts are not what
    readers see, so the next build must be a full refresh.
    """
    target = published_path(settings.warehouse_path)
    record = live_record(target, segments_dir(settings.warehouse_path)) if target.is_file() else None
    if record is None or not record.event:
        return None
    newest = last_publication_number(con)
    if newest is not None and newest > record.publication.number:
        return None
    how = (
        f"promoted from environment {record.event.get('environment')}"
        if record.event.get("kind") == "promote"
        else "rolled back"
    )
    return f"prod's catalog was {how} (publication {record.publication.number}) since this warehouse last published"


def latest(settings: Settings) -> Publication | None:
    """What readers see now (None: nothing yet), from the publication records.

    Never opens the live catalog (only one written before the records
    existed), so a reader holding it cannot make this fail or wait.
    """
    target = published_path(settings.warehouse_path)
    if not target.is_file():
        return None
    record = live_record(target, segments_dir(settings.warehouse_path))
    return legacy_latest(target) if record is None else record.publication


def published_rows(settings: Settings) -> dict[str, int] | None:
    """Rows per mart readers see, without opening the catalog (None: no record says)."""
    target = published_path(settings.warehouse_path)
    record = live_record(target, segments_dir(settings.warehouse_path)) if target.is_file() else None
    if record is None:
        return None
    rows: dict[str, int] = {}
    for segment in record.segments:
        rows[segment.mart] = rows.get(segment.mart, 0) + segment.rows
    return rows


def describe(settings: Settings) -> str:
    """One line on what readers see now, without opening the catalog or the warehouse."""
    current = latest(settings)
    if current is None:
        return "published for readers: nothing yet (no build has passed its tests)"
    batch = "" if current.batch_id is None else f", batch {current.batch_id}"
    number = f"publication {current.number}, " if current.number else ""
    return (
        f"published for readers: {number}{current.published_at:%Y-%m-%d %H:%M:%S} UTC{batch} ({current.path})"
    )


def _next_number(con: duckdb.DuckDBPyConnection, store: Path, records: list[Record]) -> int:
    """One more than any publication the warehouse, the records or a file in the store knows."""
    return next_number(store, records, floor=last_publication_number(con) or 0)


def publish(
    settings: Settings,
    *,
    rebuilt: Iterable[str] | None,
    invocation_id: str | None = None,
    audited_all_batches: bool = True,
    full_refresh: bool = False,
    keys: Mapping[str, str] | None = None,
    manifest: Path | None = None,
) -> Publication:
    """Publish the warehouse's marts atomically (call only after a passing build).

    `rebuilt`: the marts this build (re)built and tested; the others are
    carried over from the previous snapshot. None: every mart was rebuilt.
    `audited_all_batches`: the build selected every model, so its tests
    covered every batch processed so far; a partial build (`--select`)
    keeps the previous publication's batch watermark, so the next full
    build audits those batches again. `keys`: incremental marts and their
    unique key (they may be published as a new segment). `full_refresh`:
    the build rebuilt incremental marts from scratch (rewrite them).
    `manifest`: the dbt manifest of the build (default: the CLI's, in
    `settings.dbt_target_dir`), kept with the publication for environments.
    """
    with warehouse_lock(settings.warehouse_path, "publish"):
        return _publish(
            settings,
            None if rebuilt is None else set(rebuilt),
            invocation_id,
            audited_all_batches,
            full_refresh,
            dict(keys or {}),
            manifest or settings.dbt_target_dir / "manifest.json",
        )


def _publish(
    settings: Settings,
    rebuilt: set[str] | None,
    invocation_id: str | None,
    audited_all_batches: bool,
    full_refresh: bool,
    keys: dict[str, str],
    manifest: Path,
) -> Publication:
    target = published_path(settings.warehouse_path)
    store = segments_dir(settings.warehouse_path)
    published_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    live: Publication | None = None  # set once readers see the new catalog
    try:
        records = settled_records(target, store)
        # What the previous publication's catalog names: from its record,
        # never from the live catalog (a reader may hold that open).
        previous = records[-1].segments if records else []
        with connect(settings.warehouse_path) as con:
            number = _next_number(con, store, records)
            marts = [
                name
                for (name,) in con.execute(
                    "select table_name from duckdb_tables() where database_name = current_database() "
                    "and schema_name = ? order by 1",
                    [MART_SCHEMA],
                ).fetchall()
            ]
            if not marts:
                raise PipelineError(
                    f"warehouse {settings.warehouse_path} has no marts to publish: run `tpch-elt build` first"
                )
            built = processed(con) if audited_all_batches else None
            if built is not None:
                batch_id = built.max_batch
            else:
                batch_id = last_published_batch(con)[1]
            segments: list[Segment] = []
            fresh, carried = [], []
            written_bytes = 0
            store.mkdir(parents=True, exist_ok=True)
            for name in marts:
                had = [s for s in previous if s.mart == name and (store / s.path).is_file()]
                if rebuilt is not None and name not in rebuilt and had:
                    carried.append(name)
                    segments += had
                    continue
                fresh.append(name)
                new, size = write_mart(con, store, number, name, had, keys.get(name), full_refresh)
                segments += new
                written_bytes += size
            # The new segments' names are durable before any catalog names them.
            fsync(store)
            fsync(store.parent)
            publication = Publication(
                target,
                number,
                published_at,
                invocation_id,
                batch_id,
                tuple(fresh),
                tuple(carried),
                written_bytes,
            )
            record = swap_catalog(
                target, store, segments, publication, warehouse=settings.warehouse_path, manifest=manifest
            )
            live = publication
            ensure_publications_table(con)
            con.execute(
                f"insert into {PUBLICATIONS} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [published_at, number, invocation_id, batch_id, str(target), fresh, carried, written_bytes],
            )
    except (duckdb.Error, OSError) as exc:
        if live is None:
            raise PipelineError(
                f"publishing to {target} failed ({failure_reason(exc)}); readers still see the previous snapshot: "
                "fix the cause (disk space, permissions) and run `tpch-elt build` again"
            ) from exc
        raise PipelineError(
            f"publication {live.number} is live at {target}, but a later step failed ({failure_reason(exc)}), "
            f"so {PUBLICATIONS} in {settings.warehouse_path} may not record it: fix the cause and run "
            "`tpch-elt build` again (it audits those batches again)"
        ) from exc
    collect_garbage(store, [*records, record])
    return publication
