"""What TPC-H looks like: tables, columns, types, keys and cardinalities. Every other module derives from it.

Types follow the TPC-H specification (clause 1.3) as `tpchgen-cli` writes
them: identifiers as BIGINT, integers, DECIMAL(15,2) for money, quantities,
discounts and taxes, dates, and text. Each type carries its name in the
warehouses the project loads: DuckDB (raw holds exactly these) and
Snowflake (exact NUMBER, like DuckDB's DECIMAL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnType:
    """A TPC-H column type, by its name in each warehouse."""

    duckdb: str
    snowflake: str


IDENTIFIER = ColumnType("BIGINT", "number(38, 0)")
INTEGER = ColumnType("INTEGER", "number(38, 0)")
DECIMAL = ColumnType("DECIMAL(15,2)", "number(15, 2)")
DATE = ColumnType("DATE", "date")
TEXT = ColumnType("VARCHAR", "varchar")


@dataclass(frozen=True)
class TableSpec:
    """One TPC-H table as `tpchgen-cli` writes it."""

    name: str
    # (column, type) in the file's order.
    schema: tuple[tuple[str, ColumnType], ...]
    # The primary key's columns.
    key: tuple[str, ...]
    # Rows at scale factor 1; None where TPC-H fixes no exact count.
    rows_at_sf1: int | None
    # True for the fixed-size tables (region, nation) that do not scale.
    fixed: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.schema)

    def expected_rows(self, scale_factor: float) -> int | None:
        """Exact row count TPC-H prescribes at `scale_factor`, if any."""
        if self.rows_at_sf1 is None:
            return None
        if self.fixed:
            return self.rows_at_sf1
        # floor, as dbgen does, without float noise (150000 * 0.001 ...)
        return math.floor(self.rows_at_sf1 * scale_factor + 1e-6)


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "region",
        (("r_regionkey", IDENTIFIER), ("r_name", TEXT), ("r_comment", TEXT)),
        ("r_regionkey",),
        5,
        fixed=True,
    ),
    TableSpec(
        "nation",
        (("n_nationkey", IDENTIFIER), ("n_name", TEXT), ("n_regionkey", IDENTIFIER), ("n_comment", TEXT)),
        ("n_nationkey",),
        25,
        fixed=True,
    ),
    TableSpec(
        "supplier",
        (
            ("s_suppkey", IDENTIFIER),
            ("s_name", TEXT),
            ("s_address", TEXT),
            ("s_nationkey", IDENTIFIER),
            ("s_phone", TEXT),
            ("s_acctbal", DECIMAL),
            ("s_comment", TEXT),
        ),
        ("s_suppkey",),
        10_000,
    ),
    TableSpec(
        "customer",
        (
            ("c_custkey", IDENTIFIER),
            ("c_name", TEXT),
            ("c_address", TEXT),
            ("c_nationkey", IDENTIFIER),
            ("c_phone", TEXT),
            ("c_acctbal", DECIMAL),
            ("c_mktsegment", TEXT),
            ("c_comment", TEXT),
        ),
        ("c_custkey",),
        150_000,
    ),
    TableSpec(
        "part",
        (
            ("p_partkey", IDENTIFIER),
            ("p_name", TEXT),
            ("p_mfgr", TEXT),
            ("p_brand", TEXT),
            ("p_type", TEXT),
            ("p_size", INTEGER),
            ("p_container", TEXT),
            ("p_retailprice", DECIMAL),
            ("p_comment", TEXT),
        ),
        ("p_partkey",),
        200_000,
    ),
    TableSpec(
        "partsupp",
        (
            ("ps_partkey", IDENTIFIER),
            ("ps_suppkey", IDENTIFIER),
            ("ps_availqty", INTEGER),
            ("ps_supplycost", DECIMAL),
            ("ps_comment", TEXT),
        ),
        ("ps_partkey", "ps_suppkey"),
        800_000,
    ),
    TableSpec(
        "orders",
        (
            ("o_orderkey", IDENTIFIER),
            ("o_custkey", IDENTIFIER),
            ("o_orderstatus", TEXT),
            ("o_totalprice", DECIMAL),
            ("o_orderdate", DATE),
            ("o_orderpriority", TEXT),
            ("o_clerk", TEXT),
            ("o_shippriority", INTEGER),
            ("o_comment", TEXT),
        ),
        ("o_orderkey",),
        1_500_000,
    ),
    TableSpec(
        "lineitem",
        (
            ("l_orderkey", IDENTIFIER),
            ("l_partkey", IDENTIFIER),
            ("l_suppkey", IDENTIFIER),
            ("l_linenumber", INTEGER),
            ("l_quantity", DECIMAL),
            ("l_extendedprice", DECIMAL),
            ("l_discount", DECIMAL),
            ("l_tax", DECIMAL),
            ("l_returnflag", TEXT),
            ("l_linestatus", TEXT),
            ("l_shipdate", DATE),
            ("l_commitdate", DATE),
            ("l_receiptdate", DATE),
            ("l_shipinstruct", TEXT),
            ("l_shipmode", TEXT),
            ("l_comment", TEXT),
        ),
        ("l_orderkey", "l_linenumber"),
        None,  # 1 to 7 lines per order: about 6,000,000 x SF
    ),
)

TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
# Every TPC-H column name is unique across tables (the prefix names the table).
COLUMN_TYPES: dict[str, ColumnType] = {name: kind for spec in TABLES for name, kind in spec.schema}


def table(name: str) -> TableSpec:
    """The spec of TPC-H table `name`."""
    for spec in TABLES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def column_type(column: str) -> ColumnType:
    """The type of TPC-H column `column`; a column TPC-H does not have is text."""
    return COLUMN_TYPES.get(column, TEXT)


def format_scale_factor(scale_factor: float) -> str:
    """`1.0` -> `1`, `0.10` -> `0.1`: the spelling used in landing paths."""
    return f"{scale_factor:g}"
