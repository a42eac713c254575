"""Arrival batches made in SQL for the drift detector's tests: TPC-H's orders and line items
(the columns of tpch.py), one batch every 4 hours, deterministic (hash(), not random())."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from tpch_elt.load.full_load import ensure_batches_table
from tpch_elt.load.rules import ensure_quarantine_table
from tpch_elt.tpch import table as table_spec

START = datetime(2026, 3, 2)  # noqa: DTZ001  (a Monday; naive UTC, as raw stores it)
EVERY = timedelta(hours=4)
ORDERS_PER_BATCH = 400

_ORDERS = """
    select k as o_orderkey, k % 997 as o_custkey,
           ['F', 'O', 'P'][1 + cast(hash(k, 1) % 3 as integer)] as o_orderstatus,
           cast(1000 + cast(hash(k, 2) % 400000 as integer) / 1.0 as decimal(15, 2)) as o_totalprice,
           date '1995-01-01' + cast(cast(hash(k, 3) % 2000 as integer) as integer) as o_orderdate,
           ['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'][1 + cast(hash(k, 4) % 5 as integer)] as o_orderpriority,
           'Clerk#' || lpad(cast(cast(hash(k, 5) % 1000 as integer) as varchar), 9, '0') as o_clerk,
           0 as o_shippriority, 'a comment' as o_comment
    from range({low}, {high}) as t(k)
"""
_LINES = """
    select o_orderkey as l_orderkey, cast(hash(o_orderkey, n, 6) % 20000 as integer) as l_partkey,
           cast(hash(o_orderkey, n, 7) % 1000 as integer) as l_suppkey, n as l_linenumber,
           cast(1 + cast(hash(o_orderkey, n, 8) % 50 as integer) as decimal(15, 2)) as l_quantity,
           cast(900 + cast(hash(o_orderkey, n, 9) % 100000 as integer) / 1.0 as decimal(15, 2)) as l_extendedprice,
           cast(cast(hash(o_orderkey, n, 10) % 11 as integer) / 100 as decimal(15, 2)) as l_discount,
           cast(cast(hash(o_orderkey, n, 11) % 9 as integer) / 100 as decimal(15, 2)) as l_tax,
           ['A', 'N', 'R'][1 + cast(hash(o_orderkey, n, 12) % 3 as integer)] as l_returnflag,
           ['F', 'O'][1 + cast(hash(o_orderkey, n, 13) % 2 as integer)] as l_linestatus,
           o_orderdate + 10 as l_shipdate, o_orderdate + 20 as l_commitdate, o_orderdate + 30 as l_receiptdate,
           ['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'][1 + cast(hash(o_orderkey, n, 14) % 4 as integer)]
               as l_shipinstruct,
           ['AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK'][1 + cast(hash(o_orderkey, n, 15) % 7 as integer)]
               as l_shipmode,
           'a line' as l_comment
    from batch_orders cross join range(1, 5) as r(n)
"""


def create_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Empty raw.orders and raw.lineitem (the spec's columns, then _batch_id and _loaded_at), an initial load."""
    con.execute("create schema if not exists raw")
    for name in ("orders", "lineitem"):
        columns = ", ".join(f"{column} {kind.duckdb}" for column, kind in table_spec(name).schema)
        con.execute(f"create table raw.{name} ({columns}, _batch_id integer, _loaded_at timestamp)")
    ensure_batches_table(con)
    ensure_quarantine_table(con)
    con.execute(
        "insert into raw._batches (batch_id, kind, loaded_at) values (0, 'initial', ?)", [START - EVERY]
    )


def add_batch(
    con: duckdb.DuckDBPyConnection,
    batch: int,
    *,
    orders: int = ORDERS_PER_BATCH,
    landed: datetime | None = None,
    fault: str | None = None,
) -> datetime:
    """Append batch `batch` to raw (rows of `orders` new order keys), with an optional fault; when it landed."""
    landed = landed or START + batch * EVERY
    low = batch * 100_000
    con.execute(f"create or replace temp table batch_orders as {_ORDERS.format(low=low, high=low + orders)}")
    con.execute(f"create or replace temp table batch_lines as {_LINES}")
    if fault == "new_shipmode":
        con.execute("update batch_lines set l_shipmode = 'DRONE' where l_linenumber = 1")
    elif fault == "cents":
        con.execute("update batch_lines set l_extendedprice = l_extendedprice * 100")
    elif fault == "null_shippriority":
        con.execute("update batch_orders set o_shippriority = null where o_orderkey % 10 = 0")
    for name, source in (("orders", "batch_orders"), ("lineitem", "batch_lines")):
        con.execute(f"insert into raw.{name} select *, {batch}, ? from {source}", [landed])
    if fault == "quarantined":
        con.execute(
            "insert into raw._quarantine select ?, 'lineitem', 'key repeated in the delivery', null, ? "
            "from range(200)",
            [batch, landed],
        )
    con.execute(
        "insert into raw._batches (batch_id, kind, loaded_at) values (?, 'batch', ?)", [batch, landed]
    )
    return landed
