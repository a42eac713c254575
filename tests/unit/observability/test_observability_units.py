"""Observability without dbt: recording from artifacts, metrics, detection,
alerts with a local webhook, and the report page, on a small synthetic
warehouse whose history each test writes itself."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.observability.alerts import AlertSettings, Incident, notify
from tpch_elt.observability.anomaly_config import Thresholds, table_config
from tpch_elt.observability.detect import detect_pending, judge
from tpch_elt.observability.record import record_artifact, record_artifacts_dir
from tpch_elt.observability.runs import close_run, record_run_part
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.charts import band_chart, lineage_svg
from tpch_elt.reports.observability import render
from tpch_elt.settings import Settings

T0 = datetime(2026, 1, 1, 0, 0, 0)  # noqa: DTZ001 - _loaded_at is naive UTC, as in raw
SOURCE = "source.p.tpch.orders"
MODEL = "model.p.stg_orders"
TEST = "test.p.not_null_stg_orders_order_comment.abc"
UNIT = "unit_test.p.stg_orders.totals"
DEFAULTS = {"anomaly_defaults": {"sensitivity": 3, "min_training_size": 5, "training_runs": 14}}

# -- a tiny warehouse and dbt artifacts that describe builds of it ---------------------


def manifest(model_meta: dict | None = None, column_meta: dict | None = None) -> dict:
    column = {
        "name": "order_comment",
        "description": "Comment.",
        "meta": {},
        "config": {"meta": column_meta or {}},
    }
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "sources": {
            SOURCE: {
                "unique_id": SOURCE,
                "resource_type": "source",
                "name": "orders",
                "identifier": "orders",
                "source_name": "tpch",
                "schema": "raw",
                "fqn": ["p", "staging", "tpch", "orders"],
                "description": "Orders.",
                "columns": {},
                "meta": {},
                "source_meta": {},
                "config": {"enabled": True, "meta": DEFAULTS},
            }
        },
        "nodes": {
            MODEL: {
                "unique_id": MODEL,
                "resource_type": "model",
                "name": "stg_orders",
                "alias": "stg_orders",
                "schema": "staging",
                "fqn": ["p", "staging", "stg_orders"],
                "description": "",
                "config": {
                    "enabled": True,
                    "materialized": "incremental",
                    "meta": {**DEFAULTS, **({"anomaly": model_meta} if model_meta else {})},
                },
                "columns": {"order_comment": column},
                "depends_on": {"nodes": [SOURCE]},
            },
            TEST: {
                "unique_id": TEST,
                "resource_type": "test",
                "name": "not_null_stg_orders_order_comment",
                "test_metadata": {"name": "not_null"},
                "attached_node": MODEL,
                "column_name": "order_comment",
                "config": {"severity": "error"},
                "depends_on": {"nodes": [MODEL]},
            },
        },
        "exposures": {},
        "unit_tests": {UNIT: {"unique_id": UNIT, "depends_on": {"nodes": [MODEL]}}},
    }


def run_results(
    invocation_id: str, started: datetime, *, test_status: str = "pass", failures: int = 0
) -> dict:
    def iso(value: datetime) -> str:
        return value.isoformat() + "Z"

    timing = [
        {"name": "execute", "started_at": iso(started), "completed_at": iso(started + timedelta(seconds=2))}
    ]
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.11.16",
            "invocation_id": invocation_id,
            "invocation_started_at": iso(started),
            "generated_at": iso(started + timedelta(seconds=5)),
        },
        "elapsed_time": 5.0,
        "args": {"which": "build", "select": [], "exclude": ["tag:daily"], "target": "dev"},
        "results": [
            {
                "unique_id": MODEL,
                "status": "success",
                "timing": timing,
                "execution_time": 2.0,
                "adapter_response": {"_message": "OK", "rows_affected": 10},
                "message": None,
                "failures": None,
                "compiled_code": "select 1",
            },
            {
                "unique_id": TEST,
                "status": test_status,
                "timing": timing,
                "execution_time": 0.1,
                "adapter_response": {},
                "message": None,
                "failures": failures,
                "compiled_code": "select * from staging.stg_orders where order_comment is null",
            },
            {
                "unique_id": UNIT,
                "status": "pass",
                "timing": timing,
                "execution_time": 0.1,
                "adapter_response": {},
                "message": None,
                "failures": 0,
                "compiled_code": None,
            },
        ],
    }


def sources_json(invocation_id: str, started: datetime, age_hours: float) -> dict:
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": "1.11.16",
            "invocation_id": invocation_id,
            "invocation_started_at": started.isoformat() + "Z",
            "generated_at": started.isoformat() + "Z",
        },
        "elapsed_time": 0.1,
        "results": [
            {
                "unique_id": SOURCE,
                "status": "warn" if age_hours > 12 else "pass",
                "max_loaded_at": (started - timedelta(hours=age_hours)).isoformat() + "+00:00",
                "snapshotted_at": started.isoformat() + "+00:00",
                "max_loaded_at_time_ago_in_s": age_hours * 3600,
                "criteria": {
                    "warn_after": {"count": 12, "period": "hour"},
                    "error_after": {"count": 48, "period": "hour"},
                },
                "adapter_response": {},
                "timing": [],
                "execution_time": 0.01,
            }
        ],
    }


class Warehouse:
    """raw.orders and its incremental copy staging.stg_orders, built batch by batch."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.batch = -1
        self.builds = 0
        con.execute("create schema raw")
        con.execute("create schema staging")
        con.execute(
            "create table raw.orders (o_orderkey bigint, o_comment varchar, "
            "o_totalprice decimal(15,2), _batch_id integer, _loaded_at timestamp)"
        )
        con.execute(
            "create table staging.stg_orders (order_key bigint, order_comment varchar, "
            "total_price decimal(15,2), _batch_id integer, _loaded_at timestamp)"
        )

    def started(self) -> datetime:
        return T0 + timedelta(hours=4 * self.builds)

    def build(
        self,
        rows: int = 100,
        *,
        null_comments: int = 0,
        meta: dict | None = None,
        stale_hours: float = 0,
        test_status: str = "pass",
    ) -> str:
        """Ingest one batch of `rows` orders, 'build' it, record the build."""
        self.batch += 1
        started = self.started()
        loaded_at = started - timedelta(minutes=2, hours=stale_hours)
        first = self.con.execute("select coalesce(max(o_orderkey), 0) from raw.orders").fetchall()[0][0]
        self.con.execute(
            "insert into raw.orders by name select i as o_orderkey, "
            "case when i - ? <= ? then null else 'comment ' || i end as o_comment, "
            "i % 1000 + 0.5 as o_totalprice, ? as _batch_id, ? as _loaded_at from range(? + 1, ? + 1 + ?) as t(i)",
            [first, null_comments, self.batch, loaded_at, first, first, rows],
        )
        self.con.execute(
            "insert into staging.stg_orders select o_orderkey, o_comment, o_totalprice, _batch_id, "
            "_loaded_at from raw.orders where _batch_id = ?",
            [self.batch],
        )
        failures = self.con.execute(
            "select count(*) from staging.stg_orders where order_comment is null"
        ).fetchall()[0][0]
        invocation = f"inv-{self.builds:03d}"
        self.builds += 1
        record_artifact(
            self.con,
            run_results(invocation, started, test_status=test_status, failures=failures),
            manifest(meta),
            target="dev",
        )
        return invocation

    def count(self, table: str) -> int:
        return self.con.execute(f"select count(*) from {SCHEMA}.{table}").fetchall()[0][0]

    def results(self, invocation: str, status: str | None = None) -> list[tuple]:
        sql = (
            f"select relation, column_name, monitor, metric, status, training_size from {SCHEMA}.anomaly_results "
            "where invocation_id = ?"
        )
        params = [invocation]
        if status:
            sql += " and status = ?"
            params.append(status)
        return self.con.execute(sql + " order by 1, 2, 4", params).fetchall()


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        yield Warehouse(con)
    finally:
        con.close()


