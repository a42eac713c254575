"""Incremental loading: batches arrive, only the delta is processed, and the
result equals a full refresh on the same raw data, row for row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from testkit.cli import Pipeline, copy_data_dir, one_line_error, run_cli
from testkit.warehouse import raw_exactly

LAYERS = ("staging", "intermediate", "mart")


def models_in(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_catalog = '{catalog}' and table_schema in {LAYERS} order by 1, 2"
    ).fetchall()


def assert_equal_to_full_refresh(source: Path, tmp_path: Path) -> int:
    """On a copy of `source`: full-refresh a copy of its warehouse; every model
    dbt's manifest lists must match the incremental one, EXCEPT ALL both ways."""
    data_dir = copy_data_dir(source, tmp_path / "data")
    warehouse, copy = data_dir / "warehouse.duckdb", data_dir / "full_refresh.duckdb"
    shutil.copyfile(warehouse, copy)
    run_cli("--data-dir", str(data_dir), "--warehouse", str(copy), "build", "--full-refresh", check=True)
    manifest = json.loads((data_dir / "dbt" / "target" / "manifest.json").read_text())
    expected = sorted(
        (node["schema"], node["alias"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral"
    )
    compared = 0
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as incremental (read_only)")
        con.execute(f"attach '{copy}' as refreshed (read_only)")
        models = models_in(con, "incremental")
        assert models == expected, "the incremental warehouse does not hold exactly the manifest's models"
        assert models_in(con, "refreshed") == expected
        for schema, name in models:
            for left, right in (("incremental", "refreshed"), ("refreshed", "incremental")):
                extra = con.execute(
                    f"select count(*) from (select * from {left}.{schema}.{name} "
                    f"except all select * from {right}.{schema}.{name})"
                ).fetchall()[0][0]
                assert extra == 0, f"{schema}.{name}: {extra} row(s) in {left} not in {right}"
            compared += 1
    return compared


def test_incremental_build_equals_full_refresh(pipeline: Pipeline, tmp_path: Path) -> None:
    assert assert_equal_to_full_refresh(pipeline.data_dir, tmp_path) > 0


# --- arrivals out of order, re-deliveries and impossible rows --------------------

SF = "0.01"


def _generate(data_dir: Path, initial_fraction: str, batches: str) -> None:
    """`tpch-elt generate` at SF into `data_dir`, split into arrival batches."""
    run_cli(
        "--data-dir",
        str(data_dir),
        "generate",
        "-s",
        SF,
        "--initial-fraction",
        initial_fraction,
        "--batches",
        batches,
        check=True,
    )


def _copy_parquet(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    con.execute(f"copy ({sql}) to '{path}' (format parquet)")


@pytest.fixture(scope="module")
def odd_arrivals(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The shared SF 0.01 warehouse (loaded and built, two batches pending) with
    its two batches swapped (so batch 2 arrives late) and a crafted batch 3 of
    re-deliveries and impossible rows; everything ingested and built."""
    data_dir = copy_data_dir(built_template, tmp_path_factory.mktemp("odd") / "data")
    batches = data_dir / "landing" / f"sf={SF}" / "batches"
    plan = json.loads((batches / "plan.json").read_text())

    # The higher keys arrive first: batch 2 then holds late arrivals.
    (batches / "batch_0001").rename(batches / "swap")
    (batches / "batch_0002").rename(batches / "batch_0001")
    (batches / "swap").rename(batches / "batch_0002")
    first, second = plan["batches"]
    plan["batches"] = [
        {**second, "batch_id": 1},
        {**first, "batch_id": 2},
    ]

    # Batch 3: re-deliveries, a repeated key, a brand-new order copied from a
    # real one under a new key, and lines that no order can have.
    b3 = batches / "batch_0003"
    b3.mkdir()
    b1_orders = batches / "batch_0001" / "orders.parquet"
    b1_lines = batches / "batch_0001" / "lineitem.parquet"
    with duckdb.connect() as con:
        donor, redelivered_a, redelivered_b = [
            row[0]
            for row in con.execute(
                f"select o_orderkey from '{b1_orders}' order by o_orderkey limit 3"
            ).fetchall()
        ]
        new_key = 10_000_000
        _copy_parquet(
            con,
            f"""
            select * from '{b1_orders}' where o_orderkey in ({redelivered_a}, {redelivered_b})
            union all
            select * replace ({new_key} as o_orderkey) from '{b1_orders}' where o_orderkey = {donor}
            union all
            select * replace ({new_key + 1} as o_orderkey) from '{b1_orders}' where o_orderkey = {donor}
            union all
            select * replace ({new_key + 1} as o_orderkey) from '{b1_orders}' where o_orderkey = {donor}
            """,
            b3 / "orders.parquet",
        )
        _copy_parquet(
            con,
            f"""
            select * replace ({new_key} as l_orderkey) from '{b1_lines}' where l_orderkey = {donor}
            union all
            select * replace (8 as l_linenumber, -5 as l_quantity)
                from '{b1_lines}' where l_orderkey = {donor} and l_linenumber = 1

            union all
            select * replace (99999999 as l_orderkey)
                from '{b1_lines}' where l_orderkey = {donor} and l_linenumber = 1
            union all
            select * from '{b1_lines}' where l_orderkey = {redelivered_a}
            union all
            select * replace ({new_key + 1} as l_orderkey)
                from '{b1_lines}' where l_orderkey = {donor}
            """,
            b3 / "lineitem.parquet",
        )
        donor_lines = con.execute(f"select count(*) from '{b1_lines}' where l_orderkey = {donor}").fetchall()[
            0
        ][0]
        redelivered_lines = con.execute(
            f"select count(*) from '{b1_lines}' where l_orderkey = {redelivered_a}"
        ).fetchall()[0][0]
    plan["batches"].append(
        {"batch_id": 3, "min_order_key": new_key, "max_order_key": new_key + 1, "orders": 5}
    )
    (batches / "plan.json").write_text(json.dumps(plan))

    outputs = {}
    # batch 1 (the higher keys) is built before the late batch 2 arrives
    for batch in (1, 2, 3):
        outputs[batch] = run_cli("--data-dir", str(data_dir), "ingest", check=True).stdout
        if batch != 2:
            run_cli("--data-dir", str(data_dir), "build", check=True)
    # the daily sweep: rebuilds the history-wide (tag:daily) models and runs
    # every test over all history
    run_cli("--data-dir", str(data_dir), "build", "--full-tests", check=True)
    return {
        "data_dir": data_dir,
        "warehouse": data_dir / "warehouse.duckdb",
        "outputs": outputs,
        "late_orders": first["orders"],
        "donor_lines": donor_lines,
        "redelivered_lines": redelivered_lines,
        "new_key": new_key,
    }


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_late_arrivals_below_the_watermark_are_processed(odd_arrivals: dict) -> None:
    late = odd_arrivals["late_orders"]
    assert f"{late:,} late order(s) below the order-key watermark accepted" in odd_arrivals["outputs"][2]
    missing = _rows(
        odd_arrivals["warehouse"],
        "select count(*) from raw.orders o where not exists "
        "(select 1 from mart.mart_orders m where m.order_key = o.o_orderkey)",
    )
    assert missing == [(0,)], "late orders must reach the mart, not be dropped"


def test_redeliveries_and_impossible_rows_are_quarantined_with_reasons(odd_arrivals: dict) -> None:
    wh = odd_arrivals["warehouse"]
    reasons = dict(
        _rows(
            wh,
            "select table_name || ': ' || reason, count(*) from raw._quarantine "
            "where batch_id = 3 group by 1",
        )
    )
    donor_lines = odd_arrivals["donor_lines"]
    assert reasons == {
        "orders: order key already loaded": 2,
        "orders: order key repeated in batch": 2,
        "lineitem: line key already loaded": odd_arrivals["redelivered_lines"],
        "lineitem: quantity not positive": 1,
        "lineitem: order missing or quarantined": 1 + donor_lines,
    }
    out = odd_arrivals["outputs"][3]
    assert "quarantined 2 row(s): orders: order key already loaded" in out
    # nothing silently dropped: every delivered row is in raw or in quarantine
    assert _rows(wh, "select count(*) from raw.orders where _batch_id = 3") == [(1,)]
    assert _rows(wh, "select count(*) from raw.lineitem where _batch_id = 3") == [(donor_lines,)]
    # and raw keys stay unique
    assert _rows(wh, "select count(*) - count(distinct o_orderkey) from raw.orders") == [(0,)]
    assert _rows(
        wh,
        "select count(*) from (select l_orderkey, l_linenumber from raw.lineitem "
        "group by 1, 2 having count(*) > 1)",
    ) == [(0,)]
    new_order = _rows(
        wh, f"select line_count from mart.mart_orders where order_key = {odd_arrivals['new_key']}"
    )
    assert new_order == [(donor_lines,)]


def test_odd_arrivals_still_equal_a_full_refresh(odd_arrivals: dict, tmp_path: Path) -> None:
    assert assert_equal_to_full_refresh(odd_arrivals["data_dir"], tmp_path) > 0


def test_reingesting_a_batch_changes_nothing(odd_arrivals: dict, tmp_path: Path) -> None:
    data_dir = copy_data_dir(odd_arrivals["data_dir"], tmp_path / "data")
    before = raw_exactly(data_dir / "warehouse.duckdb")
    proc = run_cli("--data-dir", str(data_dir), "ingest", "--batch", "1", check=True)
    assert "Batch 1 is already loaded" in proc.stdout and "nothing to do" in proc.stdout
    proc = run_cli("--data-dir", str(data_dir), "ingest", check=True)
    assert "No pending batch" in proc.stdout
    assert raw_exactly(data_dir / "warehouse.duckdb") == before


def test_batches_must_arrive_in_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _generate(data_dir, "0.8", "3")
    run_cli("--data-dir", str(data_dir), "load", "-s", SF, check=True)
    proc = run_cli("--data-dir", str(data_dir), "ingest", "--batch", "3")
    assert proc.returncode == 1
    assert "batch 3 is not next: ingest batch 1 first" in proc.stderr


def test_a_batch_plan_rewritten_after_load_is_refused_and_no_order_is_skipped(
    built_template: Path, tmp_path: Path
) -> None:
    """`generate` with another split after `load` rewrites plan.json; ingesting by
    it would never deliver the orders between the two splits. Ingest refuses it,
    names the split that was loaded, and once that is restored every order arrives."""
    data_dir = copy_data_dir(built_template, tmp_path / "data")
    warehouse = data_dir / "warehouse.duckdb"
    landing = data_dir / "landing" / f"sf={SF}"
    before = raw_exactly(warehouse)
    _generate(data_dir, "0.9", "2")

    proc = run_cli("--data-dir", str(data_dir), "ingest")
    assert proc.returncode == 1, proc.stdout
    line = one_line_error(proc.stderr)
    assert f"the batch plan in {landing} changed the initial split since the warehouse loaded it" in line
    assert f"run `tpch-elt generate -s {SF} --initial-fraction 0.8 --batches 2` to restore it" in line
    assert raw_exactly(warehouse) == before

    _generate(data_dir, "0.8", "2")
    run_cli("--data-dir", str(data_dir), "ingest", "--all", check=True)
    # a batch already ingested is part of the contract too: re-splitting it is refused
    _generate(data_dir, "0.8", "3")
    refused = one_line_error(run_cli("--data-dir", str(data_dir), "ingest").stderr)
    assert "changed batch 1 (ingested: keys" in refused
    with duckdb.connect(str(warehouse), read_only=True) as con:
        delivered, missing = con.execute(
            f"""
            select count(*), count(*) filter (where o_orderkey not in (select o_orderkey from raw.orders))
            from read_parquet('{landing / "orders.parquet"}')
            """
        ).fetchall()[0]
    assert delivered == 15_000 and missing == 0, f"{missing} order(s) never delivered"


def test_status_reports_batches_and_watermarks(odd_arrivals: dict, tmp_path: Path) -> None:
    data_dir = copy_data_dir(odd_arrivals["data_dir"], tmp_path / "data")
    proc = run_cli("--data-dir", str(data_dir), "status", check=True)
    assert "batches loaded: 3 of 3 planned, pending: 0" in proc.stdout
    assert f"raw order-key watermark: {odd_arrivals['new_key']}" in proc.stdout
    assert "processed by dbt: batches <= 3" in proc.stdout
    quarantined = _rows(odd_arrivals["warehouse"], "select count(*) from raw._quarantine")[0][0]
    assert f"quarantined rows: {quarantined}" in proc.stdout


# --- what the build plan promises (README, "Incremental loading") ----------------


def test_a_reload_makes_the_next_build_a_full_refresh(built_template: Path, tmp_path: Path) -> None:
    data_dir = copy_data_dir(built_template, tmp_path / "data")
    run_cli("--data-dir", str(data_dir), "load", "-s", SF, check=True)
    proc = run_cli("--data-dir", str(data_dir), "build", check=True)
    assert "full refresh: raw was reloaded since the last build" in proc.stdout, proc.stdout
    # appending would have kept the first load's rows (or doubled them):
    # the incremental models hold the reload's rows, each once
    rows = _rows(
        data_dir / "warehouse.duckdb",
        """
        select
            (select loaded_at from raw._batches where batch_id = 0),
            (select max(_loaded_at) from staging.stg_fct_orders where _batch_id = 0),
            (select count(*) from raw.orders),
            (select count(*) from staging.stg_fct_orders),
            (select count(*) from mart.mart_orders)
        """,
    )
    reloaded_at, staged_at, raw_orders, staged, marts = rows[0]
    assert staged_at == reloaded_at
    assert raw_orders == staged == marts


def test_incremental_row_level_tests_read_only_the_new_batches(built_template: Path, tmp_path: Path) -> None:
    """A bad row in an already audited batch is not tested again on an
    increment; the daily sweep (`--full-tests`) tests all history and finds it."""
    data_dir = copy_data_dir(built_template, tmp_path / "data")
    warehouse = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            # stg_fct_lineitem is a view of raw: the bad value goes where it would arrive
            "update raw.lineitem set l_linenumber = 9 where _batch_id = 0 "
            "and l_orderkey = (select min(l_orderkey) from raw.lineitem) and l_linenumber = 1"
        )
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    increment = run_cli("--data-dir", str(data_dir), "build")
    assert increment.returncode == 0, increment.stdout[-3000:] + increment.stderr[-3000:]
    assert "published" in increment.stdout and "not published" not in increment.stdout
    sweep = run_cli("--data-dir", str(data_dir), "build", "--full-tests")
    assert sweep.returncode == 1, sweep.stdout[-3000:]
    assert "accepted_range_stg_fct_lineitem_line_number" in sweep.stdout + sweep.stderr, sweep.stdout[-3000:]
