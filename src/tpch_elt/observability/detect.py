"""Anomaly detection over the observability history.

Monitors, per source and model table measured in a build:

    volume      rows_added: rows of the batches new in this run (tables with
                `_batch_id`), else the change in row count; compared only with
                runs that added the same number of batches (a catch-up run that
                processes two batches is not a volume spike)
    freshness   freshness_lag_seconds: run start minus max(`_loaded_at`)
    columns     per column metric (null_percent, distinct_count, min, max, avg,
                min_length, max_length), over the same scope ('batch' rows or
                the 'full' table) as the training values
    schema      column added, removed or type changed since the previous snapshot

Each check is a z-score against a training window: the last `training_runs`
earlier measurements of the same metric (the run under test is never in its
own training set, and neither are runs where this metric failed, so an
incident does not widen the band that judges the next run). With fewer than
`min_training_size` values there is no verdict. The expected range is
mean ± max(k·stddev·√(1 + 1/n), min_change_percent % of |mean|, min_change):
a prediction interval for one new value from n training values, where k is
Student's t quantile (n − 1 degrees of freedom) with the tail probability
that `sensitivity` standard deviations have under a normal. A stddev
estimated from a handful of runs is itself uncertain, so with few runs the
band is wider (k·√(1 + 1/n) = 4.5 for 9 runs at sensitivity 3, 3.8 for
14) and narrows to sensitivity·stddev as runs accumulate; a plain z-score band raised one
false alarm per few hundred checks (`tpch-elt run -s 0.01`: 1 in 1,119).
`direction` spike/drop looks at one side only. Outside the range the result
takes the configured `severity` (fail or warn), inside it passes.

The thresholds are configured in dbt `meta` (`tpch_elt.observability.anomaly_config`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from statistics import fmean, stdev
from typing import Any

import duckdb

from tpch_elt.observability.anomaly_config import COLUMN_METRICS, TableConfig, Thresholds, table_config
from tpch_elt.observability.store import SCHEMA, ensure_schema, utc_now

# Metrics that cannot go below zero: their expected range stops at 0.
NON_NEGATIVE = {"null_percent", "distinct_count", "min_length", "max_length", "freshness_lag_seconds"}

# -- the z-score verdict ------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | warn | fail
    value: float
    expected_low: float | None
    expected_high: float | None
    mean: float
    stddev: float
    score: float | None
    training_size: int
    detail: str


def _t_within(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with `dof` (a whole number >= 1) degrees of
    freedom, in closed form (Abramowitz & Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    term = total = 1.0
    if dof % 2 == 0:
        for k in range(2, dof, 2):
            term *= (k - 1) / k * cos2
            total += term
        return math.sin(theta) * total
    for k in range(2, dof - 1, 2):
        term *= k / (k + 1) * cos2
        total += term
    extra = math.sin(theta) * math.cos(theta) * total if dof > 1 else 0.0
    return 2 / math.pi * (theta + extra)


@cache  # one bisection per (sensitivity, training size), not one per check
def t_multiplier(sensitivity: float, dof: int) -> float:
    """Student's t quantile with `dof` degrees of freedom whose two-sided tail
    probability equals that of `sensitivity` under a standard normal."""
    coverage = math.erf(sensitivity / math.sqrt(2))
    low, high = 0.0, max(sensitivity, 1.0)
    while _t_within(high, dof) < coverage:
        high *= 2
    for _ in range(60):  # bisection: far below a thousandth of a stddev
        middle = (low + high) / 2
        low, high = (middle, high) if _t_within(middle, dof) < coverage else (low, middle)
    return high


def judge(value: float, training: Sequence[float], thresholds: Thresholds) -> Verdict | None:
    """The verdict on `value` given earlier values; None when training is too small."""
    history = [float(v) for v in training if v is not None and math.isfinite(float(v))]
    history = history[-thresholds.training_runs :]
    if len(history) < thresholds.min_training_size:
        return None
    mean = fmean(history)
    sd = stdev(history) if len(history) > 1 else 0.0
    spread = (
        t_multiplier(thresholds.sensitivity, len(history) - 1) * sd * math.sqrt(1 + 1 / len(history))
        if sd > 0
        else 0.0
    )
    half = max(
        spread,
        thresholds.min_change_percent / 100.0 * abs(mean),
        thresholds.min_change,
    )
    low = None if thresholds.direction == "spike" else mean - half
    high = None if thresholds.direction == "drop" else mean + half
    outside = (low is not None and value < low) or (high is not None and value > high)
    score = (value - mean) / sd if sd > 0 else None
    if score is None:
        detail = "history constant"
    else:
        detail = f"z = {score:+.1f}"
    return Verdict(
        thresholds.severity if outside else "pass",
        value,
        low,
        high,
        mean,
        sd,
        score,
        len(history),
        detail,
    )


# -- detection over the history -------------------------------------------------------


@dataclass(frozen=True)
class Result:
    invocation_id: str
    relation: str
    column_name: str  # '' for table-level monitors
    monitor: str
    metric: str
    status: str
    value: float | None
    expected_low: float | None
    expected_high: float | None
    mean: float | None
    stddev: float | None
    score: float | None
    training_size: int | None
    sensitivity: float | None
    direction: str | None
    detail: str

    @property
    def key(self) -> str:
        column = f".{self.column_name}" if self.column_name else ""
        return f"{self.relation}{column} {self.metric}"

    def describe(self) -> str:
        """One line: what, the value and the expected range."""
        if self.monitor == "schema":
            return f"{self.relation}: {self.detail}"
        return f"{self.key} = {fmt(self.metric, self.value)}, expected {expected_range(self)} ({self.detail})"


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric == "freshness_lag_seconds":
        return f"{value / 3600:.2f} h" if abs(value) >= 3600 else f"{value:.0f} s"
    if metric == "null_percent":
        return f"{value:.2f} %"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}"


def expected_range(result: Result) -> str:
    low, high = result.expected_low, result.expected_high
    if low is None and high is None:
        return "–"
    if low is None:
        return f"≤ {fmt(result.metric, high)}"
    if high is None:
        return f"≥ {fmt(result.metric, low)}"
    return f"{fmt(result.metric, low)} – {fmt(result.metric, high)}"


def pending_invocations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, datetime]]:
    """Recorded invocations `observe` has not looked at yet, oldest first."""
    return [
        (row[0], row[1])
        for row in con.execute(
            f"""
            select i.invocation_id, i.started_at
            from {SCHEMA}.invocations as i
            where i.invocation_id not in (select invocation_id from {SCHEMA}.evaluations)
            order by i.started_at, i.invocation_id
            """
        ).fetchall()
    ]


def _configs(con: duckdb.DuckDBPyConnection, invocation_id: str) -> dict[str, TableConfig]:
    rows = con.execute(
        f"select relation, unique_id, anomaly_config from {SCHEMA}.manifest_nodes "
        "where invocation_id = ? and relation is not null",
        [invocation_id],
    ).fetchall()
    return {
        relation: table_config(unique_id, json.loads(raw) if raw else None)
        for relation, unique_id, raw in rows
    }


def _failed_before(con: duckdb.DuckDBPyConnection, started_at: datetime) -> set[tuple[str, str, str, str]]:
    rows = con.execute(
        f"""
        select r.invocation_id, r.relation, r.column_name, r.metric
        from {SCHEMA}.anomaly_results as r
        inner join {SCHEMA}.invocations as i on i.invocation_id = r.invocation_id
        where r.status = 'fail' and i.started_at < ?
        """,
        [started_at],
    ).fetchall()
    return {(row[0], row[1], row[2], row[3]) for row in rows}


@dataclass(frozen=True)
class _Build:
    """The build under evaluation, and the failures of earlier builds kept out of its training."""

    invocation_id: str
    started_at: datetime
    incidents: set[tuple[str, str, str, str]]

    def check(
        self,
        relation: str,
        column: str,
        monitor: str,
        metric: str,
        th: Thresholds,
        value: Any,
        history: list[tuple[str, Any]],
    ) -> Result | None:
        """One monitor's verdict on `value`; None without a value or enough training."""
        if value is None:
            return None
        training = [v for inv, v in history if (inv, relation, column, metric) not in self.incidents]
        verdict = judge(float(value), training, th)
        if verdict is None:
            return None
        if metric in NON_NEGATIVE and verdict.expected_low is not None and verdict.expected_low < 0:
            verdict = replace(verdict, expected_low=0.0)
        return Result(
            self.invocation_id,
            relation,
            column,
            monitor,
            metric,
            verdict.status,
            verdict.value,
            verdict.expected_low,
            verdict.expected_high,
            verdict.mean,
            verdict.stddev,
            verdict.score,
            verdict.training_size,
            th.sensitivity,
            th.direction,
            verdict.detail,
        )


