"""Ingest: append the next arrival batch to raw, atomically and idempotently.

Policy for odd data (documented in the README, tested in tests/):

* Every row of a batch is either appended to `raw.orders`/`raw.lineitem`
  or written to `raw._quarantine` with the reason; nothing is dropped.
* Quarantined: null keys, keys repeated inside the batch, keys already
  loaded by an earlier batch (a re-delivery), line items whose order is
  neither loaded nor accepted in this batch (orphans, including lines of a
  quarantined order), and values no order can have (quantity <= 0,
  discount outside [0, 1], negative tax or price, receipt before ship).
* Late arrivals (new order keys below the current order-key watermark) are
  accepted: the incremental models follow the batch watermark
  (`_batch_id`), not the order key, so they are processed like any other
  new row, and `ingest` reports how many there were.
* Ingesting a batch that is already loaded changes nothing and says so;
  the batch table's primary key makes a concurrent double ingest fail and
  roll back instead of duplicating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from tpch_elt.batches import BatchPlan, batch_dir, read_plan
from tpch_elt.errors import PipelineError
from tpch_elt.load import BATCHES_TABLE, RAW_SCHEMA, ensure_batches_table, utc_now
from tpch_elt.lock import warehouse_lock
from tpch_elt.settings import Settings
from tpch_elt.warehouse import connect, table_exists

QUARANTINE_TABLE = f"{RAW_SCHEMA}._quarantine"

ORDER_REJECT_REASON = """
    case
        when b.o_orderkey is null then 'null order key'
        when b.o_orderkey in (
            select o_orderkey from batch_orders
            group by o_orderkey having count(*) > 1
        ) then 'order key repeated in batch'
        when b.o_orderkey in (select o_orderkey from raw.orders)
            then 'order key already loaded'
        when b.o_custkey is null then 'null customer key'
        when b.o_totalprice < 0 then 'negative total price'
    end
"""

LINEITEM_REJECT_REASON = """
    case
        when b.l_orderkey is null or b.l_linenumber is null then 'null line key'
        when exists (
            select 1 from batch_lineitem d
            where d.l_orderkey = b.l_orderkey and d.l_linenumber = b.l_linenumber
            group by d.l_orderkey, d.l_linenumber having count(*) > 1
        ) then 'line key repeated in batch'
        when exists (
            select 1 from raw.lineitem r
            where r.l_orderkey = b.l_orderkey and r.l_linenumber = b.l_linenumber
        ) then 'line key already loaded'
        when b.l_orderkey not in (select o_orderkey from accepted_orders)
            and b.l_orderkey not in (select o_orderkey from raw.orders)
            then 'order missing or quarantined'
        when b.l_quantity <= 0 then 'quantity not positive'
        when b.l_discount < 0 or b.l_discount > 1 then 'discount outside [0, 1]'
        when b.l_tax < 0 then 'negative tax'
        when b.l_extendedprice < 0 then 'negative extended price'
        when b.l_receiptdate < b.l_shipdate then 'receipt before ship'
    end
"""


@dataclass
class IngestResult:
    """What one `tpch-elt ingest` did."""

    batch_id: int | None
    status: str  # "ingested", "already loaded" or "nothing pending"
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    late_orders: int = 0
    loaded_at: datetime | None = None


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    kind: str
    row_counts: str
    loaded_at: datetime


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def ensure_quarantine_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        create table if not exists {QUARANTINE_TABLE} (
            batch_id integer not null,
            table_name varchar not null,
            reason varchar not null,
            record json,
            quarantined_at timestamp not null
        )
        """
    )


def loaded_batches(con: duckdb.DuckDBPyConnection) -> list[BatchRecord]:
    if not table_exists(con, RAW_SCHEMA, "_batches"):
        return []
    rows = con.execute(
        f"select batch_id, kind, row_counts, loaded_at from {BATCHES_TABLE} order by batch_id"
    ).fetchall()
    return [BatchRecord(int(b), str(k), str(r or ""), t) for b, k, r, t in rows]


def initial_landing_dir(con: duckdb.DuckDBPyConnection, warehouse: Path) -> Path:
    row = (
        con.execute(f"select source from {BATCHES_TABLE} where kind = 'initial'").fetchall()
        if (table_exists(con, RAW_SCHEMA, "_batches"))
        else []
    )
    if not row:
        raise PipelineError(
            f"warehouse {warehouse} has no initial load: run `tpch-elt load` (or `tpch-elt run`) first"
        )
    return Path(row[0][0])


