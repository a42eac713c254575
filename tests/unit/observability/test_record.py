"""Recording dbt runs (observability.record, runs, metrics) from artifacts into a tiny warehouse: idempotence, samples of failing rows, metrics scope."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from testkit.observability import T0, TEST, UNIT, Warehouse, manifest, run_results, sources_json

from tpch_elt.errors import PipelineError
from tpch_elt.observability.record import record_artifact, record_artifacts_dir
from tpch_elt.observability.runs import close_run, record_run_part
from tpch_elt.observability.store import SCHEMA
from tpch_elt.settings import Settings

# -- recording ------------------------------------------------------------------------------


def test_recording_the_same_invocation_twice_changes_nothing(warehouse: Warehouse) -> None:
    w = warehouse
    invocation = w.build(null_comments=3, test_status="fail")
    tables = (
        "invocations",
        "model_runs",
        "test_results",
        "table_metrics",
        "column_metrics",
        "schema_snapshots",
        "manifest_nodes",
    )
    before = {t: w.count(t) for t in tables}
    again = record_artifact(
        w.con, run_results(invocation, T0, test_status="fail", failures=3), manifest(), target="dev"
    )
    assert not again.recorded
    assert {t: w.count(t) for t in tables} == before
    assert before["invocations"] == 1 and before["table_metrics"] == 2


def test_recording_from_an_artifacts_directory_is_idempotent_too(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "run_results.json").write_text(json.dumps(run_results("inv-file", T0)))
    (target / "sources.json").write_text(json.dumps(sources_json("inv-fresh", T0, 1.0)))
    (target / "manifest.json").write_text(json.dumps(manifest()))
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        Warehouse(con)
    first = record_artifacts_dir(settings, target)
    second = record_artifacts_dir(settings, target)
    assert [(o.command, o.recorded) for o in first] == [("build", True), ("source freshness", True)]
    assert [o.recorded for o in second] == [False, False]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert con.execute(f"select count(*) from {SCHEMA}.invocations").fetchall()[0][0] == 2
        assert con.execute(f"select status, age_seconds from {SCHEMA}.source_freshness").fetchall() == [
            ("pass", 3600.0)
        ]


def test_an_orchestrated_run_is_recorded_part_by_part_and_closed_as_one_build(tmp_path: Path) -> None:
    """The Airflow DAG's path: each dbt command adds its results to the run
    (a retried one replaces its rows), freshness is its own invocation, and
    closing the run measures it once as one `build`."""
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        Warehouse(con)

    def command(name: str, artifact: dict, file: str = "run_results.json") -> Path:
        target = tmp_path / name / "target"
        target.mkdir(parents=True)
        (target / file).write_text(json.dumps(artifact))
        (target / "manifest.json").write_text(json.dumps(manifest()))
        return target

    model_run = run_results("dbt-1", T0)
    model_run["results"] = model_run["results"][:1]
    tests = run_results("dbt-2", T0, test_status="fail", failures=3)
    tests["results"] = tests["results"][1:]
    retried = run_results("dbt-3", T0)
    retried["results"] = retried["results"][1:]
    run = "airflow dbt_pipeline manual__1"
    assert record_run_part(settings, command("run", model_run), run) == 1
    assert record_run_part(settings, command("test", tests), run) == 2
    assert record_run_part(settings, command("retry", retried), run) == 2
    record_run_part(settings, command("fresh", sources_json("dbt-4", T0, 1.0), "sources.json"), run)
    first = close_run(settings, run, manifest(), started_at=T0, selectors={"airflow_run": "manual__1"})
    again = close_run(settings, run, manifest(), started_at=T0)
    assert (first.recorded, first.tables_measured, again.recorded) == (True, 2, False)
    # a command recorded after the run closed changes nothing
    assert record_run_part(settings, command("late", run_results("dbt-5", T0)), run) == 0
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert con.execute(
            f"select invocation_id, command, status, result_count from {SCHEMA}.invocations order by 2"
        ).fetchall() == [(run, "build", "success", 3), ("dbt-4", "source freshness", "success", 1)]
        assert con.execute(
            f"select unique_id, status from {SCHEMA}.test_results where invocation_id = ? order by 1", [run]
        ).fetchall() == [(TEST, "pass"), (UNIT, "pass")]
        assert con.execute(
            f"select relation from {SCHEMA}.table_metrics where invocation_id = ? order by 1", [run]
        ).fetchall() == [("raw.orders",), ("staging.stg_orders",)]


def test_a_failing_test_keeps_its_sql_and_a_capped_json_sample_of_failing_rows(warehouse: Warehouse) -> None:
    w = warehouse
    invocation = w.build(rows=100, null_comments=30, test_status="fail")
    status, failures, sql, sample = w.con.execute(
        f"select status, failures, compiled_sql, failing_sample from {SCHEMA}.test_results "
        "where invocation_id = ? and unique_id = ?",
        [invocation, TEST],
    ).fetchall()[0]
    rows = json.loads(sample)
    assert (status, failures) == ("fail", 30)
    assert "order_comment is null" in sql
    assert len(rows) == 20 and all(row["order_comment"] is None for row in rows)
    passing = w.con.execute(
        f"select failing_sample from {SCHEMA}.test_results where unique_id = ?", [UNIT]
    ).fetchall()
    assert passing == [(None,)]


def test_metrics_cover_the_new_batch_only_while_row_counts_are_whole_table(warehouse: Warehouse) -> None:
    w = warehouse
    w.build(rows=100)
    second = w.build(rows=40, null_comments=10)
    table = w.con.execute(
        f"select row_count, rows_added, new_batches, scope, scope_rows, freshness_lag_seconds "
        f"from {SCHEMA}.table_metrics where invocation_id = ? and relation = 'raw.orders'",
        [second],
    ).fetchall()
    assert table == [(140, 40, 1, "batch", 40, 120.0)]
    column = w.con.execute(
        f"select scope, scope_rows, null_count, null_percent, min_length, max_length, distinct_count "
        f"from {SCHEMA}.column_metrics where invocation_id = ? and relation = 'raw.orders' "
        "and column_name = 'o_comment'",
        [second],
    ).fetchall()
    assert column[0][:6] == ("batch", 40, 10, 25.0, 11, 11)
    assert column[0][6] == pytest.approx(30, rel=0.05)
    price = w.con.execute(
        f"select min_value, max_value, avg_value from {SCHEMA}.column_metrics where invocation_id = ? "
        "and relation = 'staging.stg_orders' and column_name = 'total_price'",
        [second],
    ).fetchall()
    assert price == [(101.5, 140.5, 121.0)]


def test_unchanged_tables_get_counts_but_no_column_metrics(warehouse: Warehouse) -> None:
    w = warehouse
    w.build()
    w.batch -= 1  # no new batch: delete what build() adds, as if nothing arrived
    w.con.execute("delete from raw.orders where _batch_id = 1")
    w.con.execute("delete from staging.stg_orders where _batch_id = 1")
    w.batch = 0
    invocation = "inv-empty"
    record_artifact(w.con, run_results(invocation, T0 + timedelta(hours=1)), manifest())
    assert w.con.execute(
        f"select scope, rows_added, new_batches from {SCHEMA}.table_metrics where invocation_id = ?",
        [invocation],
    ).fetchall() == [("none", 0, 0), ("none", 0, 0)]
    assert w.con.execute(
        f"select count(*) from {SCHEMA}.column_metrics where invocation_id = ?", [invocation]
    ).fetchall() == [(0,)]


def test_distinct_counts_are_skipped_above_the_row_cap(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tpch_elt.observability.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "DISTINCT_MAX_ROWS", 50)
    w = warehouse
    first = w.build(rows=100)
    second = w.build(rows=40)
    distinct = dict(
        w.con.execute(
            f"select invocation_id, distinct_count from {SCHEMA}.column_metrics "
            "where relation = 'raw.orders' and column_name = 'o_orderkey'"
        ).fetchall()
    )
    assert distinct[first] is None
    assert distinct[second] == pytest.approx(40, rel=0.05), "approx_count_distinct: HyperLogLog"


@pytest.mark.parametrize(
    "previous, now, expected",
    [
        (None, (100, 3, T0), ("full", None)),  # first measurement
        ((100, 3, T0), (140, 4, T0), ("batch", 3)),  # a new batch
        ((100, 3, T0), (100, 3, T0), ("none", None)),  # nothing arrived
        ((140, 4, T0), (100, 0, T0), ("full", None)),  # reloaded below the watermark
        ((100, 0, T0), (100, 0, T0 + timedelta(hours=1)), ("full", None)),  # a dimension reloaded
    ],
)
def test_measurement_scope_follows_what_changed(previous, now, expected) -> None:
    from tpch_elt.observability.metrics import _Previous, _scope

    prev = _Previous(*previous) if previous else None
    assert _scope("source", True, prev, *now) == expected


def test_recording_never_breaks_the_build_it_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from tpch_elt.observability.record import record_dbt_invocation

    settings = Settings(data_dir=tmp_path)
    outcome = record_dbt_invocation(settings, SimpleNamespace(result=object()))
    assert outcome is None
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: observability history not recorded") and "\n" not in warning
    assert "the build result is unaffected" in warning


def test_observe_says_what_to_do_without_history(tmp_path: Path) -> None:
    from tpch_elt.observability.observe import observe

    settings = Settings(data_dir=tmp_path)
    with pytest.raises(PipelineError, match=r"warehouse .* does not exist: run `tpch-elt run`"):
        observe(settings)
    duckdb.connect(str(settings.warehouse_path)).close()
    with pytest.raises(PipelineError, match=r"no dbt invocation recorded .*: run `tpch-elt build` first"):
        observe(settings)
