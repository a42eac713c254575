"""The reject rules (tpch_elt.load.rules) on hand-made rows in an in-memory DuckDB.

A NULL in any column a dbt not_null test guards must be quarantined with
a reason naming it, never accepted (the build would then fail on it and
publish nothing); and the rule list must cover every such column in the
dbt project's YAML.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from tpch_elt.load.rules import NOT_NULL, check_rows, drop_checked, null_reason
from tpch_elt.load.schema_check import expected_type
from tpch_elt.tpch import TABLES, table

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
STAGING = MODELS / "staging"
LOAD_METADATA = {"_batch_id", "_loaded_at"}  # written by tpch-elt, never delivered

# One row per table that breaks no rule (customer 1 and order 1 are in raw).
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


def _select(name: str, row: dict[str, object]) -> str:
    """`row` as a one-row SELECT with raw's column types (None: NULL)."""
    values = []
    for column in table(name).columns:
        value = row[column]
        literal = "null" if value is None else f"'{value}'"
        values.append(f"cast({literal} as {expected_type(column)}) as {column}")
    return "select " + ", ".join(values)


def _raw() -> duckdb.DuckDBPyConnection:
    """An empty raw schema, plus customer 1 and order 1 (dated 1995-01-01)."""
    con = duckdb.connect()
    con.execute("create schema raw")
    for spec in TABLES:
        con.execute(
            f"create table raw.{spec.name} as select *, 0 as _batch_id from ({_select(spec.name, GOOD[spec.name])}) "
            "where false"
        )
    con.execute(f"insert into raw.customer {_select('customer', {**GOOD['customer'], 'c_custkey': 1})}, 0")
    con.execute(f"insert into raw.orders {_select('orders', {**GOOD['orders'], 'o_orderkey': 1})}, 0")
    return con


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """Shared by the tests that only read raw."""
    with _raw() as con:
        yield con


def _reason(
    con: duckdb.DuckDBPyConnection, name: str, row: dict[str, object], *, redeliveries: bool
) -> str | None:
    con.execute(f"create or replace temp table delivered as {_select(name, row)}")
    view = check_rows(con, name, "delivered", redeliveries=redeliveries)
    reasons = con.execute(f"select _reject_reason from {view}").fetchall()
    drop_checked(con, name)
    assert len(reasons) == 1
    return reasons[0][0]


@pytest.mark.parametrize("redeliveries", [False, True], ids=["load", "ingest"])
@pytest.mark.parametrize("name", [spec.name for spec in TABLES])
def test_a_row_that_breaks_no_rule_is_accepted(con, name: str, redeliveries: bool) -> None:
    assert _reason(con, name, GOOD[name], redeliveries=redeliveries) is None


@pytest.mark.parametrize("name", list(NOT_NULL))
def test_a_null_in_a_guarded_column_is_rejected_with_a_reason_naming_it(con, name: str) -> None:
    for column in NOT_NULL[name]:
        for redeliveries in (False, True):
            reason = _reason(con, name, {**GOOD[name], column: None}, redeliveries=redeliveries)
            assert reason == null_reason(name, column), (column, redeliveries)
            assert reason.startswith("null ") and (column in reason or reason.endswith("key")), reason


def test_a_rule_rejects_a_row_it_cannot_judge() -> None:
    """NULL-safe comparisons: an unknown order date (NULL in raw) rejects the line instead of passing it."""
    con = _raw()
    con.execute(f"insert into raw.orders {_select('orders', {**GOOD['orders'], 'o_orderdate': None})}, 0")
    row = {**GOOD["lineitem"], "l_orderkey": 2}
    assert _reason(con, "lineitem", row, redeliveries=True) == "ship date not after order date"
    con.close()


def _staging_to_raw() -> dict[str, tuple[str, dict[str, str]]]:
    """Each staging model: its source table and {staging column: raw column}, read from its SQL."""
    out = {}
    for sql_file in STAGING.rglob("stg_*.sql"):
        sql = sql_file.read_text()
        source = re.search(r"source\('tpch',\s*'(\w+)'\)", sql)
        assert source, f"{sql_file.name}: no tpch source"
        pairs = re.findall(r"(?:cast\((\w+) as [^)]*\)|\{\{\s*money\('(\w+)'\)\s*\}\})\s+as\s+(\w+)", sql)
        out[sql_file.stem] = (source.group(1), {alias: cast or money for cast, money, alias in pairs})
    return out


def _not_null(columns: list[dict]) -> list[str]:
    names = []
    for column in columns or []:
        tests = column.get("data_tests") or column.get("tests") or []
        if any(test == "not_null" or (isinstance(test, dict) and "not_null" in test) for test in tests):
            names.append(column["name"])
    return names


def _models_yaml() -> list[dict]:
    """Every YAML file under models/, whichever folder and file name holds it."""
    return [yaml.safe_load(path.read_text()) or {} for path in sorted(MODELS.rglob("*.yml"))]


def test_the_rules_cover_every_not_null_test_on_sources_and_staging() -> None:
    guarded: dict[str, set[str]] = {}
    documents = _models_yaml()
    sources = [source for document in documents for source in document.get("sources") or []]
    assert sources, "no sources declared in any YAML under models/"
    for source in sources:
        for source_table in source["tables"]:
            for column in _not_null(source_table.get("columns")):
                guarded.setdefault(source_table["name"], set()).add(column)
    mapping = _staging_to_raw()
    models = [
        model for document in documents for model in document.get("models") or [] if model["name"] in mapping
    ]
    assert sorted(model["name"] for model in models) == sorted(mapping), (
        "a staging model without (or with two) YAML"
    )
    for model in models:
        source_table, renamed = mapping[model["name"]]
        for column in _not_null(model.get("columns")):
            if column in LOAD_METADATA:
                continue
            assert column in renamed, f"{model['name']}.{column}: not read from a raw column"
            guarded.setdefault(source_table, set()).add(renamed[column])
    for columns in guarded.values():
        columns -= LOAD_METADATA
    assert guarded.keys() >= {"orders", "lineitem"}
    assert {name: set(columns) for name, columns in NOT_NULL.items()} == guarded
