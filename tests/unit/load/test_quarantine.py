"""The quarantine sequence (tpch_elt.load.quarantine.screened) on a tiny hand-made raw schema.

Each delivery is screened the way `ingest` screens a batch: orders first,
then line items, each table's accepted rows appended to raw inside the
block. Raw starts with customer 1 and order 1 with its line 1, all from
the initial load (batch 0).
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from testkit.rows import GOOD, rows_sql

from tpch_elt.load.full_load import ensure_batches_table
from tpch_elt.load.quarantine import ACCEPTED, Screened, screened
from tpch_elt.load.rules import (
    ORDER_REASON,
    QUARANTINE_TABLE,
    SIBLING_REASON,
    ensure_quarantine_table,
    null_reason,
)

STAMP = "cast('2026-01-02 03:04:05' as timestamp)"
BATCH = 1

ORDER = GOOD["orders"]
LINE = GOOD["lineitem"]
CUSTOMER = {**GOOD["customer"], "c_custkey": 1, "c_name": "Customer#000000001"}
# The temp relations the sequence works in; none may outlive its block.
SCRATCH = {
    "checked_orders",
    "checked_lineitem",
    "duplicate_keys_orders",
    "duplicate_keys_lineitem",
    "parent_orders",
    "incomplete_orders",
    "cascaded_orders",
    "rejected_orders",
    "rejected_lineitem",
}


def order(key: int, **changes: object) -> dict[str, object]:
    return {**ORDER, "o_orderkey": key, **changes}


def line(order_key: int, number: int, **changes: object) -> dict[str, object]:
    return {**LINE, "l_orderkey": order_key, "l_linenumber": number, **changes}


def _append_to_raw(
    con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, object]], batch: int
) -> None:
    con.execute(
        f"insert into raw.{name} by name select *, cast({batch} as integer) as _batch_id, "
        f"{STAMP} as _loaded_at from ({rows_sql(name, rows)})"
    )


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        ensure_batches_table(con)
        ensure_quarantine_table(con)
        for name in ("customer", "orders", "lineitem"):
            con.execute(
                f"create table raw.{name} as select *, cast(null as integer) as _batch_id, "
                f"cast(null as timestamp) as _loaded_at from ({rows_sql(name, [])})"
            )
        _append_to_raw(con, "customer", [CUSTOMER], 0)
        _append_to_raw(con, "orders", [order(1)], 0)
        _append_to_raw(con, "lineitem", [line(1, 1)], 0)
        yield con


def deliver(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rows: list[dict[str, object]],
    *,
    redeliveries: bool = True,
) -> Screened:
    """Screen `rows` for raw.`name` as batch BATCH and append the accepted ones, as ingest does."""
    source = f"delivered_{name}"
    con.execute(f"create or replace table {source} as {rows_sql(name, rows)}")
    with screened(con, name, source, batch_id=BATCH, stamp_sql=STAMP, redeliveries=redeliveries) as checked:
        con.execute(
            f"insert into raw.{name} by name select * exclude (_reject_reason), "
            f"cast({BATCH} as integer) as _batch_id, {STAMP} as _loaded_at "
            f"from {checked.view} where {ACCEPTED}"
        )
    return checked


def deliver_batch(
    con: duckdb.DuckDBPyConnection, orders: list[dict[str, object]], lines: list[dict[str, object]]
) -> tuple[Screened, Screened]:
    return deliver(con, "orders", orders), deliver(con, "lineitem", lines)


def quarantined(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(table, reason, order key, line number) of every quarantined row, sorted."""
    return con.execute(
        f"""
        select table_name, reason,
            coalesce(record->>'o_orderkey', record->>'l_orderkey')::bigint,
            (record->>'l_linenumber')::integer
        from {QUARANTINE_TABLE} order by all
        """
    ).fetchall()


