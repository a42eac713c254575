"""Drift: each arrival batch against the batches before it (observability/drift.py), on batches made in SQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import duckdb
import pytest
from testkit.drift import EVERY, START, add_batch, create_raw

from tpch_elt.errors import PipelineError
from tpch_elt.observability import drift, drift_config
from tpch_elt.observability.drift import evaluate_pending, psi
from tpch_elt.observability.drift_config import DriftSettings
from tpch_elt.observability.store import ensure_schema

SETTINGS = DriftSettings(min_training=8, forest_trees=100)
CLEAN = 14


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    ensure_schema(connection)
    create_raw(connection)
    for batch in range(1, CLEAN + 1):
        add_batch(connection, batch)
    yield connection
    connection.close()


def judged(con: duckdb.DuckDBPyConnection) -> list[drift.BatchProfile]:
    return evaluate_pending(con, START + timedelta(days=30), SETTINGS)


def failures(profile: drift.BatchProfile) -> dict[str, drift.Finding]:
    return {f"{f.metric}:{f.column}": f for f in profile.findings if f.status == "fail"}


def test_psi_is_zero_for_one_distribution_and_grows_with_the_shift() -> None:
    same = psi({"a": 50, "b": 50}, {"a": 500, "b": 500})
    small = psi({"a": 50, "b": 50}, {"a": 55, "b": 45})
    large = psi({"a": 50, "b": 50}, {"a": 90, "b": 10})
    assert same == 0.0
    assert 0 < small < 0.1 < 0.2 < large
    # a bin one side never had counts as a share of 1e-4, not as a division by zero
    assert psi({"a": 100}, {"a": 90, "new": 10}) > 0.2


def test_clean_batches_pass_once_there_is_a_baseline(con: duckdb.DuckDBPyConnection) -> None:
    profiles = judged(con)
    assert [p.batch_id for p in profiles] == list(range(1, CLEAN + 1))
    assert all(p.status == "pass" for p in profiles), [failures(p) for p in profiles]
    first, last = profiles[0], profiles[-1]
    assert {f.status for f in first.findings} == {"learning"}
    assert {f.metric for f in last.findings if f.status == "pass"} >= {
        "volume",
        "quarantine",
        "psi",
        "mean",
        "new_values",
        "late",
        "isolation",
    }
    # recorded: every check of every batch, and nothing evaluated twice
    assert con.execute("select count(distinct batch_id) from observability.drift_results").fetchone() == (
        CLEAN,
    )
    assert judged(con) == []


@pytest.mark.parametrize(
    ("fault", "kwargs", "metric", "shown"),
    [
        ("new_shipmode", {}, "new_values:l_shipmode", "'DRONE'"),
        ("cents", {}, "psi:l_extendedprice", "PSI"),
        ("cents", {}, "mean:l_extendedprice", "mean"),
        ("null_shippriority", {}, "psi:o_shippriority", "10.0% NULL"),
        ("quarantined", {}, "quarantine:", "key repeated in the delivery (200)"),
        (None, {"orders": 240}, "volume:", "-40%"),
        (None, {"late_by": timedelta(hours=6)}, "late:", "landed +6.0 h from when it was expected"),
    ],
)
def test_each_kind_of_fault_fails_its_check_and_says_why(
    con: duckdb.DuckDBPyConnection, fault: str | None, kwargs: dict, metric: str, shown: str
) -> None:
    judged(con)
    late_by = kwargs.pop("late_by", None)
    if late_by is not None:
        kwargs["landed"] = START + (CLEAN + 1) * EVERY + late_by
    add_batch(con, CLEAN + 1, fault=fault, **kwargs)
    [profile] = judged(con)
    failed = failures(profile)
    assert metric in failed, failed
    assert shown in failed[metric].detail


def test_a_drifted_batch_does_not_become_the_baseline(con: duckdb.DuckDBPyConnection) -> None:
    judged(con)
    add_batch(con, CLEAN + 1, fault="cents")
    add_batch(con, CLEAN + 2)
    drifted, after = judged(con)
    assert drifted.status == "fail"
    assert after.status == "pass", failures(after)


def test_the_learned_detector_flags_a_batch_unlike_the_passing_ones(con: duckdb.DuckDBPyConnection) -> None:
    for batch in range(CLEAN + 1, CLEAN + 20):
        add_batch(con, batch)
    judged(con)
    # 25 % fewer rows and a late landing: each under its own statistical limit, together unusual
    add_batch(con, CLEAN + 20, orders=300, landed=START + (CLEAN + 20) * EVERY + timedelta(hours=1))
    [profile] = judged(con)
    learned = next(f for f in profile.findings if f.detector == "learned")
    assert learned.status == "fail", learned.detail
    assert re.search(r"furthest from usual: .*(volume|lateness)", learned.detail)


def test_a_reload_starts_a_new_history(con: duckdb.DuckDBPyConnection) -> None:
    judged(con)
    con.execute("update raw._batches set loaded_at = loaded_at + interval 30 day")
    assert len(judged(con)) == CLEAN


def test_settings_come_from_the_orders_source_meta(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "insert into observability.invocations (invocation_id, command, started_at, status, recorded_at) "
        "values ('b', 'build', ?, 'success', ?)",
        [START, START],
    )
    meta = {"defaults": {"drift": {"psi_threshold": 0.25}}, "own": {"drift": {"seasonality": "day_of_week"}}}
    con.execute(
        "insert into observability.manifest_nodes (invocation_id, unique_id, relation, anomaly_config) "
        "values ('b', 'source.p.tpch.orders', 'raw.orders', ?)",
        [json.dumps(meta)],
    )
    assert drift_config.configured_settings(con) == DriftSettings(
        psi_threshold=0.25, seasonality="day_of_week"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"seasonality": "weekly"}, "seasonality 'weekly' must be one of day_of_week, day_of_month or null"),
        ({"psi": 0.2}, "unknown key 'psi'"),
        ({"psi_threshold": "high"}, "psi_threshold 'high' must be a number >= 0"),
        ("on", "expected a mapping"),
    ],
)
def test_a_bad_drift_setting_is_one_line_naming_the_key(config: object, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as caught:
        drift_config.drift_settings(config, "source tpch.orders")
    assert str(caught.value).startswith("drift config of source tpch.orders: ")
