"""TPC-H rows made by hand for tests that build a tiny raw schema: one valid row per table, and SQL for rows."""

from __future__ import annotations

from tpch_elt.load.schema_check import expected_type
from tpch_elt.tpch import table

# One row per table that breaks no rule when customer 1 and order 1 are in raw.
GOOD: dict[str, dict[str, object]] = {
    "region": {"r_regionkey": 0, "r_name": "AFRICA", "r_comment": "c"},
    "nation": {"n_nationkey": 0, "n_name": "ALGERIA", "n_regionkey": 0, "n_comment": "c"},
    "supplier": {
        "s_suppkey": 1,
        "s_name": "Supplier#000000001",
        "s_address": "a",
        "s_nationkey": 0,
        "s_phone": "10-000-000-0000",
        "s_acctbal": "5.00",
        "s_comment": "c",
    },
    "customer": {
        "c_custkey": 2,
        "c_name": "Customer#000000002",
        "c_address": "a",
        "c_nationkey": 0,
        "c_phone": "10-000-000-0000",
        "c_acctbal": "-5.00",
        "c_mktsegment": "BUILDING",
        "c_comment": "c",
    },
    "part": {
        "p_partkey": 1,
        "p_name": "goldenrod lavender",
        "p_mfgr": "Manufacturer#1",
        "p_brand": "Brand#13",
        "p_type": "PROMO BURNISHED COPPER",
        "p_size": 7,
        "p_container": "JUMBO PKG",
        "p_retailprice": "901.00",
        "p_comment": "c",
    },
    "partsupp": {
        "ps_partkey": 1,
        "ps_suppkey": 1,
        "ps_availqty": 10,
        "ps_supplycost": "1.50",
        "ps_comment": "c",
    },
    "orders": {
        "o_orderkey": 2,
        "o_custkey": 1,
        "o_orderstatus": "O",
        "o_totalprice": "100.00",
        "o_orderdate": "1995-01-01",
        "o_orderpriority": "1-URGENT",
        "o_clerk": "Clerk#000000001",
        "o_shippriority": 0,
        "o_comment": "c",
    },
    "lineitem": {
        "l_orderkey": 1,
        "l_partkey": 1,
        "l_suppkey": 1,
        "l_linenumber": 1,
        "l_quantity": "3.00",
        "l_extendedprice": "30.00",
        "l_discount": "0.05",
        "l_tax": "0.02",
        "l_returnflag": "N",
        "l_linestatus": "O",
        "l_shipdate": "1995-01-10",
        "l_commitdate": "1995-01-12",
        "l_receiptdate": "1995-01-15",
        "l_shipinstruct": "NONE",
        "l_shipmode": "AIR",
        "l_comment": "c",
    },
}


def rows_sql(name: str, rows: list[dict[str, object]]) -> str:
    """`rows` of table `name` as a SELECT with raw's column types (a missing or None value: NULL).

    No rows: an empty SELECT with the same columns.
    """
    selects = []
    for row in rows or [{}]:
        values = []
        for column in table(name).columns:
            value = row.get(column)
            literal = "null" if value is None else f"'{value}'"
            values.append(f"cast({literal} as {expected_type(column)}) as {column}")
        selects.append("select " + ", ".join(values) + ("" if rows else " where false"))
    return " union all ".join(selects)
