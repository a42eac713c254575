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
from testkit.rows import GOOD, rows_sql

from tpch_elt.load.rules import NOT_NULL, check_rows, drop_checked, null_reason
from tpch_elt.tpch import TABLES

MODELS = Path(__file__).resolve().parents[3] / "dbt_project" / "models"
STAGING = MODELS / "staging"
LOAD_METADATA = {"_batch_id", "_loaded_at"}  # written by tpch-elt, never delivered


def _select(name: str, row: dict[str, object]) -> str:
    return rows_sql(name, [row])


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