def evaluate(con: duckdb.DuckDBPyConnection, invocation_id: str, started_at: datetime) -> list[Result]:
    """Every monitor's verdict on one recorded build invocation."""
    configs = _configs(con, invocation_id)
    build = _Build(invocation_id, started_at, _failed_before(con, started_at))
    results: list[Result] = []
    current = con.execute(
        f"""
        select relation, rows_added, new_batches, freshness_lag_seconds, scope
        from {SCHEMA}.table_metrics where invocation_id = ?
        """,
        [invocation_id],
    ).fetchall()
    for relation, rows_added, new_batches, lag, _scope in current:
        config = configs.get(relation)
        if config is None or not config.enabled:
            continue
        results += _table_checks(con, build, relation, config, rows_added, new_batches, lag)
        results += _column_checks(con, build, relation, config)
    snapshotted = con.execute(
        f"select distinct relation from {SCHEMA}.schema_snapshots where invocation_id = ? order by 1",
        [invocation_id],
    ).fetchall()
    for (relation,) in snapshotted:
        config = configs.get(relation)
        if config is not None and config.enabled and config.schema_changes:
            results.extend(_schema_results(con, invocation_id, started_at, relation, config.schema_changes))
    return results


def _table_checks(
    con: duckdb.DuckDBPyConnection,
    build: _Build,
    relation: str,
    config: TableConfig,
    rows_added: Any,
    new_batches: Any,
    lag: Any,
) -> list[Result]:
    """Volume and freshness of one table."""
    history = con.execute(
        f"""
        select t.invocation_id, t.rows_added, t.new_batches, t.freshness_lag_seconds
        from {SCHEMA}.table_metrics as t
        where t.relation = ? and t.measured_at < ?
        order by t.measured_at
        """,
        [relation, build.started_at],
    ).fetchall()
    checks: list[Result | None] = []
    if config.volume is not None:
        same_batches = [
            (inv, added) for inv, added, batches, _ in history if added is not None and batches == new_batches
        ]
        checks.append(
            build.check(relation, "", "volume", "rows_added", config.volume, rows_added, same_batches)
        )
    if config.freshness is not None:
        checks.append(
            build.check(
                relation,
                "",
                "freshness",
                "freshness_lag_seconds",
                config.freshness,
                lag,
                [(inv, value) for inv, _, _, value in history if value is not None],
            )
        )
    return [result for result in checks if result is not None]