def history(w: Warehouse, clean_builds: int = 6) -> list[str]:
    """An initial build plus `clean_builds - 1` batches of 100 rows."""
    return [w.build() for _ in range(clean_builds)]


# -- the z-score verdict -----------------------------------------------------------


def test_judge_needs_the_minimum_training_size() -> None:
    assert judge(10.0, [10.0] * 4, Thresholds(min_training_size=5)) is None
    assert judge(10.0, [10.0] * 5, Thresholds(min_training_size=5)) is not None


def test_judge_band_is_mean_plus_minus_sensitivity_stddev() -> None:
    training = [90.0, 110.0, 95.0, 105.0, 100.0]  # mean 100, sd 7.9057
    verdict = judge(123.0, training, Thresholds(sensitivity=3, min_change_percent=0))
    assert verdict.status == "pass"
    assert verdict.expected_low == pytest.approx(100 - 3 * 7.905694, rel=1e-6)
    assert verdict.expected_high == pytest.approx(100 + 3 * 7.905694, rel=1e-6)
    failing = judge(124.0, training, Thresholds(sensitivity=2, min_change_percent=0))
    assert failing.status == "fail"
    assert failing.score == pytest.approx(24 / 7.905694, rel=1e-6)


def test_judge_direction_and_severity() -> None:
    training = [100.0, 101.0, 99.0, 100.0, 100.0]
    assert judge(10.0, training, Thresholds(direction="spike")).status == "pass"
    assert judge(10.0, training, Thresholds(direction="drop")).status == "fail"
    assert judge(500.0, training, Thresholds(direction="drop")).status == "pass"
    assert judge(500.0, training, Thresholds(severity="warn")).status == "warn"


