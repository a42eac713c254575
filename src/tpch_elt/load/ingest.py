"""Ingest: append the next arrival batch to raw, atomically and idempotently.

Policy for odd data (documented in the README, tested in tests/):

* Every row of a batch is either appended to `raw.orders`/`raw.lineitem`
  or written to `raw._quarantine` with the reason; nothing is dropped.
  The reject rules are the initial load's (`tpch_elt.load.rules`): null keys,
  keys repeated inside the batch, keys already loaded by an earlier batch
  (a re-delivery), orders whose customer is unknown, line items whose
  order is neither loaded nor accepted in this batch (orphans, including
  lines of a quarantined order), a NULL in any column a dbt not_null
  test guards, and values no order can have.
* The batch plan must be the one `load` split by: a plan rewritten after
  the load (another initial split, or a batch already ingested re-cut)
  would skip or repeat orders, so `ingest` refuses it and names the
  split to restore. Pending batches may change (arrive reordered, more).
* The batch files' schemas are checked from their Parquet footers before
  the transaction (`tpch_elt.load.schema_check`): a missing, renamed or
  incompatibly retyped column refuses the batch with raw untouched; an
  extra column is added to raw (earlier rows NULL) with a warning.
* Late arrivals (new order keys below the current order-key watermark) are
  accepted: the incremental models follow the batch watermark
  (`_batch_id`), not the order key, so they are processed like any other
  new row, and `ingest` reports how many there were.
* Ingesting a batch that is already loaded changes nothing and says so;
  the batch table's primary key makes a concurrent double ingest fail and
  roll back instead of duplicating.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import BatchPlan, BatchRange, batch_dir, read_plan
from tpch_elt.load.full_load import BATCHES_TABLE, NO_PLAN, RAW_SCHEMA, ensure_batches_table, utc_now
from tpch_elt.load.quarantine import ACCEPTED, screened
from tpch_elt.load.rules import QUARANTINE_TABLE, ensure_quarantine_table
from tpch_elt.load.schema_check import FileSchema, check_file, describe_extra, read_parquet_sql
from tpch_elt.settings import Settings
from tpch_elt.tpch import table as table_spec
from tpch_elt.warehouse.connection import connect, table_exists, transaction
from tpch_elt.warehouse.lock import warehouse_lock
from tpch_elt.warehouse.sql import fold_ident, quote_ident
from tpch_elt.warehouse.watermarks import processed

__all__ = ["QUARANTINE_TABLE", "IngestResult", "ensure_quarantine_table", "ingest", "status"]


@dataclass
class IngestResult:
    """What one `tpch-elt ingest` did."""

    batch_id: int | None
    status: str  # "ingested", "already loaded" or "nothing pending"
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    late_orders: int = 0
    loaded_at: datetime | None = None
    # additive schema changes let through, one line each
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    kind: str
    row_counts: str
    loaded_at: datetime


def loaded_batches(con: duckdb.DuckDBPyConnection) -> list[BatchRecord]:
    if not table_exists(con, RAW_SCHEMA, "_batches"):
        return []
    rows = con.execute(
        f"select batch_id, kind, row_counts, loaded_at from {BATCHES_TABLE} order by batch_id"
    ).fetchall()
    return [BatchRecord(int(b), str(k), str(r or ""), t) for b, k, r, t in rows]


def initial_landing_dir(con: duckdb.DuckDBPyConnection, settings: Settings) -> Path:
    """The landing directory the batches come from.

    The one under the current data directory for the loaded scale factor
    when it has a batch plan (so a copied or moved data directory ingests
    its own files), else the one the initial load recorded.
    """
    warehouse = settings.warehouse_path
    row = (
        con.execute(f"select source, scale_factor from {BATCHES_TABLE} where kind = 'initial'").fetchall()
        if (table_exists(con, RAW_SCHEMA, "_batches"))
        else []
    )
    if not row:
        raise PipelineError(
            f"warehouse {warehouse} has no initial load: run `tpch-elt load` (or `tpch-elt run`) first"
        )
    source, scale_factor = row[0]
    if scale_factor is not None:
        local = settings.landing_dir(float(scale_factor))
        if read_plan(local) is not None:
            return local
    return Path(source)


def _recorded_plans(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str | None, float | None]]:
    """What raw._batches recorded of the plan, by batch id: for the initial load
    the whole plan (JSON, or NO_PLAN), for each ingested batch its key range (JSON).
    Empty for a warehouse loaded before plans were recorded."""
    has_plan = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = ? and table_name = '_batches' and column_name = 'plan'",
        [RAW_SCHEMA],
    ).fetchall()[0][0]
    if not has_plan:
        return {}
    rows = con.execute(
        f"select batch_id, plan, scale_factor from {BATCHES_TABLE} where plan is not null"
    ).fetchall()
    return {int(b): (p, sf) for b, p, sf in rows}


def _batch_range(batch: BatchRange) -> str:
    return json.dumps({"min_order_key": batch.min_order_key, "max_order_key": batch.max_order_key})


def _check_plan(
    landing: Path, plan: BatchPlan | None, recorded: dict[int, tuple[str | None, float | None]]
) -> None:
    """Refuse a plan that would skip or repeat orders: one rewritten after `load`
    (another initial split) or changing a batch already ingested. Pending
    batches may change (arrive in another order, or more of them)."""
    initial, scale_factor = recorded.get(0, (None, None))
    if initial is None:
        return  # loaded before plans were recorded
    if initial == NO_PLAN:
        if plan is not None:
            sf = f"{scale_factor:g}" if scale_factor is not None else f"{plan.scale_factor:g}"
            raise PipelineError(
                f"the warehouse was loaded with every order and no batches, but {landing} now plans "
                f"{len(plan.batches)} (written after the load): run `tpch-elt load -s {sf}` to reload by the new plan"
            )
        return
    loaded = BatchPlan.from_json(initial)
    planned = {b.batch_id: _batch_range(b) for b in plan.batches} if plan is not None else {}
    changed = []
    if plan is None or plan.initial_max_order_key != loaded.initial_max_order_key:
        changed.append("the initial split")
    for batch_id, (ingested, _) in sorted(recorded.items()):
        if batch_id > 0 and ingested is not None and planned.get(batch_id) != ingested:
            keys = json.loads(ingested)
            changed.append(
                f"batch {batch_id} (ingested: keys {keys['min_order_key']}..{keys['max_order_key']})"
            )
    if not changed:
        return
    sf = f"{loaded.scale_factor:g}"
    what = ", ".join(changed)
    now = "no plan" if plan is None else plan.describe()
    raise PipelineError(
        f"the batch plan in {landing} changed {what} since the warehouse loaded it "
        f"(loaded: {loaded.describe()}; now: {now}), so ingesting would skip or repeat orders: "
        f"run `tpch-elt generate -s {sf} --initial-fraction {loaded.initial_fraction:g} "
        f"--batches {len(loaded.batches)}` to restore it, or `tpch-elt load -s {sf}` to reload from the new plan"
    )


def _plan_for(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[Path, BatchPlan]:
    """The landing directory and its batch plan, checked against what was loaded (`_check_plan`)."""
    landing = initial_landing_dir(con, settings)
    plan = read_plan(landing)
    _check_plan(landing, plan, _recorded_plans(con))
    if plan is None:
        raise PipelineError(
            f"no arrival batches planned in {landing}: run `tpch-elt generate` with "
            "--initial-fraction and --batches, then `tpch-elt load`"
        )
    return landing, plan


def ingest(settings: Settings, batch_id: int | None = None, *, run_key: str | None = None) -> IngestResult:
    """Append batch `batch_id` (default: the next pending one) to raw.

    `run_key` names the orchestrator run asking (the Airflow DAG passes its
    run id): a run that already ingested a batch gets "already loaded" for
    that batch instead of the next one, so a retried task changes nothing.
    """
    with warehouse_lock(settings.warehouse_path, "ingest"), connect(settings.warehouse_path) as con:
        landing, plan = _plan_for(con, settings)
        records = loaded_batches(con)
        loaded = {r.batch_id: r for r in records}
        if run_key is not None:
            ensure_batches_table(con)  # adds run_key to warehouses from before it
            done = con.execute(
                f"select batch_id, loaded_at from {BATCHES_TABLE} where run_key = ? order by batch_id desc",
                [run_key],
            ).fetchall()
            if done:
                return IngestResult(int(done[0][0]), "already loaded", loaded_at=done[0][1])
        next_id = max(loaded) + 1 if loaded else 1
        wanted = next_id if batch_id is None else batch_id
        if wanted in loaded:
            return IngestResult(wanted, "already loaded", loaded_at=loaded[wanted].loaded_at)
        if wanted > len(plan.batches):
            if batch_id is None:
                return IngestResult(None, "nothing pending")
            raise PipelineError(
                f"batch {batch_id} does not exist: the plan in {landing} has {len(plan.batches)} batches"
            )
        if wanted != next_id:
            raise PipelineError(
                f"batch {wanted} is not next: ingest batch {next_id} first (batches arrive in order)"
            )
        folder = batch_dir(landing, wanted)
        files = {t: folder / f"{t}.parquet" for t in ("orders", "lineitem")}
        for path in files.values():
            if not path.is_file():
                raise PipelineError(
                    f"batch file {path} is missing: run `tpch-elt generate` again to rebuild the batches"
                )
        schemas = {
            table: check_file(
                con,
                table_spec(table),
                path,
                kind="batch file",
                remedy=(
                    "fix the file or rebuild the batches with `tpch-elt generate --initial-fraction F "
                    "--batches N --force`, then run `tpch-elt ingest` again"
                ),
            )
            for table, path in files.items()
        }
        planned = next(b for b in plan.batches if b.batch_id == wanted)
        return _append_batch(con, wanted, files, schemas, run_key, _batch_range(planned))


def _add_new_columns(con: duckdb.DuckDBPyConnection, schema: FileSchema) -> list[str]:
    """ALTER raw.<table> for the file's extra columns raw lacks; the warnings for them."""
    table = schema.table
    present = {
        fold_ident(str(row[0]))
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [RAW_SCHEMA, table],
        ).fetchall()
    }
    new = tuple((name, kind) for name, kind in schema.extra if name not in present)
    for name, kind in new:
        con.execute(f"alter table {RAW_SCHEMA}.{table} add column {quote_ident(name)} {kind}")
    if not new:
        return []
    return [describe_extra(FileSchema(schema.path, table, new), f"{RAW_SCHEMA}.{table}")]