def _plan_for(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[Path, BatchPlan]:
    landing = initial_landing_dir(con, settings.warehouse_path)
    plan = read_plan(landing)
    if plan is None:
        raise PipelineError(
            f"no arrival batches planned in {landing}: run `tpch-elt generate` with "
            "--initial-fraction and --batches, then `tpch-elt load`"
        )
    return landing, plan


def ingest(settings: Settings, batch_id: int | None = None) -> IngestResult:
    """Append batch `batch_id` (default: the next pending one) to raw."""
    with warehouse_lock(settings.warehouse_path, "ingest"), connect(settings.warehouse_path) as con:
        landing, plan = _plan_for(con, settings)
        records = loaded_batches(con)
        loaded = {r.batch_id: r for r in records}
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
        return _append_batch(con, wanted, files)


def _append_batch(con: duckdb.DuckDBPyConnection, batch_id: int, files: dict[str, Path]) -> IngestResult:
    loaded_at = utc_now()
    stamp = f"cast('{loaded_at.isoformat(sep=' ')}' as timestamp)"
    result = IngestResult(batch_id, "ingested", loaded_at=loaded_at)
    current = "raw"
    con.execute("begin transaction")
    try:
        ensure_batches_table(con)
        ensure_quarantine_table(con)
        for table, path in files.items():
            current = str(path)
            con.execute(
                f"create or replace temp table batch_{table} as select * from read_parquet({_quote(path)})"
            )
        current = "raw.orders"
        con.execute(
            f"""
            create or replace temp table checked_orders as
            select b.*, {ORDER_REJECT_REASON} as _reject_reason
            from batch_orders as b
            """
        )
        con.execute(
            "create or replace temp table accepted_orders as "
            "select * exclude (_reject_reason) from checked_orders where _reject_reason is null"
        )
        current = "raw.lineitem"
        con.execute(
            f"""
            create or replace temp table checked_lineitem as
            select b.*, {LINEITEM_REJECT_REASON} as _reject_reason
            from batch_lineitem as b
            """
        )
        watermark = con.execute("select max(o_orderkey) from raw.orders").fetchall()[0][0]
        result.late_orders = int(
            con.execute(
                "select count(*) from accepted_orders where o_orderkey < ?", [watermark or 0]
            ).fetchall()[0][0]
        )
        for table in ("orders", "lineitem"):
            current = f"raw.{table}"
            con.execute(
                f"""
                insert into raw.{table} by name
                select * exclude (_reject_reason),
                    cast({batch_id} as integer) as _batch_id,
                    {stamp} as _loaded_at
                from checked_{table}
                where _reject_reason is null
                """
            )
            con.execute(
                f"""
                insert into {QUARANTINE_TABLE}
                select
                    {batch_id}, '{table}', _reject_reason,
                    to_json(q) , {stamp}
                from (select * from checked_{table} where _reject_reason is not null) as q
                """
            )
            result.rows[table] = int(
                con.execute(f"select count(*) from checked_{table} where _reject_reason is null").fetchall()[
                    0
                ][0]
            )
            for reason, count in con.execute(
                f"select _reject_reason, count(*) from checked_{table} "
                "where _reject_reason is not null group by 1 order by 1"
            ).fetchall():
                result.quarantined[f"{table}: {reason}"] = int(count)
        current = BATCHES_TABLE
        con.execute(
            f"insert into {BATCHES_TABLE} values (?, 'batch', null, ?, ?, ?)",
            [
                batch_id,
                str(files["orders"].parent),
                ",".join(f"{k}={v}" for k, v in result.rows.items()),
                loaded_at,
            ],
        )
        for name in (
            "batch_orders",
            "batch_lineitem",
            "checked_orders",
            "checked_lineitem",
            "accepted_orders",
        ):
            con.execute(f"drop table if exists {name}")
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        reason = str(exc).splitlines()[0]
        raise PipelineError(
            f"ingest of batch {batch_id} failed at {current} ({reason}); raw is unchanged: "
            "fix the batch files and run `tpch-elt ingest` again"
        ) from exc
    except BaseException:
        con.execute("rollback")
        raise
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
            plan = read_plan(initial_landing_dir(con, settings.warehouse_path))
            planned = len(plan.batches) if plan else 0
        raw_max = None
        if table_exists(con, RAW_SCHEMA, "orders"):
            raw_max = con.execute("select max(o_orderkey) from raw.orders").fetchall()[0][0]
        processed_key = processed_batch = None
        if table_exists(con, "staging", "stg_fct_orders"):
            processed_key, processed_batch = con.execute(
                "select max(order_key), max(_batch_id) from staging.stg_fct_orders"
            ).fetchall()[0]
        quarantined = 0
        if table_exists(con, RAW_SCHEMA, "_quarantine"):
            quarantined = int(con.execute(f"select count(*) from {QUARANTINE_TABLE}").fetchall()[0][0])
    return Status(
        settings.warehouse_path, records, planned, raw_max, processed_key, processed_batch, quarantined
    )
