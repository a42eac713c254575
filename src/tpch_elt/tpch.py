"""What TPC-H looks like: tables, columns, keys and cardinalities."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """One TPC-H table as `tpchgen-cli` writes it."""

    name: str
    columns: tuple[str, ...]
    # Rows at scale factor 1; None where TPC-H fixes no exact count.
    rows_at_sf1: int | None
    # True for the fixed-size tables (region, nation) that do not scale.
    fixed: bool = False

    def expected_rows(self, scale_factor: float) -> int | None:
        """Exact row count TPC-H prescribes at `scale_factor`, if any."""
        if self.rows_at_sf1 is None:
            return None
        if self.fixed:
            return self.rows_at_sf1
        # floor, as dbgen does, without float noise (150000 * 0.001 ...)
        return math.floor(self.rows_at_sf1 * scale_factor + 1e-6)


TABLES: tuple[TableSpec, ...] = (
    TableSpec("region", ("r_regionkey", "r_name", "r_comment"), 5, fixed=True),
    TableSpec("nation", ("n_nationkey", "n_name", "n_regionkey", "n_comment"), 25, fixed=True),
    TableSpec(
        "supplier",
        ("s_suppkey", "s_name", "s_address", "s_nationkey", "s_phone", "s_acctbal", "s_comment"),
        10_000,
    ),
    TableSpec(
        "customer",
        (
            "c_custkey",
            "c_name",
            "c_address",
            "c_nationkey",
            "c_phone",
            "c_acctbal",
            "c_mktsegment",
            "c_comment",
        ),
        150_000,
    ),
    TableSpec(
        "part",
        (
            "p_partkey",
            "p_name",
            "p_mfgr",
            "p_brand",
            "p_type",
            "p_size",
            "p_container",
            "p_retailprice",
            "p_comment",
        ),
        200_000,
    ),
    TableSpec(
        "partsupp",
        ("ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost", "ps_comment"),
        800_000,
    ),
    TableSpec(
        "orders",
        (
            "o_orderkey",
            "o_custkey",
            "o_orderstatus",
            "o_totalprice",
            "o_orderdate",
            "o_orderpriority",
            "o_clerk",
            "o_shippriority",
            "o_comment",
        ),
        1_500_000,
    ),
    TableSpec(
        "lineitem",
        (
            "l_orderkey",
            "l_partkey",
            "l_suppkey",
            "l_linenumber",
            "l_quantity",
            "l_extendedprice",
            "l_discount",
            "l_tax",
            "l_returnflag",
            "l_linestatus",
            "l_shipdate",
            "l_commitdate",
            "l_receiptdate",
            "l_shipinstruct",
            "l_shipmode",
            "l_comment",
        ),
        None,  # 1 to 7 lines per order: about 6,000,000 x SF
    ),
)

TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)


def table(name: str) -> TableSpec:
    """The spec of TPC-H table `name`."""
    for spec in TABLES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def format_scale_factor(scale_factor: float) -> str:
    """`1.0` -> `1`, `0.10` -> `0.1`: the spelling used in landing paths."""
    return f"{scale_factor:g}"