def test_judge_ignores_changes_below_the_floors_and_flags_any_change_from_zero() -> None:
    constant = [100.0] * 6
    assert judge(104.0, constant, Thresholds(min_change_percent=5)).status == "pass"
    assert judge(106.0, constant, Thresholds(min_change_percent=5)).status == "fail"
    assert judge(0.5, [0.0] * 6, Thresholds()).status == "fail"  # null % rising from exactly zero
    assert judge(1800.0, [60.0] * 6, Thresholds(direction="spike", min_change=3600)).status == "pass"


def test_judge_uses_only_the_last_training_runs() -> None:
    training = [1000.0] * 10 + [100.0] * 5
    verdict = judge(100.0, training, Thresholds(training_runs=5))
    assert verdict.status == "pass" and verdict.training_size == 5 and verdict.mean == 100.0


# -- configuration from dbt meta -----------------------------------------------------------


def test_config_merges_builtin_project_defaults_and_overrides_key_by_key() -> None:
    config = table_config(
        "model.p.m",
        {
            "defaults": {"sensitivity": 4, "freshness": {"min_change": 7200}},
            "own": {"direction": "drop", "freshness": {"severity": "warn"}},
            "columns": {"price": {"metrics": ["avg", "max"], "sensitivity": 5}},
        },
    )
    assert config.base.sensitivity == 4 and config.base.direction == "drop"
    assert config.freshness.min_change == 7200  # project default kept
    assert config.freshness.severity == "warn"  # model override applied
    assert config.freshness.direction == "spike"  # built-in kept
    assert config.metrics_for("price") == ("null_percent", "avg", "max")
    assert config.thresholds_for("price", "avg").sensitivity == 5
    assert config.metrics_for("other") == ("null_percent",)
    assert config.thresholds_for("other", "avg") == config.base


