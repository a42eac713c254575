"""Anomaly detection (observability.detect, anomaly_config): the z-score verdict, configuration from dbt meta, detection over a written history."""

from __future__ import annotations

import pytest
from testkit.observability import Warehouse, history

from tpch_elt.errors import PipelineError
from tpch_elt.observability.anomaly_config import Thresholds, table_config
from tpch_elt.observability.detect import detect_pending, judge, t_multiplier

# -- the z-score verdict -----------------------------------------------------------


def test_judge_needs_the_minimum_training_size() -> None:
    assert judge(10.0, [10.0] * 4, Thresholds(min_training_size=5)) is None
    assert judge(10.0, [10.0] * 5, Thresholds(min_training_size=5)) is not None


def test_t_multiplier_matches_students_t_tables_and_tends_to_the_sensitivity() -> None:
    # two-sided 95 % (sensitivity 1.96): t(0.975) for 1, 4 and 9 degrees of freedom
    assert t_multiplier(1.959964, 1) == pytest.approx(12.706, abs=1e-3)
    assert t_multiplier(1.959964, 4) == pytest.approx(2.776, abs=1e-3)
    assert t_multiplier(1.959964, 9) == pytest.approx(2.262, abs=1e-3)
    assert t_multiplier(3, 8) == pytest.approx(4.277, abs=1e-3)
    assert t_multiplier(3, 100_000) == pytest.approx(3, abs=1e-3)


def test_judge_band_is_a_prediction_interval_from_the_training_runs() -> None:
    training = [90.0, 110.0, 95.0, 105.0, 100.0]  # mean 100, sd 7.9057, n 5
    half = t_multiplier(3, 4) * 7.905694 * (1 + 1 / 5) ** 0.5  # 57.3: five runs say little
    verdict = judge(150.0, training, Thresholds(sensitivity=3, min_change_percent=0))
    assert verdict.status == "pass"
    assert verdict.expected_low == pytest.approx(100 - half, rel=1e-6)
    assert verdict.expected_high == pytest.approx(100 + half, rel=1e-6)
    failing = judge(160.0, training, Thresholds(sensitivity=3, min_change_percent=0))
    assert failing.status == "fail"
    assert failing.score == pytest.approx(60 / 7.905694, rel=1e-6)  # still the plain z-score
    # the same spread over 50 runs: the band is within 8 % of 3 standard deviations
    many = judge(150.0, training * 10, Thresholds(sensitivity=3, min_change_percent=0, training_runs=50))
    assert 3 * many.stddev < many.expected_high - 100 < 3.24 * many.stddev


def test_judge_keeps_batch_noise_of_a_small_run_out_of_the_alerts() -> None:
    """`tpch-elt run -s 0.01`: nine batch means of a uniform 1..50 quantity
    (about 600 lines each) then a tenth 2.7 standard errors out, which a
    3-sigma band on nine runs flagged."""
    training = [25.31, 25.92, 25.49, 25.03, 25.80, 25.62, 25.21, 26.10, 25.55]
    assert judge(27.08, training, Thresholds(sensitivity=3, min_change_percent=5)).status == "pass"
    assert judge(30.0, training, Thresholds(sensitivity=3, min_change_percent=5)).status == "fail"


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
