"""Fingerprints of a warehouse: what "unchanged" and "equal to an uninterrupted run" compare.

A fingerprint is (rows, sum of a hash of every row): order-independent,
and any changed, added, removed or duplicated row changes it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

LAYERS = ("staging", "intermediate", "mart")
# When a row was loaded and where from: equal data loaded twice differs here only.
LOAD_TIME_AND_PLACE = frozenset({"_loaded_at", "loaded_at", "quarantined_at", "source", "run_key"})


def fingerprint(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, exclude: frozenset[str] = frozenset()
) -> tuple[int, int]:
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
        if name not in exclude
    ]
    row_hash = "hash(" + ", ".join('"' + name.replace('"', '""') + '"' for name in columns) + ")"
    rows, total = con.execute(
        f'select count(*), coalesce(sum({row_hash}), 0) from "{schema}"."{table}"'
    ).fetchone()
    return int(rows), int(total)


def tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in ({', '.join('?' for _ in schemas)}) order by 1, 2",
        list(schemas),
    ).fetchall()


def state(warehouse: Path, schemas: tuple[str, ...], exclude: frozenset[str] = frozenset()) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            f"{schema}.{table}": fingerprint(con, schema, table, exclude)
            for schema, table in tables(con, schemas)
        }


def raw_exactly(warehouse: Path) -> dict:
    """Every raw table row for row, load times included: what a failed step must leave alone."""
    return state(warehouse, ("raw",))


def raw_content(warehouse: Path) -> dict:
    """Every raw table row for row, but not when or from which path it was loaded."""
    return state(warehouse, ("raw",), LOAD_TIME_AND_PLACE)


def models_content(warehouse: Path) -> dict:
    """Every model of every layer row for row, load times aside."""
    return state(warehouse, LAYERS, LOAD_TIME_AND_PLACE)


def untouched(warehouse: Path) -> dict:
    """Everything a failed step must leave alone: raw's columns, every raw table
    row for row with its load times (the batch log and the quarantine too),
    and every model of every layer."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' order by 1, ordinal_position"
        ).fetchall()
    return {"raw columns": columns, **state(warehouse, ("raw", *LAYERS))}