def _column_checks(
    con: duckdb.DuckDBPyConnection, build: _Build, relation: str, config: TableConfig
) -> list[Result]:
    """Each watched metric of each measured column of one table."""
    metric_columns = ", ".join(f"c.{column}" for column in COLUMN_METRICS.values())
    current = con.execute(
        f"select c.column_name, c.scope, {metric_columns} from {SCHEMA}.column_metrics as c "
        "where c.invocation_id = ? and c.relation = ?",
        [build.invocation_id, relation],
    ).fetchall()
    if not current:
        return []
    history = con.execute(
        f"""
        select c.invocation_id, c.column_name, c.scope, {metric_columns}
        from {SCHEMA}.column_metrics as c
        inner join {SCHEMA}.table_metrics as t
            on t.invocation_id = c.invocation_id and t.relation = c.relation
        where c.relation = ? and t.measured_at < ?
        order by t.measured_at
        """,
        [relation, build.started_at],
    ).fetchall()
    names = list(COLUMN_METRICS)
    results: list[Result] = []
    for column, scope, *values in current:
        for metric in config.metrics_for(column):
            thresholds = config.thresholds_for(column, metric)
            index = names.index(metric)
            past = [
                (row[0], row[3 + index])
                for row in history
                if row[1] == column and row[2] == scope and row[3 + index] is not None
            ]
            result = build.check(relation, column, "column", metric, thresholds, values[index], past)
            if result is not None:
                results.append(result)
    return results


