"""How far the last build got (tpch_elt.warehouse.watermarks.processed), read off a hand-made staging table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import duckdb
import pytest

from tpch_elt.warehouse.watermarks import Processed, processed

INITIAL = "2026-01-01 00:00:00"
LATER = "2026-01-03 12:00:00"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        yield con


def stg_fct_orders(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[int, int, str]], schema: str = "staging"
) -> None:
    """(order_key, _batch_id, _loaded_at) rows, as the staging model holds them."""
    con.execute(f"create schema if not exists {schema}")
    con.execute(
        f"create table {schema}.stg_fct_orders (order_key bigint, _batch_id integer, _loaded_at timestamp)"
    )
    for order_key, batch, loaded_at in rows:
        con.execute(f"insert into {schema}.stg_fct_orders values (?, ?, ?)", [order_key, batch, loaded_at])


def test_nothing_was_processed_without_the_staging_model(con) -> None:
    con.execute("create schema staging")
    con.execute("create table staging.stg_orders (order_key bigint)")
    assert processed(con) is None


def test_a_model_of_the_same_name_in_another_schema_is_not_the_staging_model(con) -> None:
    stg_fct_orders(con, [(1, 0, INITIAL)], schema="main")
    assert processed(con) is None


def test_the_watermarks_are_the_initial_loads_stamp_the_highest_order_key_and_the_highest_batch(con) -> None:
    """A late order (a lower key in a later batch) moves the batch watermark, not the key's."""
    stg_fct_orders(con, [(1, 0, INITIAL), (3, 0, INITIAL), (40, 1, LATER), (20, 2, LATER)])
    assert processed(con) == Processed(datetime.fromisoformat(INITIAL), 40, 2)


def test_the_initial_stamp_is_read_from_batch_zero_only(con) -> None:
    stg_fct_orders(con, [(40, 1, LATER), (41, 2, LATER)])
    assert processed(con) == Processed(None, 41, 2)


def test_an_empty_staging_model_has_no_watermarks(con) -> None:
    stg_fct_orders(con, [])
    assert processed(con) == Processed(None, None, None)
