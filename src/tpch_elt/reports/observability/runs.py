"""The observability page's sections about runs: the summary of the latest
build, run history and test results over time, failing tests with their
sample rows, and model durations. Each returns what its template shows."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from tpch_elt.observability.detect import Result
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.charts import Series, line_chart
from tpch_elt.reports.html import Table
from tpch_elt.reports.observability.common import (
    HISTORY_RUNS,
    Builds,
    Con,
    Row,
    in_builds,
    label_step,
    node_name,
    short,
    when,
)
from tpch_elt.reports.page import query_rows

MAX_FAILING_TESTS = 15
MAX_DURATION_SERIES = 5
# A test's status in one build, as one character of its strip.
GLYPHS = {"pass": "·", "fail": "✗", "error": "E", "warn": "!", "skipped": "s"}


# -- summary --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    title: str
    value: str | None
    detail: str
    badge: bool = False  # value is a status, shown as a badge


@dataclass(frozen=True)
class Attention:
    """A line of "what needs attention": a failing test or a failing check."""

    status: str
    kind: str
    anchor: str  # the section that has the details
    text: str
    suffix: str = ""


@dataclass(frozen=True)
class Summary:
    cards: list[Card]
    attention: list[Attention]


def summary(con: Con, builds: Builds, latest_results: Sequence[Result]) -> Summary:
    """Cards for the latest build, tests, checks and freshness; what needs attention."""
    latest = builds[-1]
    tests = _counts(
        con,
        f"select status, count(*) as n from {SCHEMA}.test_results where invocation_id = ? group by 1",
        [latest["invocation_id"]],
    )
    fresh = _counts(
        con,
        f"""
        select status, count(*) as n from {SCHEMA}.source_freshness
        where invocation_id = (select invocation_id from {SCHEMA}.invocations
                               where command = 'source freshness' order by started_at desc limit 1)
        group by 1
    """,
    )
    verdicts = Counter(result.status for result in latest_results)
    cards = [
        Card(
            "latest build",
            latest["status"],
            f"{when(latest['started_at'])} UTC · {(latest['elapsed_seconds'] or 0):.1f} s",
            badge=True,
        ),
        Card(
            "tests",
            f"{tests['pass']} pass",
            f"{tests['fail']} fail · {tests['error']} error · {tests['warn']} warn",
        ),
        Card(
            "anomaly checks", f"{verdicts['pass']} pass", f"{verdicts['fail']} fail · {verdicts['warn']} warn"
        ),
        Card("source freshness", f"{fresh['pass']} pass", f"{fresh['warn']} warn · {fresh['error']} error"),
        Card("builds recorded", str(len(builds)), f"history of the last {HISTORY_RUNS} shown"),
    ]
    failing_tests = query_rows(
        con,
        f"""
        select name, status, failures from {SCHEMA}.test_results
        where invocation_id = ? and status not in ('pass', 'success', 'skipped')
        order by status, name
    """,
        [latest["invocation_id"]],
    )
    attention = [
        Attention(
            test["status"],
            "test",
            "failing-tests",
            test["name"],
            f": {test['failures']:,} failing row(s)" if test["failures"] else "",
        )
        for test in failing_tests
    ]
    attention += [
        Attention(r.status, r.monitor, "anomalies", r.describe())
        for r in latest_results
        if r.status != "pass"
    ]
    return Summary(cards, attention)


def _counts(con: Con, sql: str, params: Sequence[Any] = ()) -> Counter[str]:
    """A `select status, count(*) as n … group by 1` as counts by status (0 when absent)."""
    return Counter({r["status"]: r["n"] for r in query_rows(con, sql, params)})


# -- run history ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    chart: Markup
    builds: Table
    flaky: Table | None  # tests that did not pass in some build, one strip of statuses each


def history(con: Con, builds: Builds) -> History:
    ids, marks = in_builds(builds)

    def by_status(table: str) -> dict[tuple[str, str], int]:
        return {
            (r["invocation_id"], r["status"]): r["n"]
            for r in query_rows(
                con,
                f"""
        select invocation_id, status, count(*) as n from {SCHEMA}.{table}
        where invocation_id in ({marks}) group by 1, 2""",
                ids,
            )
        }

    counts = _StatusCounts(*(by_status(t) for t in ("model_runs", "test_results", "anomaly_results")))
    labels = [short(b["started_at"]) for b in builds]
    chart = line_chart(
        labels,
        [
            Series("tests passed", [counts.test(b["invocation_id"], "pass") for b in builds]),
            Series("tests failed or erred", [counts.tests_failed(b["invocation_id"]) for b in builds]),
            Series("tests warned", [counts.test(b["invocation_id"], "warn") for b in builds]),
        ],
        title="Test results per build",
        include_zero=True,
        label_every=label_step(len(labels)),
    )
    table = Table(
        [
            "started (UTC)",
            "status",
            "dbt s",
            "observe s",
            "test scope",
            "models ok / error / skipped",
            "tests pass / fail / warn",
            "anomalies fail / warn",
        ],
        [_build_row(b, counts) for b in reversed(builds)],
        [False, False, True, True, False, True, True, True],
        "Builds, newest first (observe s: time spent recording history and metrics)",
    )
    return History(chart, table, _flaky(con, ids, marks))


@dataclass(frozen=True)
class _StatusCounts:
    """Model runs, test results and anomaly checks per (invocation, status)."""

    models: dict[tuple[str, str], int]
    tests: dict[tuple[str, str], int]
    anomalies: dict[tuple[str, str], int]

    def test(self, inv: str, status: str) -> int:
        return self.tests.get((inv, status), 0)

    def tests_failed(self, inv: str) -> int:
        return self.test(inv, "fail") + self.test(inv, "error")


def _build_row(build: Row, counts: _StatusCounts) -> list[str]:
    inv = build["invocation_id"]
    models, anomalies = counts.models, counts.anomalies
    return [
        when(build["started_at"]),
        build["status"],
        f"{(build['elapsed_seconds'] or 0):.1f}",
        f"{(build['record_seconds'] or 0):.2f}",
        _test_scope(build),
        f"{models.get((inv, 'success'), 0)} / {models.get((inv, 'error'), 0)} / {models.get((inv, 'skipped'), 0)}",
        f"{counts.test(inv, 'pass')} / {counts.tests_failed(inv)} / {counts.test(inv, 'warn')}",
        f"{anomalies.get((inv, 'fail'), 0)} / {anomalies.get((inv, 'warn'), 0)}",
    ]


def _test_scope(build: Row) -> str:
    selectors = json.loads(build["selectors"] or "{}")
    if selectors.get("full_refresh"):
        return "full refresh"
    if selectors.get("tests_from_batch"):
        return f"batches ≥ {selectors['tests_from_batch']}"
    return "all history"


def _flaky(con: Con, ids: list[str], marks: str) -> Table | None:
    """Each test that did not pass in some build shown, with its status in every build."""
    flaky = query_rows(
        con,
        f"""
        select unique_id, any_value(name) as name, any_value(attached_node) as model,
               any_value(column_name) as column_name
        from {SCHEMA}.test_results
        where invocation_id in ({marks}) and status not in ('pass', 'success', 'skipped')
        group by unique_id order by name
    """,
        ids,
    )
    if not flaky:
        return None
    statuses = {
        (r["invocation_id"], r["unique_id"]): r["status"]
        for r in query_rows(
            con,
            f"""
            select invocation_id, unique_id, status from {SCHEMA}.test_results
            where invocation_id in ({marks}) and unique_id in ({", ".join("?" for _ in flaky)})""",
            ids + [f["unique_id"] for f in flaky],
        )
    }
    return Table(
        ["test", "model", "column", "oldest → newest build"],
        [
            [
                f["name"],
                node_name(f["model"]),
                f["column_name"] or "",
                "".join(GLYPHS.get(statuses.get((inv, f["unique_id"]), ""), " ") for inv in ids),
            ]
            for f in flaky
        ],
        caption="Tests that did not pass in at least one build (· pass, ✗ fail, E error, ! warn, blank: not run)",
    )


# -- failing tests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailingTest:
    status: str
    name: str
    test_type: str
    where: str  # " on model.column"
    last_failed: str
    count: str
    message: str  # dbt's message, shown for errors only
    sample: Table | None  # the failing rows the test's SQL returned
    sample_error: str | None  # why there is no sample
    compiled_sql: str | None


@dataclass(frozen=True)
class FailingTests:
    builds: int
    tests: list[FailingTest]


def failing_tests(con: Con, builds: Builds) -> FailingTests:
    """The latest failure of each test in the builds shown, newest first."""
    ids, marks = in_builds(builds)
    failures = query_rows(
        con,
        f"""
        select t.*, i.started_at from {SCHEMA}.test_results as t
        inner join {SCHEMA}.invocations as i on i.invocation_id = t.invocation_id
        where t.invocation_id in ({marks}) and t.status in ('fail', 'warn', 'error', 'runtime error')
        qualify row_number() over (partition by t.unique_id order by i.started_at desc) = 1
        order by i.started_at desc, t.name
        limit {MAX_FAILING_TESTS}
    """,
        ids,
    )
    return FailingTests(len(builds), [_failing_test(t) for t in failures])


def _failing_test(t: Row) -> FailingTest:
    where = f" on {node_name(t['attached_node'])}" + (f".{t['column_name']}" if t["column_name"] else "")
    message = (t["message"] or "").strip()[:600]
    return FailingTest(
        status=t["status"],
        name=t["name"],
        test_type=t["test_type"] or "",
        where=where,
        last_failed=when(t["started_at"]),
        count=f"{t['failures']:,} failing row(s)" if t["failures"] is not None else "",
        message=message if t["status"] in ("error", "runtime error") else "",
        sample=_sample(t["failing_sample"]),
        sample_error=None if t["failing_sample"] else t["sample_error"],
        compiled_sql=t["compiled_sql"],
    )


def _sample(failing_sample: str | None) -> Table | None:
    items = json.loads(failing_sample) if failing_sample else None
    if not items or not isinstance(items[0], dict):
        return None
    headers = list(items[0].keys())
    return Table(
        headers,
        [[_cell(item.get(h)) for h in headers] for item in items],
        caption=f"Sample of failing rows ({len(items)} shown, at most 20)",
    )


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:200]
    return "" if value is None else str(value)[:200]


# -- durations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    chart: Markup
    slowest: Table


def durations(con: Con, builds: Builds) -> Durations | None:
    """The slowest models' execution time over the builds shown; None when no model ran."""
    ids, marks = in_builds(builds)
    runs = query_rows(
        con,
        f"""
        select invocation_id, name, materialized, status, execution_seconds, rows_affected
        from {SCHEMA}.model_runs where invocation_id in ({marks}) and status = 'success'
    """,
        ids,
    )
    if not runs:
        return None
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    materialized: dict[str, str] = {}
    for r in runs:
        seconds[r["name"]][r["invocation_id"]] = float(r["execution_seconds"] or 0)
        materialized[r["name"]] = r["materialized"] or ""
    latest_id = ids[-1]

    def median(name: str) -> float:
        history = sorted(seconds[name].values())
        return history[len(history) // 2]

    ranked = sorted(seconds, key=lambda name: (-median(name), name))
    # A trend needs a few points: chart the models that ran in most builds.
    trended = [name for name in ranked if len(seconds[name]) >= min(3, len(ids))] or ranked
    chart = line_chart(
        [short(b["started_at"]) for b in builds],
        [Series(name, [seconds[name].get(inv) for inv in ids]) for name in trended[:MAX_DURATION_SERIES]],
        title=f"Execution seconds per build of the {min(MAX_DURATION_SERIES, len(trended))} slowest models "
        "that run in most builds",
        include_zero=True,
        label_every=label_step(len(ids)),
        value_format=lambda v: f"{v:.1f}",
    )
    table = Table(
        ["model", "materialized", "latest s", "median s", "max s", "runs"],
        [
            [
                name,
                materialized[name],
                f"{seconds[name][latest_id]:.2f}" if latest_id in seconds[name] else "not run",
                f"{median(name):.2f}",
                f"{max(seconds[name].values()):.2f}",
                str(len(seconds[name])),
            ]
            for name in ranked[:15]
        ],
        [False, False, True, True, True, True],
        "The 15 slowest models by median execution time in the builds shown",
    )
    return Durations(chart, table)