def _schema_results(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    started_at: datetime,
    relation: str,
    severity: str,
) -> list[Result]:
    now = con.execute(
        f"select column_name, data_type from {SCHEMA}.schema_snapshots "
        "where invocation_id = ? and relation = ?",
        [invocation_id, relation],
    ).fetchall()
    before = con.execute(
        f"""
        select s.column_name, s.data_type
        from {SCHEMA}.schema_snapshots as s
        where s.relation = ? and s.invocation_id = (
            select s2.invocation_id
            from {SCHEMA}.schema_snapshots as s2
            inner join {SCHEMA}.invocations as i on i.invocation_id = s2.invocation_id
            where s2.relation = ? and i.started_at < ?
            order by i.started_at desc
            limit 1
        )
        """,
        [relation, relation, started_at],
    ).fetchall()
    if not now or not before:
        return []
    current, previous = dict(now), dict(before)

    def row(column: str, metric: str, detail: str, status: str) -> Result:
        return Result(
            invocation_id,
            relation,
            column,
            "schema",
            metric,
            status,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            detail,
        )

    changes = (
        [
            row(c, "column_added", f"column {c} added ({current[c]})", severity)
            for c in current
            if c not in previous
        ]
        + [
            row(c, "column_removed", f"column {c} removed (was {previous[c]})", severity)
            for c in previous
            if c not in current
        ]
        + [
            row(c, "type_changed", f"column {c} changed type {previous[c]} → {current[c]}", severity)
            for c in current
            if c in previous and current[c] != previous[c]
        ]
    )
    return changes or [row("", "schema_changes", f"{len(current)} columns, unchanged", "pass")]


def store(con: duckdb.DuckDBPyConnection, invocation_id: str, results: Sequence[Result]) -> None:
    """Write one invocation's results and mark it evaluated, atomically."""
    now = utc_now()
    con.execute("begin transaction")
    try:
        if results:
            con.executemany(
                f"insert into {SCHEMA}.anomaly_results values "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.invocation_id,
                        r.relation,
                        r.column_name,
                        r.monitor,
                        r.metric,
                        r.status,
                        r.value,
                        r.expected_low,
                        r.expected_high,
                        r.mean,
                        r.stddev,
                        r.score,
                        r.training_size,
                        r.sensitivity,
                        r.direction,
                        r.detail,
                        now,
                    )
                    for r in results
                ],
            )
        con.execute(
            f"insert into {SCHEMA}.evaluations values (?, ?, ?, ?, ?)",
            [
                invocation_id,
                now,
                len(results),
                sum(r.status == "warn" for r in results),
                sum(r.status == "fail" for r in results),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def detect_pending(con: duckdb.DuckDBPyConnection) -> dict[str, list[Result]]:
    """Evaluate every invocation not looked at yet, oldest first; results by invocation.

    Builds with table metrics get every monitor's verdict; other invocations
    (source freshness, tests) are only marked as seen, for the alerts.
    """
    ensure_schema(con)
    out: dict[str, list[Result]] = {}
    for invocation_id, started_at in pending_invocations(con):
        results = evaluate(con, invocation_id, started_at) if started_at is not None else []
        store(con, invocation_id, results)
        out[invocation_id] = results
    return out


def stored_results(con: duckdb.DuckDBPyConnection, invocation_id: str) -> list[Result]:
    rows = con.execute(
        f"""
        select invocation_id, relation, column_name, monitor, metric, status, value, expected_low,
               expected_high, training_mean, training_stddev, score, training_size, sensitivity,
               direction, detail
        from {SCHEMA}.anomaly_results where invocation_id = ?
        order by relation, column_name, metric
        """,
        [invocation_id],
    ).fetchall()
    return [Result(*row) for row in rows]
