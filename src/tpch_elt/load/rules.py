"""Reject rules: which delivered rows go to `raw._quarantine`, and why.

One set of rules for the initial `load` and for every `ingest`ed batch, as
one SQL `case` per table whose first matching branch is the row's reason.
Every delivered row ends up either in its raw table or in the quarantine
with that reason; nothing is dropped silently. The rules mirror the dbt
tests on staging, so a quarantined row never fails a build:

* every table: a null key, a key repeated in the delivery, (for
  batches) a key already loaded (a re-delivery), and a null in any column
  a dbt `not_null` test guards on the sources or staging models
  (`NOT_NULL`, checked against the dbt YAML by tests/unit);
* orders: an unknown customer (missing or quarantined), a negative total
  price;
* line items: an order that is missing or quarantined, quantity <= 0,
  discount outside TPC-H's [0, 0.10], tax outside [0, 0.08], a negative
  extended price, receipt before ship, ship date not after the order date.

Every rule is NULL-safe: a row is rejected unless its condition is
definitely false, so a NULL in a compared column rejects the row instead
of passing it.

Rules on other tables' rows (customer, order) read raw, so tables are
checked in TPC-H's dependency order and each is written before the next is
checked: a quarantined customer's orders, and their lines, follow it.

An order is delivered whole or not at all: when one of its lines is
rejected, the order (if it came in the same delivery) and its other lines
follow that line into the quarantine (`a line of the order was rejected`,
`another line of the order was rejected`). Otherwise the order's total
price would no longer equal its lines' charges, the build's reconciliation
test would fail, and nothing would be published until the data was fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tpch_elt.load.schema_check import expected_type
from tpch_elt.tpch import TABLES
from tpch_elt.tpch import table as table_spec
from tpch_elt.warehouse.sql import quote_ident

QUARANTINE_TABLE = "raw._quarantine"

# Primary keys by table (tpch.py).
KEYS: dict[str, tuple[str, ...]] = {spec.name: spec.key for spec in TABLES}
# Every column a dbt `not_null` test guards on the sources or the staging
# models, in raw's names: a NULL there is quarantined, never loaded, so it
# cannot fail the build (tests/unit checks this list against the dbt YAML).
NOT_NULL: dict[str, tuple[str, ...]] = {
    "region": ("r_regionkey", "r_name"),
    "nation": ("n_nationkey", "n_regionkey", "n_name"),
    "supplier": ("s_suppkey", "s_nationkey", "s_name", "s_acctbal"),
    "customer": ("c_custkey", "c_nationkey", "c_name", "c_mktsegment", "c_acctbal"),
    "part": ("p_partkey", "p_name", "p_retailprice"),
    "partsupp": ("ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost"),
    "orders": ("o_orderkey", "o_custkey", "o_orderstatus", "o_orderpriority", "o_totalprice", "o_orderdate"),
    "lineitem": (
        "l_orderkey",
        "l_linenumber",
        "l_partkey",
        "l_suppkey",
        "l_returnflag",
        "l_linestatus",
        "l_shipinstruct",
        "l_shipmode",
        "l_quantity",
        "l_extendedprice",
        "l_discount",
        "l_tax",
        "l_shipdate",
        "l_commitdate",
        "l_receiptdate",
    ),
}
# Reasons kept from before NOT_NULL (other columns: 'null <column>').
NULL_REASONS: dict[str, str] = {"o_custkey": "null customer key"}

# An order goes whole or not at all (cascade_rejected_lines).
ORDER_REASON = "a line of the order was rejected"
SIBLING_REASON = "another line of the order was rejected"
# Line reasons that do not make a delivered order incomplete: the line is
# already in raw (re-delivery), or it has no order to take along.
NOT_CASCADING = ("line key already loaded", "order missing or quarantined")

# How a reason names each table's key: 'null order key', 'line key already loaded'.
KEY_NAMES: dict[str, str] = {"orders": "order key", "lineitem": "line key", "partsupp": "partsupp key"}


@dataclass(frozen=True)
class Rule:
    reason: str
    condition: str  # SQL over the row `b` and the joined `dup`, `parent`, `customer`


def key_name(table: str) -> str:
    return KEY_NAMES.get(table, f"{table} key")


def null_reason(table: str, column: str) -> str:
    """The reason a NULL in `column` of `table` is rejected with."""
    if column in KEYS[table]:
        return f"null {key_name(table)}"
    return NULL_REASONS.get(column, f"null {column}")


def rules(table: str, *, redeliveries: bool) -> list[Rule]:
    """The rules for `table`, in order; `redeliveries`: also reject keys already in raw."""
    keys = KEYS[table]
    name = key_name(table)
    out = [
        Rule(f"null {name}", " or ".join(f"b.{k} is null" for k in keys)),
        Rule(f"{name} repeated in batch", f"dup.{keys[0]} is not null"),
    ]
    cascade = []
    if redeliveries:
        match = " and ".join(f"r.{k} = b.{k}" for k in keys)
        out.append(Rule(f"{name} already loaded", f"exists (select 1 from raw.{table} as r where {match})"))
    out += [
        Rule(null_reason(table, column), f"b.{column} is null")
        for column in NOT_NULL[table]
        if column not in keys
    ]
    if table == "orders":
        out += [
            Rule("customer missing or quarantined", "customer._customer_key is null"),
            Rule("negative total price", "b.o_totalprice < 0"),
        ]
    elif table == "lineitem":
        out += [
            Rule("order missing or quarantined", "parent._order_key is null"),
            Rule("quantity not positive", "b.l_quantity <= 0"),
            Rule("discount outside [0, 0.10]", "b.l_discount < 0 or b.l_discount > 0.10"),
            Rule("tax outside [0, 0.08]", "b.l_tax < 0 or b.l_tax > 0.08"),
            Rule("negative extended price", "b.l_extendedprice < 0"),
            Rule("receipt before ship", "b.l_receiptdate < b.l_shipdate"),
            Rule("ship date not after order date", "b.l_shipdate <= parent._order_date"),
        ]
        # last: a line's own reason comes first (see cascade_rejected_lines)
        cascade = [Rule(SIBLING_REASON, "incomplete._order_key is not null")]
    return out + cascade


def reason_sql(table: str, *, redeliveries: bool) -> str:
    """The `case` expression: the first rule a row breaks, or null.

    NULL-safe: a branch matches unless its condition is false, so a
    comparison with a NULL (unknown) rejects the row instead of passing it.
    """
    branches = "\n".join(
        f"        when ({rule.condition}) is not false then '{rule.reason}'"
        for rule in rules(table, redeliveries=redeliveries)
    )
    return f"case\n{branches}\n    end"


def duplicate_keys_sql(table: str, source: str) -> str:
    """The keys that occur more than once in `source`."""
    keys = KEYS[table]
    not_null = " and ".join(f"{k} is not null" for k in keys)
    return f"select {', '.join(keys)} from {source} as s where {not_null} group by all having count(*) > 1"


def checked_sql(table: str, source: str, *, redeliveries: bool, duplicates: str | None = None) -> str:
    """Every row of `source` (a relation in SQL) with its `_reject_reason` (null: accepted).

    `duplicates`: a relation holding `duplicate_keys_sql(table, source)`, if
    already computed; else it is computed inline.
    """
    keys = KEYS[table]
    on = " and ".join(f"dup.{k} = b.{k}" for k in keys)
    joins = [f"left join {duplicates or '(' + duplicate_keys_sql(table, source) + ')'} as dup on {on}"]
    if table == "orders":
        joins.append(
            "left join (select distinct c_custkey as _customer_key from raw.customer) as customer "
            "on customer._customer_key = b.o_custkey"
        )
    if table == "lineitem":
        # the orders as accepted before any cascade (check_rows), so a line
        # keeps its own reason after cascade_rejected_lines moves its order
        joins.append("left join parent_orders as parent on parent._order_key = b.l_orderkey")
        joins.append("left join incomplete_orders as incomplete on incomplete._order_key = b.l_orderkey")
    return (
        f"select b.*, {reason_sql(table, redeliveries=redeliveries)} as _reject_reason\n"
        f"from {source} as b\n" + "\n".join(joins)
    )


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


def check_rows(con: duckdb.DuckDBPyConnection, table: str, source: str, *, redeliveries: bool) -> str:
    """Create the temp view `checked_<table>` over `source`; returns its name.

    A view, not a table: the accepted rows are read once, straight into
    raw, so a large initial load is not held in memory twice. The repeated
    keys (normally none) are computed once, into a temp table, because the
    view is read twice: for the quarantine, then for raw.
    """
    view = f"checked_{table}"
    duplicates = f"duplicate_keys_{table}"
    con.execute(f"create or replace temp table {duplicates} as {duplicate_keys_sql(table, source)}")
    if table == "lineitem":
        con.execute(
            "create or replace temp table parent_orders as "
            "select o_orderkey as _order_key, min(o_orderdate) as _order_date from raw.orders group by 1"
        )
        con.execute("create or replace temp table incomplete_orders (_order_key bigint)")
    checked = checked_sql(table, source, redeliveries=redeliveries, duplicates=duplicates)
    con.execute(f"create or replace temp view {view} as {checked}")
    return view


def quarantine_rejected(
    con: duckdb.DuckDBPyConnection, table: str, batch_id: int, stamp_sql: str
) -> dict[str, int]:
    """Move the rejected rows of `checked_<table>` to the quarantine; counts by 'table: reason'.

    Call it before the accepted rows are written: re-delivery rules read raw.
    """
    rejected = f"rejected_{table}"
    con.execute(
        f"create or replace temp table {rejected} as "
        f"select * from checked_{table} where _reject_reason is not null"
    )
    con.execute(
        f"""
        insert into {QUARANTINE_TABLE}
        select {int(batch_id)}, '{table}', _reject_reason,
            to_json(q) , {stamp_sql}
        from {rejected} as q
        """
    )
    counts = {
        f"{table}: {reason}": int(count)
        for reason, count in con.execute(
            f"select _reject_reason, count(*) from {rejected} group by 1 order by 1"
        ).fetchall()
    }
    con.execute(f"drop table {rejected}")
    return counts


def cascade_rejected_lines(con: duckdb.DuckDBPyConnection, batch_id: int, stamp_sql: str) -> dict[str, int]:
    """Quarantine the orders of this delivery that have a rejected line; counts by 'table: reason'.

    Call it after `check_rows(con, "lineitem", ...)` and before
    `quarantine_rejected(con, "lineitem", ...)`: filling `incomplete_orders`
    gives the orders' other lines SIBLING_REASON in `checked_lineitem`.
    Orders of earlier deliveries stay: they are already published.
    """
    skip = ", ".join(f"'{reason}'" for reason in NOT_CASCADING)
    con.execute(
        f"""
        create or replace temp table cascaded_orders as
        select distinct l_orderkey as _order_key
        from checked_lineitem
        where _reject_reason is not null
            and _reject_reason not in ({skip})
            and l_orderkey in (select o_orderkey from raw.orders where _batch_id = {int(batch_id)})
        """
    )
    moved = con.execute("select count(*) from cascaded_orders").fetchall()[0][0]
    if moved:
        in_scope = f"_batch_id = {int(batch_id)} and o_orderkey in (select _order_key from cascaded_orders)"
        con.execute(
            f"""
            insert into {QUARANTINE_TABLE}
            select {int(batch_id)}, 'orders', '{ORDER_REASON}', to_json(q), {stamp_sql}
            from (select * exclude (_batch_id, _loaded_at) from raw.orders where {in_scope}) as q
            """
        )
        con.execute(f"delete from raw.orders where {in_scope}")
        con.execute("insert into incomplete_orders select _order_key from cascaded_orders")
    con.execute("drop table cascaded_orders")
    return {f"orders: {ORDER_REASON}": int(moved)} if moved else {}


def drop_checked(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(f"drop view if exists checked_{table}")
    con.execute(f"drop table if exists duplicate_keys_{table}")
    if table == "lineitem":
        con.execute("drop table if exists parent_orders")
        con.execute("drop table if exists incomplete_orders")


def columns_sql(table: str, extra: tuple[tuple[str, str], ...]) -> str:
    """TPC-H's columns cast to raw's types, then the extra (additive) columns as they came."""
    spec = table_spec(table)
    cast = [f"cast({c} as {expected_type(c)}) as {c}" for c in spec.columns]
    return ", ".join(cast + [quote_ident(name) for name, _ in extra])