def raw_orders(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select o_orderkey, _batch_id from raw.orders order by all").fetchall()


def raw_lines(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select l_orderkey, l_linenumber, _batch_id from raw.lineitem order by all").fetchall()


def test_a_rejected_line_goes_to_the_quarantine_with_its_reason_batch_and_stamp(con) -> None:
    _, lines = deliver_batch(con, [], [line(1, 2, l_partkey=None)])
    assert lines.quarantined == {f"lineitem: {null_reason('lineitem', 'l_partkey')}": 1}
    assert quarantined(con) == [("lineitem", "null l_partkey", 1, 2)]
    assert con.execute(f"select batch_id, quarantined_at::varchar from {QUARANTINE_TABLE}").fetchall() == [
        (BATCH, "2026-01-02 03:04:05")
    ]
    assert raw_lines(con) == [(1, 1, 0)]


def test_a_line_whose_order_is_missing_is_quarantined_and_withdraws_nothing(con) -> None:
    _, lines = deliver_batch(con, [order(10)], [line(99, 1), line(10, 1)])
    assert lines.quarantined == {"lineitem: order missing or quarantined": 1}
    assert lines.orders_withdrawn == 0
    assert raw_orders(con) == [(1, 0), (10, BATCH)]
    assert raw_lines(con) == [(1, 1, 0), (10, 1, BATCH)]


def test_an_order_of_this_delivery_with_a_rejected_line_is_withdrawn_with_its_other_lines(con) -> None:
    orders, lines = deliver_batch(
        con,
        [order(10), order(11)],
        [line(10, 1, l_partkey=None), line(10, 2), line(11, 1)],
    )
    assert orders.quarantined == {} and orders.orders_withdrawn == 0
    assert lines.orders_withdrawn == 1
    assert lines.quarantined == {
        f"orders: {ORDER_REASON}": 1,
        "lineitem: null l_partkey": 1,
        f"lineitem: {SIBLING_REASON}": 1,
    }
    assert quarantined(con) == [
        ("lineitem", SIBLING_REASON, 10, 2),
        ("lineitem", "null l_partkey", 10, 1),
        ("orders", ORDER_REASON, 10, None),
    ]
    assert raw_orders(con) == [(1, 0), (11, BATCH)]
    assert raw_lines(con) == [(1, 1, 0), (11, 1, BATCH)]


def test_a_withdrawn_order_is_quarantined_as_it_was_delivered_without_load_metadata(con) -> None:
    deliver_batch(con, [order(10, o_comment="as delivered")], [line(10, 1, l_quantity="0")])
    (record,) = con.execute(f"select record from {QUARANTINE_TABLE} where table_name = 'orders'").fetchall()[
        0
    ]
    assert '"o_comment":"as delivered"' in record
    assert "_batch_id" not in record and "_loaded_at" not in record


def test_every_line_of_a_withdrawn_order_is_rejected_even_when_two_lines_break_rules(con) -> None:
    """Each bad line keeps its own reason; the order goes once."""
    _, lines = deliver_batch(
        con,
        [order(10)],
        [line(10, 1, l_quantity="0"), line(10, 2, l_tax="0.50"), line(10, 3)],
    )
    assert lines.orders_withdrawn == 1
    assert quarantined(con) == [
        ("lineitem", SIBLING_REASON, 10, 3),
        ("lineitem", "quantity not positive", 10, 1),
        ("lineitem", "tax outside [0, 0.08]", 10, 2),
        ("orders", ORDER_REASON, 10, None),
    ]
    assert raw_orders(con) == [(1, 0)]


def test_an_order_of_an_earlier_batch_stays_when_a_new_line_of_it_is_rejected(con) -> None:
    _, lines = deliver_batch(con, [], [line(1, 2, l_quantity="0"), line(1, 3)])
    assert lines.orders_withdrawn == 0
    assert lines.quarantined == {"lineitem: quantity not positive": 1}
    assert raw_orders(con) == [(1, 0)]
    assert raw_lines(con) == [(1, 1, 0), (1, 3, BATCH)]


def test_a_re_delivered_line_does_not_withdraw_its_order(con) -> None:
    """rules.NOT_CASCADING: the line is already in raw, so the order is not left incomplete."""
    _append_to_raw(con, "lineitem", [line(10, 1)], 0)  # a line raw already holds
    _, lines = deliver_batch(con, [order(10)], [line(10, 1), line(10, 2)])
    assert lines.quarantined == {"lineitem: line key already loaded": 1}
    assert lines.orders_withdrawn == 0
    assert raw_orders(con) == [(1, 0), (10, BATCH)]
    assert raw_lines(con) == [(1, 1, 0), (10, 1, 0), (10, 2, BATCH)]


def test_no_scratch_relation_outlives_the_block(con) -> None:
    deliver_batch(con, [order(10)], [line(10, 1, l_partkey=None), line(10, 2)])
    left = con.execute(
        "select table_name from duckdb_tables() where temporary "
        "union all select view_name from duckdb_views() where temporary and not internal"
    ).fetchall()
    assert {name for (name,) in left} & SCRATCH == set()


@pytest.mark.parametrize("redeliveries", [False, True], ids=["load", "ingest"])
def test_every_copy_of_a_key_repeated_in_one_delivery_is_rejected(con, redeliveries: bool) -> None:
    checked = deliver(
        con, "orders", [order(10), order(10, o_comment="again"), order(11)], redeliveries=redeliveries
    )
    assert checked.quarantined == {"orders: order key repeated in batch": 2}
    assert raw_orders(con) == [(1, 0), (11, BATCH)]


def test_a_line_key_repeated_in_one_delivery_withdraws_its_order(con) -> None:
    _, lines = deliver_batch(con, [order(10)], [line(10, 1), line(10, 1, l_comment="again")])
    assert lines.quarantined == {f"orders: {ORDER_REASON}": 1, "lineitem: line key repeated in batch": 2}
    assert raw_orders(con) == [(1, 0)]
    assert raw_lines(con) == [(1, 1, 0)]


def test_a_batch_rejects_a_key_raw_already_holds_as_a_re_delivery(con) -> None:
    checked = deliver(con, "orders", [order(1, o_comment="again")], redeliveries=True)
    assert checked.quarantined == {"orders: order key already loaded": 1}
    assert raw_orders(con) == [(1, 0)]


def test_the_full_load_does_not_judge_keys_against_the_raw_it_replaces(con) -> None:
    checked = deliver(con, "orders", [order(1, o_comment="reloaded")], redeliveries=False)
    assert checked.quarantined == {}
    assert raw_orders(con) == [(1, 0), (1, BATCH)]
