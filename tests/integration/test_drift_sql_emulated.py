"""The drift checks' SQL rendered for Snowflake runs on the emulator (fakesnow, in this
process) and gives what the DuckDB rendering gives (observability/drift_sql.py)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from testkit.drift import add_batch, create_raw

from tpch_elt.observability import drift_sql


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    create_raw(connection)
    for batch in range(1, 5):
        add_batch(connection, batch, orders=50)
    yield connection
    connection.close()


def test_the_snowflake_rendering_runs_on_the_emulator_as_duckdbs_does(con: duckdb.DuckDBPyConnection) -> None:
    """The same checks on Snowflake's RAW schema: fakesnow (in this process) against DuckDB."""
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    numeric, text = drift_sql.profiled_columns("lineitem")
    base, batch = [1, 2, 3], 4
    duck = drift_sql.quantiles_sql("raw.lineitem", numeric, base, "duckdb")
    edges = {
        c: sorted({float(v) for v in values})
        for c, values in zip(numeric, con.execute(duck).fetchone(), strict=True)
    }
    statements = [
        drift_sql.histogram_sql("raw.lineitem", batch, base, edges, text),
        drift_sql.means_sql("raw.lineitem", [*base, batch], numeric),
        drift_sql.deliveries_sql("raw.lineitem", "lineitem", 1),
    ]
    expected = [sorted(con.execute(sql).fetchall()) for sql in statements]
    rows = con.execute("select * from raw.lineitem where _batch_id <= 4").fetchall()
    columns = [c[0] for c in con.execute("select * from raw.lineitem limit 0").description]
    batches = con.execute("select batch_id, loaded_at from raw._batches where batch_id <= 4").fetchall()
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="TPCH", schema="RAW").cursor()
        cursor.execute("create database if not exists TPCH")
        cursor.execute("create schema if not exists TPCH.RAW")
        cursor.execute(
            f"create table raw.lineitem ({', '.join(f'{c} {t}' for c, t in _snowflake_types(columns))})"
        )
        cursor.executemany(f"insert into raw.lineitem values ({', '.join(['%s'] * len(columns))})", rows)
        cursor.execute("create table raw._batches (batch_id integer, loaded_at timestamp)")
        cursor.executemany("insert into raw._batches values (%s, %s)", batches)
        cursor.execute("create table raw._quarantine (batch_id integer, table_name varchar, reason varchar)")
        cursor.execute(drift_sql.quantiles_sql("raw.lineitem", numeric, base, "snowflake"))
        deciles = cursor.fetchone()
        got = []
        for sql in statements:
            cursor.execute(sql)
            got.append(sorted(tuple(row) for row in cursor.fetchall()))
    assert len(deciles) == 9 * len(numeric)
    assert [sorted({float(v) for v in deciles[9 * i : 9 * i + 9]}) for i in range(len(numeric))] == list(
        edges.values()
    )
    histogram, means, deliveries = got
    assert histogram == expected[0]
    assert [(b, pytest.approx(m), pytest.approx(se)) for b, m, se, *_ in means] == [
        tuple(r[:3]) for r in expected[1]
    ]
    assert [tuple(r[:1]) + tuple(r[2:]) for r in deliveries] == [
        tuple(r[:1]) + tuple(r[2:]) for r in expected[2]
    ]


def _snowflake_types(columns: list[str]) -> list[tuple[str, str]]:
    from tpch_elt.tpch import column_type

    return [
        (c, column_type(c).snowflake if c.startswith("l_") else {"_batch_id": "integer"}.get(c, "timestamp"))
        for c in columns
    ]
