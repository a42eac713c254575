"""The build plan (tpch_elt.transform.build.plan_build) read off a hand-made warehouse, before dbt runs.

The warehouse holds only what the plan reads: raw.orders and raw._batches
(what was loaded), staging.stg_fct_orders (what the last build processed)
and observability.publications (what was published).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.load.full_load import ensure_batches_table
from tpch_elt.publish.publication import PUBLICATIONS, ensure_publications_table
from tpch_elt.settings import Settings
from tpch_elt.transform.build import BuildPlan, plan_build

LOADED = "2026-01-01 00:00:00"
RELOADED = "2026-01-05 00:00:00"


def warehouse(
    tmp_path: Path,
    *,
    raw_loaded_at: str | None = LOADED,
    processed: tuple[int, ...] | None = None,
    processed_initial_at: str = LOADED,
    published: tuple[int | None, ...] = (),
) -> Settings:
    """raw (its initial load stamped `raw_loaded_at`; None: no raw._batches), then, if given, the
    batches stg_fct_orders processed (batch 0 stamped `processed_initial_at`) and the publications'
    batch watermarks in order."""
    settings = Settings(data_dir=tmp_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.orders (o_orderkey bigint, _batch_id integer, _loaded_at timestamp)")
        if raw_loaded_at is not None:
            ensure_batches_table(con)
            con.execute(
                "insert into raw._batches (batch_id, kind, loaded_at) values (0, 'initial', ?)",
                [raw_loaded_at],
            )
        if processed is not None:
            con.execute("create schema staging")
            con.execute(
                "create table staging.stg_fct_orders (order_key bigint, _batch_id integer, _loaded_at timestamp)"
            )
            for batch in processed:
                stamp = processed_initial_at if batch == 0 else f"2026-01-0{1 + batch} 00:00:00"
                con.execute(
                    "insert into staging.stg_fct_orders values (?, ?, ?)", [100 * (batch + 1), batch, stamp]
                )
        if published:
            ensure_publications_table(con)
            for number, batch in enumerate(published, start=1):
                con.execute(
                    f"insert into {PUBLICATIONS} (published_at, number, batch_id, path, rebuilt, carried_over) "
                    "values (?, ?, ?, 'p', [], [])",
                    [LOADED, number, batch],
                )
    return settings


def plan(settings: Settings, *, full_refresh: bool = False, full_tests: bool = False) -> BuildPlan:
    return plan_build(settings, full_refresh=full_refresh, full_tests=full_tests)


def test_a_warehouse_without_raw_orders_stops_the_build_naming_the_warehouse(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema raw")
    with pytest.raises(PipelineError) as refused:
        plan(settings)
    assert str(refused.value) == (
        f"warehouse {settings.warehouse_path} has no raw.orders table: "
        "run `tpch-elt load` (or `tpch-elt run`) first"
    )


def test_the_first_build_rebuilds_nothing_and_tests_all_history(tmp_path: Path) -> None:
    assert plan(warehouse(tmp_path)) == BuildPlan(None, None)


def test_raw_reloaded_since_the_build_forces_a_full_refresh(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, raw_loaded_at=RELOADED, processed=(0, 1), published=(1,))
    assert plan(settings) == BuildPlan("raw was reloaded since the last build", None)


def test_an_increment_tests_from_the_first_batch_it_adds(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, processed=(0, 1, 2), published=(0, 1, 2))
    assert plan(settings) == BuildPlan(None, 3)


def test_batches_a_failed_build_processed_but_never_published_are_tested_again(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, processed=(0, 1, 2, 3), published=(0, 1))
    assert plan(settings) == BuildPlan(None, 2)


def test_the_last_publication_by_number_sets_the_watermark(tmp_path: Path) -> None:
    """An older publication with a higher batch (before a reload's rebuild) does not count."""
    settings = warehouse(tmp_path, processed=(0, 1, 2, 3), published=(3, 1))
    assert plan(settings) == BuildPlan(None, 2)


def test_full_tests_test_all_history(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, processed=(0, 1, 2), published=(1,))
    assert plan(settings, full_tests=True) == BuildPlan(None, None)


def test_a_full_refresh_asked_for_needs_no_reason_and_tests_all_history(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, raw_loaded_at=RELOADED, processed=(0, 1), published=(1,))
    assert plan(settings, full_refresh=True) == BuildPlan(None, None)


def test_nothing_published_yet_tests_all_history(tmp_path: Path) -> None:
    assert plan(warehouse(tmp_path, processed=(0, 1))) == BuildPlan(None, None)


def test_a_publication_without_a_batch_watermark_tests_all_history(tmp_path: Path) -> None:
    assert plan(warehouse(tmp_path, processed=(0, 1), published=(1, None))) == BuildPlan(None, None)


def test_a_warehouse_without_a_batch_log_is_not_taken_for_a_reload(tmp_path: Path) -> None:
    settings = warehouse(tmp_path, raw_loaded_at=None, processed=(0, 1), published=(1,))
    assert plan(settings) == BuildPlan(None, 2)


def test_another_target_plans_nothing_and_reads_no_local_warehouse(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, target="snowflake")
    assert not settings.warehouse_path.exists()
    assert plan(settings) == BuildPlan(None, None)