def test_null_rates_must_move_a_point_unless_configured_otherwise() -> None:
    config = table_config("m", {"columns": {"strict": {"min_change": 0}}})
    loose, strict = (
        config.thresholds_for("any", "null_percent"),
        config.thresholds_for("strict", "null_percent"),
    )
    assert loose.min_change == 1 and strict.min_change == 0
    # One null in a batch of 10,000 after a history of none: chance, not an incident...
    assert judge(0.01, [0.0] * 6, loose).status == "pass"
    assert judge(0.01, [0.0] * 6, strict).status == "fail"
    # ...while a real spike is flagged either way.
    assert judge(50.0, [0.0] * 6, loose).status == "fail"
    per_metric = table_config("m", {"own": {"null_percent": {"min_change": 5}}})
    assert per_metric.thresholds_for("any", "null_percent").min_change == 5


def test_config_can_switch_monitors_off() -> None:
    config = table_config("m", {"own": {"volume": False, "schema_changes": "off", "column_metrics": []}})
    assert config.volume is None and config.schema_changes is None and config.column_metrics == ()
    assert not table_config("m", {"own": False}).enabled


@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"own": {"sensitivty": 3}}, "unknown key 'sensitivty'"),
        ({"own": {"direction": "up"}}, "direction must be one of"),
        ({"own": {"column_metrics": ["median"]}}, "unknown column metric 'median'"),
        ({"own": {"min_training_size": 20}}, "exceeds training_runs"),
        ({"columns": {"c": {"metrics": ["p99"]}}}, "model.p.bad column c"),
    ],
)
def test_config_errors_are_one_line_and_name_the_model(raw: dict, needle: str) -> None:
    with pytest.raises(PipelineError) as caught:
        table_config("model.p.bad", raw)
    message = str(caught.value)
    assert needle in message and "model.p.bad" in message and "\n" not in message


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


# -- detection -------------------------------------------------------------------------------


def test_clean_history_passes_every_check(warehouse: Warehouse) -> None:
    w = warehouse
    runs = history(w, 8)
    detect_pending(w.con)
    assert w.results(runs[-1], "fail") == [] and w.results(runs[-1], "warn") == []
    checks = {(r[0], r[3]) for r in w.results(runs[-1])}
    assert ("raw.orders", "rows_added") in checks and ("raw.orders", "freshness_lag_seconds") in checks
    assert ("staging.stg_orders", "null_percent") in checks and ("raw.orders", "schema_changes") in checks


