"""Load: landing Parquet files into the warehouse's append-only `raw` schema.

`load` is the initial (full) load: it replaces every raw table in one
transaction, so a failure part-way leaves the previous raw state intact.
When `generate` held orders back as batches, only the initial share of
orders and line items is loaded; `ingest` appends the batches later.
Every row carries `_batch_id` (0 for the initial load) and `_loaded_at`
(UTC).

Before the transaction every file's schema is checked from its Parquet
footer (`schema_check`): a missing, renamed or incompatibly retyped column
stops the load with raw untouched; an extra column is kept and warned
about. Inside it, each table's rows pass the same reject rules as
`ingest`'s batches (`rules`): rows that break one go to `raw._quarantine`
with the reason instead of raw, and the load reports how many per reason.
The load replaces raw, `raw._batches` and `raw._quarantine` together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import read_plan
from tpch_elt.load.quarantine import ACCEPTED, Screened, screened
from tpch_elt.load.rules import QUARANTINE_TABLE, columns_sql, ensure_quarantine_table
from tpch_elt.load.schema_check import FileSchema, check_file, describe_extra, read_parquet_sql
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES, TableSpec, format_scale_factor
from tpch_elt.warehouse.connection import connect, transaction
from tpch_elt.warehouse.lock import warehouse_lock

RAW_SCHEMA = "raw"
BATCHES_TABLE = f"{RAW_SCHEMA}._batches"
INITIAL_BATCH_ID = 0
# raw._batches.plan of an initial load that took every order (no batches)
NO_PLAN = "none"

# Called as (table, rows) after each table is loaded (inside the transaction).
TableLoaded = Callable[[str, int], None]


@dataclass(frozen=True)
class LoadResult:
    batch_id: int
    loaded_at: datetime
    row_counts: dict[str, int]
    # rows sent to raw._quarantine, by "table: reason"
    quarantined: dict[str, int] = field(default_factory=dict)
    # additive schema changes that were let through, one line each
    warnings: list[str] = field(default_factory=list)


def utc_now() -> datetime:
    """Current UTC time as a naive timestamp (dbt treats naive as UTC)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def landing_files(settings: Settings, scale_factor: float) -> dict[str, Path]:
    """The eight landing files for `scale_factor`; raises if any is missing."""
    landing = settings.landing_dir(scale_factor)
    files: dict[str, Path] = {}
    for spec in TABLES:
        path = landing / f"{spec.name}.parquet"
        if not path.is_file():
            raise PipelineError(
                f"landing file {path} is missing: run "
                f"`tpch-elt generate -s {format_scale_factor(scale_factor)}` first"
            )
        files[spec.name] = path
    return files


def check_landing_file(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path, *, check_types: bool = False
) -> FileSchema:
    """Raise unless `path` is readable Parquet with `spec`'s columns (see schema_check).

    Types are checked on request: `load` asks; the Snowflake loader relies on
    COPY's own conversion, whose failure rolls its whole load back.
    """
    return check_file(
        con,
        spec,
        path,
        remedy="regenerate it with `tpch-elt generate --force` (or fix the file), then load again",
        check_types=check_types,
    )


def ensure_batches_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"""
        create table if not exists {BATCHES_TABLE} (
            batch_id integer primary key,
            kind varchar not null,
            scale_factor double,
            source varchar,
            row_counts varchar,
            loaded_at timestamp not null,
            run_key varchar
        )
        """
    )
    # warehouses from before run keys (see ingest: one batch per orchestrator run)
    con.execute(f"alter table {BATCHES_TABLE} add column if not exists run_key varchar")
    # the batch plan the initial load split by (NO_PLAN: none); ingest checks it
    con.execute(f"alter table {BATCHES_TABLE} add column if not exists plan varchar")


def replace_initial_table(
    con: duckdb.DuckDBPyConnection, table: str, source: str, stamp: str, extra: tuple[tuple[str, str], ...]
) -> tuple[int, Screened]:
    """Raw's `table` replaced by the initial load's rows in `source` that pass the reject rules
    (the rest to the quarantine), as batch 0 loaded at `stamp`; the rows written and the screening.
    `load` does it for every table, the reference reload (orchestration/reference.py) for six."""
    with screened(
        con, table, source, batch_id=INITIAL_BATCH_ID, stamp_sql=stamp, redeliveries=False
    ) as checked:
        con.execute(
            f"""
            create or replace table {RAW_SCHEMA}.{table} as
            select
                {columns_sql(table, extra)},
                cast({INITIAL_BATCH_ID} as integer) as _batch_id,
                {stamp} as _loaded_at
            from {checked.view}
            where {ACCEPTED}
            """
        )
    counted = con.execute(f"select count(*) from {RAW_SCHEMA}.{table}").fetchone()
    return (int(counted[0]) if counted else 0), checked


def load(
    settings: Settings,
    scale_factor: float,
    *,
    on_table: TableLoaded | None = None,
) -> LoadResult:
    """Replace the raw schema with the landing files of `scale_factor`, atomically."""
    files = landing_files(settings, scale_factor)
    plan = read_plan(settings.landing_dir(scale_factor))
    key_filter = {}
    if plan is not None:
        # null keys stay in: the reject rules quarantine them, nothing is dropped
        limit = int(plan.initial_max_order_key)
        key_filter = {
            "orders": f"where o_orderkey is null or o_orderkey <= {limit}",
            "lineitem": f"where l_orderkey is null or l_orderkey <= {limit}",
        }
    loaded_at = utc_now()
    stamp = f"cast('{loaded_at.isoformat(sep=' ')}' as timestamp)"
    row_counts: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    with warehouse_lock(settings.warehouse_path, "load"), connect(settings.warehouse_path) as con:
        schemas = {
            spec.name: check_landing_file(con, spec, files[spec.name], check_types=True) for spec in TABLES
        }
        warnings = [describe_extra(s, f"{RAW_SCHEMA}.{s.table}") for s in schemas.values() if s.extra]
        current = "raw schema"

        def failure(reason: str) -> str:
            return (
                f"load failed while reading {current} ({reason}); raw is unchanged: "
                "fix or regenerate that file and run `tpch-elt load` again"
            )

        with transaction(con, failure):
            ensure_batches_table(con)
            ensure_quarantine_table(con)
            con.execute(f"delete from {QUARANTINE_TABLE}")
            for spec in TABLES:
                current = str(files[spec.name])
                source = (
                    f"(select * from {read_parquet_sql(files[spec.name])} {key_filter.get(spec.name, '')})"
                )
                rows, checked = replace_initial_table(con, spec.name, source, stamp, schemas[spec.name].extra)
                quarantined.update(checked.quarantined)
                if checked.orders_withdrawn:
                    row_counts["orders"] -= checked.orders_withdrawn
                row_counts[spec.name] = rows
                if on_table is not None:
                    on_table(spec.name, row_counts[spec.name])
            current = BATCHES_TABLE
            con.execute(f"delete from {BATCHES_TABLE}")
            con.execute(
                f"insert into {BATCHES_TABLE} "
                "(batch_id, kind, scale_factor, source, row_counts, loaded_at, plan) "
                "values (?, 'initial', ?, ?, ?, ?, ?)",
                [
                    INITIAL_BATCH_ID,
                    scale_factor,
                    str(settings.landing_dir(scale_factor)),
                    ",".join(f"{k}={v}" for k, v in row_counts.items()),
                    loaded_at,
                    plan.to_json() if plan is not None else NO_PLAN,
                ],
            )
    return LoadResult(INITIAL_BATCH_ID, loaded_at, row_counts, quarantined, warnings)
