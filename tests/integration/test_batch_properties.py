"""Property: whatever a batch holds, no row is lost and no bad key is published.

Hypothesis writes arrival batch 1 of the shared SF 0.01 warehouse
(`built_template`) as a random mixture of good orders, re-deliveries of
loaded orders and lines, NULLs in any column, out-of-range values, repeated
keys and orphan lines; the real CLI ingests it and builds. For every example:

* every delivered row is in raw (with the batch's id) or in the quarantine;
* the build publishes the batch when every bad row was one a reject rule
  quarantines; when a row holds a value only a dbt test catches (an order
  status TPC-H does not have), it exits non-zero naming the failing test and
  leaves the readers' snapshot as it was;
* a published mart never holds a key that only the quarantine has.

Each example is one ingest and one incremental build (about 15 s), so the
run is bounded (MAX_EXAMPLES plus one explicit example) and reproducible (a fixed seed, no example
database, no shrinking: a failure prints the example that caused it).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st
from testkit.cli import E2E_SCALE_FACTOR, copy_data_dir, run_cli

from tpch_elt import tpch
from tpch_elt.publish.segments import published_path

SF = f"{E2E_SCALE_FACTOR:g}"
MAX_EXAMPLES = 3
SEED = 20261207  # with the explicit example: every kind of change above, and NULLs a not_null test guards

ORDER_COLUMNS = tpch.table("orders").columns
LINE_COLUMNS = tpch.table("lineitem").columns
# Values no TPC-H row can have, as (table, column, SQL expression).
OUT_OF_RANGE = (
    ("lineitem", "l_quantity", "-l_quantity"),
    ("lineitem", "l_quantity", "0"),
    ("lineitem", "l_discount", "0.5"),
    ("lineitem", "l_discount", "-0.01"),
    ("lineitem", "l_tax", "0.09"),
    ("lineitem", "l_extendedprice", "-l_extendedprice"),
    ("lineitem", "l_receiptdate", "l_shipdate - interval 1 day"),
    ("lineitem", "l_shipdate", "date '1990-01-01'"),
    ("orders", "o_totalprice", "-o_totalprice"),
    ("orders", "o_custkey", "999999999"),
)

# A value no reject rule covers: staging's accepted_values test fails the build.
UNKNOWN_STATUS = ("unknown status", "", "")
# One change to one order of the batch (each change gets its own order).
changes = st.one_of(
    st.tuples(st.just("null"), st.sampled_from(("orders",)), st.sampled_from(ORDER_COLUMNS)),
    st.tuples(st.just("null"), st.sampled_from(("lineitem",)), st.sampled_from(LINE_COLUMNS)),
    st.tuples(st.just("out of range"), st.sampled_from(range(len(OUT_OF_RANGE))), st.just("")),
    st.tuples(st.sampled_from(("repeated order", "repeated line", "orphan line")), st.just(""), st.just("")),
    st.just(UNKNOWN_STATUS),
)
batches = st.fixed_dictionaries(
    {
        "changes": st.lists(changes, min_size=1, max_size=6),
        # orders of the batch delivered at all (the rest arrive with batch 2)
        "good_orders": st.integers(min_value=20, max_value=200),
        "redelivered_orders": st.integers(min_value=0, max_value=3),
    }
)


def _write_batch(data_dir: Path, example: dict) -> None:
    """Replace arrival batch 1's files with the example's delivery."""
    landing = data_dir / "landing" / f"sf={SF}"
    batch = landing / "batches" / "batch_0001"
    orders, lines = batch / "orders.parquet", batch / "lineitem.parquet"
    with duckdb.connect() as con:
        con.execute(f"create table o as select * from read_parquet('{orders}') order by o_orderkey")
        con.execute(f"create table l as select * from read_parquet('{lines}')")
        keys = [k for (k,) in con.execute("select o_orderkey from o order by 1").fetchall()]
        kept = keys[: example["good_orders"] + len(example["changes"])]
        con.execute(f"delete from o where o_orderkey > {kept[-1]}")
        con.execute(f"delete from l where l_orderkey > {kept[-1]}")
        # re-deliveries: orders (with their lines) the initial load already holds
        loaded = landing / "orders.parquet"
        con.execute(
            f"insert into o select * from read_parquet('{loaded}') "
            f"order by o_orderkey limit {example['redelivered_orders']}"
        )
        con.execute(
            f"insert into l select * from read_parquet('{landing / 'lineitem.parquet'}') "
            f"where l_orderkey in (select o_orderkey from read_parquet('{loaded}') "
            f"order by o_orderkey limit {example['redelivered_orders']})"
        )
        for target, (kind, what, column) in zip(kept, example["changes"], strict=False):
            one_line = f"l_orderkey = {target} and l_linenumber = 1"
            if kind == "null" and what == "orders":
                con.execute(f"update o set {column} = null where o_orderkey = {target}")
            elif kind == "null":
                con.execute(f"update l set {column} = null where {one_line}")
            elif kind == "out of range":
                table, column, value = OUT_OF_RANGE[what]
                if table == "orders":
                    con.execute(f"update o set {column} = {value} where o_orderkey = {target}")
                else:
                    con.execute(f"update l set {column} = {value} where {one_line}")
            elif kind == "unknown status":
                con.execute(f"update o set o_orderstatus = 'X' where o_orderkey = {target}")
            elif kind == "repeated order":
                con.execute(f"insert into o select * from o where o_orderkey = {target}")
            elif kind == "repeated line":
                con.execute(f"insert into l select * from l where {one_line}")
            else:  # an orphan: a line whose order nobody delivers
                con.execute(
                    f"insert into l select * replace (999999999 as l_orderkey) from l where {one_line}"
                )
        con.execute(f"copy o to '{orders}' (format parquet)")
        con.execute(f"copy l to '{lines}' (format parquet)")


def _delivered(data_dir: Path) -> dict[str, Counter]:
    batch = data_dir / "landing" / f"sf={SF}" / "batches" / "batch_0001"
    with duckdb.connect() as con:
        return {
            "orders": Counter(con.execute(f"select o_orderkey from '{batch / 'orders.parquet'}'").fetchall()),
            "lineitem": Counter(
                con.execute(f"select l_orderkey, l_linenumber from '{batch / 'lineitem.parquet'}'").fetchall()
            ),
        }


def _published(warehouse: Path) -> tuple[int, int | None, set[int]]:
    with duckdb.connect(str(published_path(warehouse)), read_only=True) as con:
        number, batch_id = con.execute("select number, batch_id from main.publication").fetchall()[0]
        orders = {k for (k,) in con.execute("select order_key from mart.mart_orders").fetchall()}
    return number, batch_id, orders


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-properties")


@seed(SEED)
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.function_scoped_fixture, HealthCheck.too_slow),
)
@given(delivery=batches)
@example(
    delivery={
        "changes": [("null", "lineitem", "l_quantity"), UNKNOWN_STATUS, ("orphan line", "", "")],
        "good_orders": 30,
        "redelivered_orders": 1,
    }
)
def test_every_delivered_row_is_kept_and_no_quarantined_key_is_published(
    built_template: Path, examples_dir: Path, delivery: dict
) -> None:
    example = {**delivery, "changes": [tuple(change) for change in delivery["changes"]]}
    number = len(list(examples_dir.iterdir()))
    data_dir = copy_data_dir(built_template, examples_dir / f"example-{number}" / "data")
    warehouse = data_dir / "warehouse.duckdb"
    _write_batch(data_dir, example)
    delivered = _delivered(data_dir)
    before = _published(warehouse)

    ingest = run_cli("--data-dir", str(data_dir), "ingest", "--batch", "1")
    assert ingest.returncode == 0, f"{example}\n{ingest.stderr}"

    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = {
            "orders": Counter(
                con.execute("select o_orderkey from raw.orders where _batch_id = 1").fetchall()
            ),
            "lineitem": Counter(
                con.execute(
                    "select l_orderkey, l_linenumber from raw.lineitem where _batch_id = 1"
                ).fetchall()
            ),
        }
        held = {
            "orders": Counter(
                con.execute(
                    "select (record->>'o_orderkey')::bigint from raw._quarantine "
                    "where batch_id = 1 and table_name = 'orders'"
                ).fetchall()
            ),
            "lineitem": Counter(
                con.execute(
                    "select (record->>'l_orderkey')::bigint, (record->>'l_linenumber')::integer "
                    "from raw._quarantine where batch_id = 1 and table_name = 'lineitem'"
                ).fetchall()
            ),
        }
        only_quarantined = {
            k
            for (k,) in con.execute(
                "select (record->>'o_orderkey')::bigint from raw._quarantine where table_name = 'orders' "
                "except select o_orderkey from raw.orders"
            ).fetchall()
        } | {
            k
            for (k,) in con.execute(
                "select (record->>'l_orderkey')::bigint from raw._quarantine where table_name = 'lineitem' "
                "except select o_orderkey from raw.orders"
            ).fetchall()
        }
        accepted_orders = {k for (k,) in con.execute("select o_orderkey from raw.orders").fetchall()}
    for table in ("orders", "lineitem"):
        assert kept[table] + held[table] == delivered[table], f"{example}: {table} rows lost or invented"

    build = run_cli("--data-dir", str(data_dir), "build")
    after = _published(warehouse)
    output = build.stdout + build.stderr
    if UNKNOWN_STATUS in example["changes"]:
        assert build.returncode == 1, f"{example}: an order status no rule covers passed the build\n{output}"
        assert "accepted_values_stg_fct_orders_order_status" in output, f"{example}: test not named\n{output}"
        assert "not published" in output, (
            f"{example}: a failing build did not say it published nothing\n{output}"
        )
        assert after == before, f"{example}: a failing build changed the readers' snapshot"
    else:
        assert build.returncode == 0, f"{example}: a quarantinable batch failed the build\n{output}"
        assert after[0] == before[0] + 1 and after[1] == 1, (
            f"{example}: a passing build did not publish batch 1"
        )
    published_orders = after[2]
    assert not published_orders & only_quarantined, f"{example}: a quarantined order key was published"
    assert published_orders <= accepted_orders
    print(json.dumps({"example": example, "build exit": build.returncode}))