def test_volume_drop_is_flagged_and_the_run_is_not_its_own_training(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    drop = w.build(rows=40)
    detect_pending(w.con)
    failing = w.results(drop, "fail")
    assert [(r[0], r[3]) for r in failing] == [
        ("raw.orders", "rows_added"),
        ("staging.stg_orders", "rows_added"),
    ]
    assert all(r[5] == 5 for r in failing), "training = the 5 earlier batch builds, not this one"


def test_an_incident_does_not_leak_into_the_training_of_later_runs(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    w.build(rows=40)
    after = w.build(rows=70)  # still 30 % short of the clean 100
    detect_pending(w.con)
    # Had the 40-row run been trained on, the band would be 90 ± 3 × 24.5 and 70 would pass.
    assert ("raw.orders", "", "volume", "rows_added", "fail", 5) in w.results(after)


def test_null_spike_is_flagged_on_that_column_only(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    spike = w.build(null_comments=50)
    detect_pending(w.con)
    assert [(r[0], r[1], r[3]) for r in w.results(spike, "fail")] == [
        ("raw.orders", "o_comment", "null_percent"),
        ("staging.stg_orders", "order_comment", "null_percent"),
    ]


def test_stale_loaded_at_is_a_freshness_anomaly(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    stale = w.build(stale_hours=30)
    detect_pending(w.con)
    assert [(r[0], r[3]) for r in w.results(stale, "fail")] == [
        ("raw.orders", "freshness_lag_seconds"),
        ("staging.stg_orders", "freshness_lag_seconds"),
    ]


def test_schema_change_is_flagged_against_the_previous_snapshot(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 2)
    w.con.execute("alter table raw.orders add column o_channel varchar")
    w.con.execute("alter table staging.stg_orders alter column total_price type double")
    changed = w.build()
    steady = w.build()
    detect_pending(w.con)
    assert [(r[0], r[1], r[3]) for r in w.results(changed, "fail")] == [
        ("raw.orders", "o_channel", "column_added"),
        ("staging.stg_orders", "total_price", "type_changed"),
    ]
    assert w.results(steady, "fail") == []


def test_per_column_metrics_and_severity_come_from_meta(warehouse: Warehouse) -> None:
    w = warehouse
    meta = {"severity": "warn", "volume": False}
    for _ in range(6):
        w.build(meta=meta)
    low = w.build(rows=40, meta=meta)
    detect_pending(w.con)
    assert [(r[0], r[3], r[4]) for r in w.results(low) if r[4] != "pass"] == [
        ("raw.orders", "rows_added", "fail")
    ], "the source keeps its defaults; the model's volume is off"
    assert not [r for r in w.results(low) if r[0] == "staging.stg_orders" and r[3] == "rows_added"]


def test_detection_is_idempotent(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 7)
    first = detect_pending(w.con)
    assert len(first) == 7
    count = w.count("anomaly_results")
    assert detect_pending(w.con) == {} and w.count("anomaly_results") == count


# -- alerts ------------------------------------------------------------------------------------


class Webhook:
    """A Slack-like receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.messages: list[dict] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/B000"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


INCIDENTS = [
    Incident("anomaly:raw.orders rows_added", "anomaly", "fail", "inv-1", "raw.orders rows_added = 40"),
    Incident("test:test.p.t", "test", "fail", "inv-1", "t on stg_orders: 3 failing row(s)"),
    Incident("test:test.p.t", "test", "fail", "inv-2", "t on stg_orders: 5 failing row(s)"),
    Incident("freshness:source.p.tpch.orders", "freshness", "warn", "inv-2", "tpch.orders: 13 h"),
]


def test_one_grouped_message_then_suppression_then_realert(warehouse: Warehouse, webhook: Webhook) -> None:
    con = warehouse.con
    from tpch_elt.observability.store import ensure_schema

    ensure_schema(con)
    printed: list[str] = []
    settings = AlertSettings(webhook.url, suppress_hours=4)
    first = notify(con, INCIDENTS, settings, headline="tpch-elt", now=T0, out=printed.append)
    assert len(webhook.messages) == 1 and printed == [webhook.messages[0]["text"]]
    text = webhook.messages[0]["text"]
    assert text.splitlines()[0] == "tpch-elt: 3 incident(s) (2 failing, 1 warning)"
    assert "5 failing row(s) [in 2 runs]" in text and "raw.orders rows_added = 40" in text
    assert first.delivered and len(first.sent) == 3

    again = notify(
        con, INCIDENTS[:2], settings, headline="tpch-elt", now=T0 + timedelta(hours=3), out=printed.append
    )
    assert len(webhook.messages) == 1 and again.message is None and len(again.suppressed) == 2

    new = Incident(
        "anomaly:raw.lineitem rows_added", "anomaly", "fail", "inv-3", "raw.lineitem rows_added = 9"
    )
    mixed = notify(
        con,
        [*INCIDENTS[:2], new],
        settings,
        headline="tpch-elt",
        now=T0 + timedelta(hours=3, minutes=30),
        out=printed.append,
    )
    assert len(webhook.messages) == 2
    assert "raw.lineitem" in mixed.message and "raw.orders" not in mixed.message
    assert "2 more already alerted within the last 4 h: suppressed" in mixed.message

    later = notify(
        con, INCIDENTS[:1], settings, headline="tpch-elt", now=T0 + timedelta(hours=5), out=printed.append
    )
    assert len(webhook.messages) == 3 and later.sent
    log = con.execute(f"select status, count(*) from {SCHEMA}.alerts group by 1 order by 1").fetchall()
    assert log == [("sent", 5), ("suppressed", 4)]


def test_a_failed_delivery_is_logged_and_retried_next_time(warehouse: Warehouse) -> None:
    con = warehouse.con
    from tpch_elt.observability.store import ensure_schema

    ensure_schema(con)
    hook = Webhook(status=500)
    try:
        settings = AlertSettings(hook.url)
        failed = notify(con, INCIDENTS[:1], settings, headline="h", now=T0, out=lambda _: None)
        assert failed.delivered is False and "HTTP 500" in failed.error
        hook.status = 200
        retried = notify(
            con, INCIDENTS[:1], settings, headline="h", now=T0 + timedelta(minutes=5), out=lambda _: None
        )
        assert retried.delivered is True and len(hook.messages) == 2
    finally:
        hook.close()


def test_alert_settings_validate_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPCH_ELT_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/x")
    monkeypatch.setenv("TPCH_ELT_ALERT_SUPPRESS_HOURS", "0.5")
    assert AlertSettings.from_env() == AlertSettings("http://127.0.0.1:9/x", 0.5)
    monkeypatch.setenv("TPCH_ELT_ALERT_SUPPRESS_HOURS", "soon")
    with pytest.raises(PipelineError, match="TPCH_ELT_ALERT_SUPPRESS_HOURS='soon' is not a number"):
        AlertSettings.from_env()
    with pytest.raises(PipelineError, match="not an http"):
        AlertSettings("file:///etc/passwd")


# -- the report page ------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def test_band_chart_draws_the_band_and_marks_flagged_points() -> None:
    svg = band_chart(
        ["a", "b", "c", "d"],
        [10.0, 11.0, 10.0, 40.0],
        [None, 8.0, 8.5, 8.0],
        [None, 12.0, 12.5, 12.0],
        [None, None, None, "fail"],
        title="t <x>",
    )
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "t <x>"
    assert len(root.findall(f"{SVG}polygon")) == 1
    circles = root.findall(f"{SVG}circle")
    assert [c.get("fill") for c in circles].count("#d55e00") == 1
    assert "expected 8 … 12" in circles[3].find(f"{SVG}title").text


def test_lineage_puts_each_layer_in_its_own_column_left_to_right() -> None:
    nodes = [
        {"unique_id": "source.p.s", "name": "s", "layer": "source", "depends_on": "[]", "description": ""},
        {
            "unique_id": "model.p.stg",
            "name": "stg",
            "layer": "staging",
            "depends_on": '["source.p.s"]',
            "description": "",
        },
        {
            "unique_id": "model.p.m",
            "name": "m",
            "layer": "mart",
            "depends_on": '["model.p.stg"]',
            "description": "x",
        },
        {
            "unique_id": "exposure.p.e",
            "name": "e",
            "layer": "exposure",
            "depends_on": '["model.p.m"]',
            "description": "",
        },
    ]
    root = ET.fromstring(lineage_svg(nodes, {"model.p.m": "fail"}, title="lineage"))
    boxes = {g.find(f"{SVG}text").text: g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g")}
    xs = [float(boxes[name].get("x")) for name in ("s", "stg", "m", "e")]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert boxes["m"].get("stroke") == "#d55e00"
    assert len(root.findall(f"{SVG}path")) == 3


def test_the_page_shows_failures_anomalies_and_schema_changes_offline(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    w.con.execute("alter table raw.orders add column o_channel varchar")
    w.build(rows=40, null_comments=20, test_status="fail")
    detect_pending(w.con)
    html = render(w.con)
    for needle in (
        "not_null_stg_orders_order_comment",
        "Sample of failing rows",
        "raw.orders rows_added",
        "column o_channel added",
        "Lineage",
        "Test and documentation coverage",
        "compiled SQL",
    ):
        assert needle in html, needle
    urls = set(re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", html))
    assert not urls, f"the page references outside resources: {urls}"
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)


def test_the_page_explains_an_empty_history(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert "no observability history" in render(con)


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
