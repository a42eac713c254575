"""Write–audit–publish: readers only ever see marts that passed their tests.

dbt builds in place: a model that fails its own tests stays in the
warehouse. So consumers do not read the warehouse. They read the published
snapshot, a second DuckDB file beside it (`warehouse.published.duckdb` for
`warehouse.duckdb`) holding the `mart` schema and a `publication` table that
says which build it came from.

    write    `dbt build` changes staging, intermediate and mart in the
             warehouse, which only tpch-elt (under its writer lock) opens.
    audit    the same invocation runs every test; error-severity failures
             make the build fail.
    publish  only a build that passed writes a new snapshot file: every mart
             the build (re)built and tested comes from the warehouse, every
             other mart is carried over from the previous snapshot. The new
             file is written beside the old one, synced, then renamed over
             it (`rename(2)` is atomic): a reader sees the old snapshot or
             the new one, never a mix, and a reader that has the old file
             open keeps reading it until it reconnects.

A build that fails publishes nothing: the previous snapshot stays, unchanged
and readable. The next build tests again every batch processed since the
last publication (see `tpch_elt.build.plan_build`), so a failed batch is
never published by a later, passing increment. A killed build is the same
case: no publication is recorded.

Snowflake maps this onto zero-copy clones: build in a clone of the
production database (`create database tpch_elt_build clone tpch_elt`), run
`dbt build` against the clone, then `alter database tpch_elt swap with
tpch_elt_build` (README, "Write–audit–publish").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.lock import warehouse_lock
from tpch_elt.settings import Settings
from tpch_elt.warehouse import connect, table_exists

MART_SCHEMA = "mart"
PUBLICATION_TABLE = "publication"
# In the warehouse: one row per publication (the audit trail, and the
# watermark from which the next build must test again).
PUBLICATIONS = "observability.publications"


@dataclass(frozen=True)
class Publication:
    path: Path
    published_at: datetime
    invocation_id: str | None
    batch_id: int | None
    rebuilt: tuple[str, ...]
    carried_over: tuple[str, ...]


def published_path(warehouse: Path) -> Path:
    """The snapshot readers open, beside the warehouse file."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix or '.duckdb'}")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = ? and table_schema = ? and table_type = 'BASE TABLE' order by 1",
        [catalog, schema],
    ).fetchall()
    return [name for (name,) in rows]


def ensure_publications_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists observability")
    con.execute(
        f"""
        create table if not exists {PUBLICATIONS} (
            published_at timestamp not null,
            invocation_id varchar,
            batch_id integer,
            path varchar not null,
            rebuilt varchar[] not null,
            carried_over varchar[] not null
        )
        """
    )


def last_published_batch(con: duckdb.DuckDBPyConnection) -> tuple[bool, int | None]:
    """(anything published yet, newest batch the last publication covered)."""
    if not table_exists(con, "observability", "publications"):
        return False, None
    rows = con.execute(f"select batch_id from {PUBLICATIONS} order by published_at desc limit 1").fetchall()
    if not rows:
        return False, None
    return True, None if rows[0][0] is None else int(rows[0][0])


def latest(settings: Settings) -> Publication | None:
    """What readers see now, read from the snapshot itself (None: nothing yet)."""
    path = published_path(settings.warehouse_path)
    if not path.is_file():
        return None
    with connect(path, read_only=True) as con:
        rows = con.execute(
            f"select published_at, invocation_id, batch_id, rebuilt, carried_over from main.{PUBLICATION_TABLE}"
        ).fetchall()
    published_at, invocation_id, batch_id, rebuilt, carried = rows[0]
    return Publication(path, published_at, invocation_id, batch_id, tuple(rebuilt), tuple(carried))


def publish(
    settings: Settings,
    *,
    rebuilt: Iterable[str] | None,
    invocation_id: str | None = None,
    audited_all_batches: bool = True,
) -> Publication:
    """Publish the warehouse's marts atomically (call only after a passing build).

    `rebuilt`: the marts this build (re)built and tested; the others are
    carried over from the previous snapshot. None: every mart was rebuilt.
    `audited_all_batches`: the build selected every model, so its tests
    covered every batch processed so far; a partial build (`--select`)
    keeps the previous publication's batch watermark, so the next full
    build audits those batches again.
    """
    with warehouse_lock(settings.warehouse_path, "publish"):
        return _publish(
            settings, None if rebuilt is None else set(rebuilt), invocation_id, audited_all_batches
        )


def _publish(
    settings: Settings, rebuilt: set[str] | None, invocation_id: str | None, audited_all_batches: bool
) -> Publication:
    target = published_path(settings.warehouse_path)
    scratch = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    scratch.unlink(missing_ok=True)
    scratch.with_name(scratch.name + ".wal").unlink(missing_ok=True)
    published_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        with connect(settings.warehouse_path) as con:
            marts = _tables(con, _catalog(con), MART_SCHEMA)
            if not marts:
                raise PipelineError(
                    f"warehouse {settings.warehouse_path} has no marts to publish: run `tpch-elt build` first"
                )
            previous: list[str] = []
            attached_previous = target.is_file()
            if attached_previous:
                con.execute(f"attach {_quote(target)} as previous (read_only)")
                previous = _tables(con, "previous", MART_SCHEMA)
            if audited_all_batches and table_exists(con, "staging", "stg_fct_orders"):
                batch_id = con.execute("select max(_batch_id) from staging.stg_fct_orders").fetchall()[0][0]
            else:
                batch_id = last_published_batch(con)[1]
            con.execute(f"attach {_quote(scratch)} as next")
            con.execute(f"create schema next.{MART_SCHEMA}")
            fresh, carried = [], []
            for name in marts:
                from_previous = rebuilt is not None and name not in rebuilt and name in previous
                source = "previous" if from_previous else _catalog(con)
                (carried if from_previous else fresh).append(name)
                con.execute(
                    f"create table next.{MART_SCHEMA}.{_ident(name)} as "
                    f"select * from {source}.{MART_SCHEMA}.{_ident(name)}"
                )
            con.execute(
                f"create table next.main.{PUBLICATION_TABLE} as select "
                "?::timestamp as published_at, ?::varchar as invocation_id, ?::integer as batch_id, "
                "?::varchar[] as rebuilt, ?::varchar[] as carried_over, ?::varchar as warehouse",
                [published_at, invocation_id, batch_id, fresh, carried, str(settings.warehouse_path)],
            )
            con.execute("detach next")
            if attached_previous:
                con.execute("detach previous")
            _fsync(scratch)
            os.replace(scratch, target)
            _fsync(target.parent)
            ensure_publications_table(con)
            con.execute(
                f"insert into {PUBLICATIONS} values (?, ?, ?, ?, ?, ?)",
                [published_at, invocation_id, batch_id, str(target), fresh, carried],
            )
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(
            f"publishing to {target} failed ({first_line}); readers still see the previous snapshot: "
            "fix the cause and run `tpch-elt build` again"
        ) from exc
    finally:
        scratch.unlink(missing_ok=True)
    return Publication(target, published_at, invocation_id, batch_id, tuple(fresh), tuple(carried))


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("select current_database()").fetchall()[0][0])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