def _append_batch(
    con: duckdb.DuckDBPyConnection,
    batch_id: int,
    files: dict[str, Path],
    schemas: dict[str, FileSchema],
    run_key: str | None = None,
    planned_range: str | None = None,
) -> IngestResult:
    loaded_at = utc_now()
    stamp = f"cast('{loaded_at.isoformat(sep=' ')}' as timestamp)"
    result = IngestResult(batch_id, "ingested", loaded_at=loaded_at)
    current = "raw"

    def failure(reason: str) -> str:
        return (
            f"ingest of batch {batch_id} failed at {current} ({reason}); raw is unchanged: "
            "fix the batch files and run `tpch-elt ingest` again"
        )

    with transaction(con, failure):
        ensure_batches_table(con)
        ensure_quarantine_table(con)
        watermark = con.execute("select max(o_orderkey) from raw.orders").fetchall()[0][0]
        # orders first: the line items' rules read the orders accepted here
        for table in ("orders", "lineitem"):
            current = str(files[table])
            result.warnings += _add_new_columns(con, schemas[table])
            with screened(
                con,
                table,
                read_parquet_sql(files[table]),
                batch_id=batch_id,
                stamp_sql=stamp,
                redeliveries=True,
            ) as checked:
                if table == "orders":
                    result.late_orders = int(
                        con.execute(
                            f"select count(*) from {checked.view} where {ACCEPTED} and o_orderkey < ?",
                            [watermark or 0],
                        ).fetchall()[0][0]
                    )
                result.quarantined.update(checked.quarantined)
                if checked.orders_withdrawn:
                    result.rows["orders"] -= checked.orders_withdrawn
                current = f"raw.{table}"
                inserted = con.execute(
                    f"""
                    insert into raw.{table} by name
                    select * exclude (_reject_reason),
                        cast({batch_id} as integer) as _batch_id,
                        {stamp} as _loaded_at
                    from {checked.view}
                    where {ACCEPTED}
                    """
                ).fetchall()
                result.rows[table] = int(inserted[0][0]) if inserted else 0
        current = BATCHES_TABLE
        con.execute(
            f"insert into {BATCHES_TABLE} "
            "(batch_id, kind, scale_factor, source, row_counts, loaded_at, run_key, plan) "
            "values (?, 'batch', null, ?, ?, ?, ?, ?)",
            [
                batch_id,
                str(files["orders"].parent),
                ",".join(f"{k}={v}" for k, v in result.rows.items()),
                loaded_at,
                run_key,
                planned_range,
            ],
        )
    return result


@dataclass(frozen=True)
class Status:
    warehouse: Path
    batches: list[BatchRecord]
    planned: int
    raw_max_order_key: int | None
    processed_max_order_key: int | None
    processed_max_batch: int | None
    quarantined: int


def status(settings: Settings) -> Status:
    """Batches loaded and pending, and the watermarks of raw and staging."""
    with connect(settings.warehouse_path, read_only=True) as con:
        records = loaded_batches(con)
        planned = 0
        if records:
            plan = read_plan(initial_landing_dir(con, settings))
            planned = len(plan.batches) if plan else 0
        raw_max = None
        if table_exists(con, RAW_SCHEMA, "orders"):
            raw_max = con.execute("select max(o_orderkey) from raw.orders").fetchall()[0][0]
        built = processed(con)
        processed_key = built.max_order_key if built else None
        processed_batch = built.max_batch if built else None
        quarantined = 0
        if table_exists(con, RAW_SCHEMA, "_quarantine"):
            quarantined = int(con.execute(f"select count(*) from {QUARANTINE_TABLE}").fetchall()[0][0])
    return Status(
        settings.warehouse_path, records, planned, raw_max, processed_key, processed_batch, quarantined
    )
