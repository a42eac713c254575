"""The observability page of `tpch-elt report`: what ran, what failed and why.

Everything comes from the warehouse's `observability` schema (recorded by
`tpch_elt.observability.history`, judged by `tpch_elt.observability.detect`): run history, test
results over time, failing tests with their sample rows and SQL, model
durations, each anomaly with its metric's history and expected band,
source freshness, schema changes, test and documentation coverage per
model, and the lineage graph of the manifest. Charts are inline SVG; the
page needs no network. Histories show the last HISTORY_RUNS builds, so the
page stays small however long the warehouse has been running.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

import duckdb

from tpch_elt.observability.detect import Result, expected_range, fmt
from tpch_elt.observability.history import SCHEMA
from tpch_elt.reports.charts import Series, band_chart, line_chart, lineage_svg
from tpch_elt.reports.html import html_table
from tpch_elt.reports.page import Page
from tpch_elt.warehouse.connection import table_exists

HISTORY_RUNS = 30
MAX_ANOMALY_CHARTS = 12
MAX_FAILING_TESTS = 15
MAX_DURATION_SERIES = 5
LAYERS = ("source", "staging", "intermediate", "mart", "exposure")
Con = duckdb.DuckDBPyConnection
Builds = Sequence[dict[str, Any]]  # rows as dicts

_CSS = """
<style>
.badge{display:inline-block;border-radius:4px;padding:0 6px;color:#fff;font-size:12px;font-weight:600}
.b-pass,.b-success{background:#009e73}.b-warn{background:#e69f00}
.b-fail,.b-error,.b-runtime{background:#d55e00}.b-skipped{background:#6b7280}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px}
.card b{display:block;font-size:20px}
section.obs{border-top:1px solid var(--line);padding:14px 0 6px}
section.obs h2{font-size:17px;margin:0 0 6px}
details{margin:4px 0 10px}
pre{background:var(--soft);padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
.strip td:last-child{font-family:ui-monospace,monospace;letter-spacing:1px}
</style>
"""


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _badge(status: str | None) -> str:
    status = status or "–"
    cls = status.split()[0]
    return f'<span class="badge b-{esc(cls)}">{esc(status)}</span>'


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "–"


def _short(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "–"


def _node_name(unique_id: str | None) -> str:
    return (unique_id or "").rsplit(".", 1)[-1]


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[bool] | None = None,
    caption: str = "",
) -> str:
    return f'<div class="scroll">{html_table(headers, rows, numeric=numeric, caption=caption)}</div>'


# -- sections -------------------------------------------------------------------------


def _builds(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The last HISTORY_RUNS build invocations, oldest first."""
    rows = _rows(
        con,
        f"""
        select * from {SCHEMA}.invocations
        where command in ('build', 'run')
        order by started_at desc
        limit {HISTORY_RUNS}
    """,
    )
    return list(reversed(rows))


def _summary(con: Con, builds: Builds, latest_results: Sequence[Result]) -> str:
    latest = builds[-1]
    tests = _rows(
        con,
        f"""
        select status, count(*) as n from {SCHEMA}.test_results where invocation_id = ? group by 1
    """,
        [latest["invocation_id"]],
    )
    by_status = {r["status"]: r["n"] for r in tests}
    fresh = _rows(
        con,
        f"""
        select status, count(*) as n from {SCHEMA}.source_freshness
        where invocation_id = (select invocation_id from {SCHEMA}.invocations
                               where command = 'source freshness' order by started_at desc limit 1)
        group by 1
    """,
    )
    fresh_status = {r["status"]: r["n"] for r in fresh}
    verdicts = defaultdict(int)
    for result in latest_results:
        verdicts[result.status] += 1
    cards = [
        (
            "latest build",
            f"{_badge(latest['status'])}",
            f"{_when(latest['started_at'])} UTC · {(latest['elapsed_seconds'] or 0):.1f} s",
        ),
        (
            "tests",
            f"{by_status.get('pass', 0)} pass",
            f"{by_status.get('fail', 0)} fail · {by_status.get('error', 0)} error · {by_status.get('warn', 0)} warn",
        ),
        ("anomaly checks", f"{verdicts['pass']} pass", f"{verdicts['fail']} fail · {verdicts['warn']} warn"),
        (
            "source freshness",
            f"{fresh_status.get('pass', 0)} pass",
            f"{fresh_status.get('warn', 0)} warn · {fresh_status.get('error', 0)} error",
        ),
        ("builds recorded", str(len(builds)), f"history of the last {HISTORY_RUNS} shown"),
    ]
    html = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="meta">{esc(title)}</span><b>{value}</b>'
            f'<span class="meta">{esc(detail)}</span></div>'
            for title, value, detail in cards
        )
        + "</div>"
    )
    problems = [r for r in latest_results if r.status != "pass"]
    failing_tests = _rows(
        con,
        f"""
        select name, status, failures from {SCHEMA}.test_results
        where invocation_id = ? and status not in ('pass', 'success', 'skipped')
        order by status, name
    """,
        [latest["invocation_id"]],
    )
    items = []
    for test in failing_tests:
        rows = f": {test['failures']:,} failing row(s)" if test["failures"] else ""
        items.append(
            f'<li>{_badge(test["status"])} test <a href="#failing-tests">{esc(test["name"])}</a>'
            f"{esc(rows)}</li>"
        )
    items += [
        f'<li>{_badge(r.status)} {esc(r.monitor)} <a href="#anomalies">{esc(r.describe())}</a></li>'
        for r in problems
    ]
    what = (
        f"<p><b>What needs attention in the latest build:</b></p><ul>{''.join(items)}</ul>"
        if items
        else "<p>Nothing failed in the latest build: every test and anomaly check passed.</p>"
    )
    return html + what


def _history(con: Con, builds: Builds) -> str:
    ids = [b["invocation_id"] for b in builds]
    marks = ", ".join("?" for _ in ids)

    def by_status(table: str) -> dict[tuple[str, str], int]:
        return {
            (r["invocation_id"], r["status"]): r["n"]
            for r in _rows(
                con,
                f"""
        select invocation_id, status, count(*) as n from {SCHEMA}.{table}
        where invocation_id in ({marks}) group by 1, 2""",
                ids,
            )
        }

    models, tests, anomalies = (by_status(t) for t in ("model_runs", "test_results", "anomaly_results"))
    rows = []
    for b in reversed(builds):
        inv = b["invocation_id"]
        selectors = json.loads(b["selectors"] or "{}")
        scope = (
            "full refresh"
            if selectors.get("full_refresh")
            else f"batches ≥ {selectors['tests_from_batch']}"
            if selectors.get("tests_from_batch")
            else "all history"
        )
        rows.append(
            [
                _when(b["started_at"]),
                b["status"],
                f"{(b['elapsed_seconds'] or 0):.1f}",
                f"{(b['record_seconds'] or 0):.2f}",
                scope,
                f"{models.get((inv, 'success'), 0)} / {models.get((inv, 'error'), 0)} / "
                f"{models.get((inv, 'skipped'), 0)}",
                f"{tests.get((inv, 'pass'), 0)} / {tests.get((inv, 'fail'), 0) + tests.get((inv, 'error'), 0)} / "
                f"{tests.get((inv, 'warn'), 0)}",
                f"{anomalies.get((inv, 'fail'), 0)} / {anomalies.get((inv, 'warn'), 0)}",
            ]
        )
    labels = [_short(b["started_at"]) for b in builds]
    chart = line_chart(
        labels,
        [
            Series("tests passed", [tests.get((b["invocation_id"], "pass"), 0) for b in builds]),
            Series(
                "tests failed or erred",
                [
                    tests.get((b["invocation_id"], "fail"), 0) + tests.get((b["invocation_id"], "error"), 0)
                    for b in builds
                ],
            ),
            Series("tests warned", [tests.get((b["invocation_id"], "warn"), 0) for b in builds]),
        ],
        title="Test results per build",
        include_zero=True,
        label_every=max(1, round(len(labels) / 8)),
    )
    table = _table(
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
        rows,
        numeric=[False, False, True, True, False, True, True, True],
        caption="Builds, newest first (observe s: time spent recording history and metrics)",
    )
    flaky = _rows(
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
    strips = ""
    if flaky:
        statuses = {
            (r["invocation_id"], r["unique_id"]): r["status"]
            for r in _rows(
                con,
                f"""
            select invocation_id, unique_id, status from {SCHEMA}.test_results
            where invocation_id in ({marks}) and unique_id in ({", ".join("?" for _ in flaky)})""",
                ids + [f["unique_id"] for f in flaky],
            )
        }
        glyph = {"pass": "·", "fail": "✗", "error": "E", "warn": "!", "skipped": "s"}
        strips = (
            '<div class="strip">'
            + _table(
                ["test", "model", "column", "oldest → newest build"],
                [
                    [
                        f["name"],
                        _node_name(f["model"]),
                        f["column_name"] or "",
                        "".join(glyph.get(statuses.get((inv, f["unique_id"]), ""), " ") for inv in ids),
                    ]
                    for f in flaky
                ],
                caption="Tests that did not pass in at least one build (· pass, ✗ fail, E error, ! warn, "
                "blank: not run)",
            )
            + "</div>"
        )
    return (
        f'<section class="obs" id="history"><h2>Run history and test results over time</h2>'
        f"<figure>{chart}</figure>{table}{strips}</section>"
    )


def _failing_tests(con: Con, builds: Builds) -> str:
    ids = [b["invocation_id"] for b in builds]
    marks = ", ".join("?" for _ in ids)
    rows = _rows(
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
    if not rows:
        return (
            '<section class="obs" id="failing-tests"><h2>Failing tests</h2>'
            f"<p>No test failed in the last {len(builds)} builds.</p></section>"
        )
    parts = []
    for t in rows:
        sample = ""
        if t["failing_sample"]:
            items = json.loads(t["failing_sample"])
            if items and isinstance(items[0], dict):
                headers = list(items[0].keys())
                sample = _table(
                    headers,
                    [[_cell(item.get(h)) for h in headers] for item in items],
                    caption=f"Sample of failing rows ({len(items)} shown, at most 20)",
                )
        elif t["sample_error"]:
            sample = f'<p class="meta">No sample: {esc(t["sample_error"])}</p>'
        where = f" on {_node_name(t['attached_node'])}" + (f".{t['column_name']}" if t["column_name"] else "")
        count = f"{t['failures']:,} failing row(s)" if t["failures"] is not None else ""
        message = esc((t["message"] or "").strip()[:600])
        parts.append(
            f"<h3>{_badge(t['status'])} {esc(t['name'])}</h3>"
            f'<p class="meta">{esc(t["test_type"] or "")} test{esc(where)} · last failed {_when(t["started_at"])} UTC'
            f" · {esc(count)}</p>"
            + (f"<p>{message}</p>" if message and t["status"] in ("error", "runtime error") else "")
            + sample
            + (
                f"<details><summary>compiled SQL</summary><pre>{esc(t['compiled_sql'])}</pre></details>"
                if t["compiled_sql"]
                else ""
            )
        )
    return (
        '<section class="obs" id="failing-tests"><h2>Failing tests, with sample rows</h2>'
        '<p class="meta">The latest failure of each test in the history shown; the sample is what the '
        "test's compiled SQL returned right after the build.</p>" + "".join(parts) + "</section>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:200]
    return "" if value is None else str(value)[:200]


def _durations(con: Con, builds: Builds) -> str:
    ids = [b["invocation_id"] for b in builds]
    marks = ", ".join("?" for _ in ids)
    rows = _rows(
        con,
        f"""
        select invocation_id, name, materialized, status, execution_seconds, rows_affected
        from {SCHEMA}.model_runs where invocation_id in ({marks}) and status = 'success'
    """,
        ids,
    )
    if not rows:
        return ""
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    materialized: dict[str, str] = {}
    affected: dict[str, Any] = {}
    for r in rows:
        seconds[r["name"]][r["invocation_id"]] = float(r["execution_seconds"] or 0)
        materialized[r["name"]] = r["materialized"] or ""
        affected[r["name"]] = r["rows_affected"]
    latest_id = ids[-1]

    def median(name: str) -> float:
        history = sorted(seconds[name].values())
        return history[len(history) // 2]

    ranked = sorted(seconds, key=lambda name: (-median(name), name))
    # A trend needs a few points: chart the models that ran in most builds.
    trended = [name for name in ranked if len(seconds[name]) >= min(3, len(ids))] or ranked
    chart = line_chart(
        [_short(b["started_at"]) for b in builds],
        [Series(name, [seconds[name].get(inv) for inv in ids]) for name in trended[:MAX_DURATION_SERIES]],
        title=f"Execution seconds per build of the {min(MAX_DURATION_SERIES, len(trended))} slowest models "
        "that run in most builds",
        include_zero=True,
        label_every=max(1, round(len(ids) / 8)),
        value_format=lambda v: f"{v:.1f}",
    )
    table_rows = []
    for name in ranked[:15]:
        history = seconds[name].values()
        table_rows.append(
            [
                name,
                materialized[name],
                f"{seconds[name][latest_id]:.2f}" if latest_id in seconds[name] else "not run",
                f"{median(name):.2f}",
                f"{max(history):.2f}",
                str(len(history)),
            ]
        )
    return (
        '<section class="obs" id="durations"><h2>Model durations</h2>'
        f"<figure>{chart}</figure>"
        + _table(
            ["model", "materialized", "latest s", "median s", "max s", "runs"],
            table_rows,
            numeric=[False, False, True, True, True, True],
            caption="The 15 slowest models by median execution time in the builds shown",
        )
        + "</section>"
    )


def _metric_history(con: Con, result: Result, builds: Builds) -> str:
    ids = [b["invocation_id"] for b in builds]
    marks = ", ".join("?" for _ in ids)
    if result.monitor == "column":
        from tpch_elt.observability.detect import COLUMN_METRICS

        column = COLUMN_METRICS[result.metric]
        values = {
            r["invocation_id"]: r["v"]
            for r in _rows(
                con,
                f"""
            select invocation_id, {column} as v from {SCHEMA}.column_metrics
            where relation = ? and column_name = ? and invocation_id in ({marks})""",
                [result.relation, result.column_name, *ids],
            )
        }
    else:
        column = "rows_added" if result.metric == "rows_added" else "freshness_lag_seconds"
        values = {
            r["invocation_id"]: r["v"]
            for r in _rows(
                con,
                f"""
            select invocation_id, {column} as v from {SCHEMA}.table_metrics
            where relation = ? and invocation_id in ({marks})""",
                [result.relation, *ids],
            )
        }
    verdicts = {
        r["invocation_id"]: r
        for r in _rows(
            con,
            f"""
        select invocation_id, status, expected_low, expected_high from {SCHEMA}.anomaly_results
        where relation = ? and column_name = ? and metric = ? and invocation_id in ({marks})""",
            [result.relation, result.column_name, result.metric, *ids],
        )
    }
    shown = [b for b in builds if b["invocation_id"] in values]
    labels = [_short(b["started_at"]) for b in shown]
    series = [
        None if values[b["invocation_id"]] is None else float(values[b["invocation_id"]]) for b in shown
    ]
    lows = [verdicts.get(b["invocation_id"], {}).get("expected_low") for b in shown]
    highs = [verdicts.get(b["invocation_id"], {}).get("expected_high") for b in shown]
    flags = [
        (verdicts.get(b["invocation_id"], {}).get("status") or "").replace("pass", "") or None for b in shown
    ]
    metric = result.metric
    value_format = lambda v: fmt(metric, v)  # noqa: E731
    if metric == "freshness_lag_seconds":  # drawn in hours: round ticks
        series, lows, highs = (
            [None if v is None else float(v) / 3600 for v in seq] for seq in (series, lows, highs)
        )
        value_format = lambda v: f"{v:g} h"  # noqa: E731
    return band_chart(
        labels,
        series,
        lows,
        highs,
        flags,
        title=f"{result.key}: history and expected range",
        value_format=value_format,
    )


def _anomalies(con: Con, builds: Builds, latest_results: Sequence[Result]) -> str:
    ids = [b["invocation_id"] for b in builds]
    marks = ", ".join("?" for _ in ids)
    flagged = _rows(
        con,
        f"""
        select r.*, i.started_at from {SCHEMA}.anomaly_results as r
        inner join {SCHEMA}.invocations as i on i.invocation_id = r.invocation_id
        where r.invocation_id in ({marks}) and r.status in ('fail', 'warn') and r.monitor <> 'schema'
        qualify row_number() over (partition by r.relation, r.column_name, r.metric
                                   order by i.started_at desc) = 1
        order by i.started_at desc, r.relation, r.column_name, r.metric
    """,
        ids,
    )
    fields = (
        "invocation_id",
        "relation",
        "column_name",
        "monitor",
        "metric",
        "status",
        "value",
        "expected_low",
        "expected_high",
        "training_mean",
        "training_stddev",
        "score",
        "training_size",
        "sensitivity",
        "direction",
        "detail",
    )
    parts = []
    for row in flagged[:MAX_ANOMALY_CHARTS]:
        result = Result(*(row[f] for f in fields))
        parts.append(
            f"<h3>{_badge(result.status)} {esc(result.monitor)}: {esc(result.key)}</h3>"
            f'<p class="meta">{_when(row["started_at"])} UTC · value {esc(fmt(result.metric, result.value))}, '
            f"expected {esc(expected_range(result))} (mean {esc(fmt(result.metric, result.mean))} ± "
            f"{result.sensitivity:g}·sd {esc(fmt(result.metric, result.stddev))} over {result.training_size} "
            f"runs, direction {esc(result.direction)}) · {esc(result.detail)}</p>"
            f"<figure>{_metric_history(con, result, builds)}</figure>"
        )
    if len(flagged) > MAX_ANOMALY_CHARTS:
        parts.append(f'<p class="meta">{len(flagged) - MAX_ANOMALY_CHARTS} more anomalies not charted.</p>')
    monitors: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for result in latest_results:
        monitors[(result.relation, result.monitor)][result.status] += 1
    summary = _table(
        ["table", "monitor", "checks", "pass", "warn", "fail"],
        [
            [rel, mon, str(sum(c.values())), str(c["pass"]), str(c["warn"]), str(c["fail"])]
            for (rel, mon), c in sorted(monitors.items())
        ],
        numeric=[False, False, True, True, True, True],
        caption="Every check of the latest evaluated build, per table and monitor",
    )
    intro = (
        '<p class="meta">Volume (rows added per build, compared with builds that added as many batches), '
        "freshness (lag of the newest <code>_loaded_at</code> at build start) and column metrics are judged "
        "by z-score against earlier builds; the shaded band is the expected range each build was judged "
        "against. Builds where a metric failed are left out of its later training windows.</p>"
    )
    body = "".join(parts) if parts else f"<p>No anomaly in the last {len(builds)} builds.</p>"
    return f'<section class="obs" id="anomalies"><h2>Anomalies</h2>{intro}{body}{summary}</section>'


def _freshness(con: Con) -> str:
    rows = _rows(
        con,
        f"""
        select f.*, i.started_at from {SCHEMA}.source_freshness as f
        inner join {SCHEMA}.invocations as i on i.invocation_id = f.invocation_id
        where f.invocation_id = (select invocation_id from {SCHEMA}.invocations
                                 where command = 'source freshness' order by started_at desc limit 1)
        order by f.source_name, f.table_name
    """,
    )
    if not rows:
        return ""
    return (
        '<section class="obs" id="freshness"><h2>Source freshness</h2>'
        + _table(
            ["source", "status", "last load (UTC)", "age", "warn after", "error after"],
            [
                [
                    f"{r['source_name']}.{r['table_name']}",
                    r["status"],
                    _when(r["max_loaded_at"]),
                    _age(r["age_seconds"]),
                    _age(r["warn_after_seconds"]),
                    _age(r["error_after_seconds"]),
                ]
                for r in rows
            ],
            numeric=[False, False, False, True, True, True],
            caption=f"dbt source freshness at {_when(rows[0]['started_at'])} UTC",
        )
        + "</section>"
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def _schema_changes(con: Con) -> str:
    rows = _rows(
        con,
        f"""
        select r.relation, r.column_name, r.metric, r.status, r.detail, i.started_at
        from {SCHEMA}.anomaly_results as r
        inner join {SCHEMA}.invocations as i on i.invocation_id = r.invocation_id
        where r.monitor = 'schema' and r.metric <> 'schema_changes'
        order by i.started_at desc, r.relation, r.column_name
        limit 100
    """,
    )
    body = (
        _table(
            ["detected (UTC)", "table", "change", "status"],
            [[_when(r["started_at"]), r["relation"], r["detail"], r["status"]] for r in rows],
        )
        if rows
        else "<p>No column was added, removed or retyped in any source or model.</p>"
    )
    return f'<section class="obs" id="schema"><h2>Schema changes</h2>{body}</section>'


def _coverage(con: Con, nodes: Builds, columns: dict[str, list[str]]) -> str:
    rows = []
    totals = defaultdict(int)
    for node in nodes:
        if node["resource_type"] not in ("model", "source"):
            continue
        actual = columns.get(node["relation"]) or json.loads(node["columns"] or "[]")
        documented = set(json.loads(node["documented_columns"] or "[]"))
        tested = set(json.loads(node["tested_columns"] or "[]"))
        n = len(actual)
        doc = len(documented & set(actual)) if actual else len(documented)
        tst = len(tested & set(actual)) if actual else len(tested)
        totals["columns"] += n
        totals["documented"] += doc
        totals["tested"] += tst
        totals["tests"] += node["test_count"]
        totals["described"] += bool(node["description"])
        rows.append(
            [
                node["layer"],
                node["name"],
                "yes" if node["description"] else "no",
                f"{doc}/{n}",
                f"{100 * doc / n:.0f}%" if n else "–",
                f"{tst}/{n}",
                f"{100 * tst / n:.0f}%" if n else "–",
                str(node["test_count"]),
                str(node["unit_test_count"]),
            ]
        )
    order = {layer: i for i, layer in enumerate(LAYERS)}
    rows.sort(key=lambda r: (order.get(r[0], 9), r[1]))
    n = totals["columns"] or 1
    headline = (
        f"<p>{totals['described']} of {len(rows)} sources and models are described; "
        f"{100 * totals['documented'] / n:.0f}% of columns are documented and "
        f"{100 * totals['tested'] / n:.0f}% have at least one column test; {totals['tests']} data tests "
        "in all.</p>"
    )
    return (
        '<section class="obs" id="coverage"><h2>Test and documentation coverage</h2>'
        + headline
        + _table(
            [
                "layer",
                "source / model",
                "described",
                "documented cols",
                "%",
                "tested cols",
                "%",
                "data tests",
                "unit tests",
            ],
            rows,
            numeric=[False, False, False, True, True, True, True, True, True],
            caption="Columns as built in the warehouse; tests as declared in the manifest",
        )
        + "</section>"
    )


def render(con: duckdb.DuckDBPyConnection) -> str:
    if not table_exists(con, SCHEMA, "invocations"):
        return (
            "<p>This warehouse has no observability history yet: it is recorded after every "
            "<code>tpch-elt build</code>. Run a build, then <code>tpch-elt observe</code> and "
            "<code>tpch-elt report</code>.</p>"
        )
    builds = _builds(con)
    if not builds:
        return "<p>No dbt build has been recorded in this warehouse yet: run <code>tpch-elt build</code>.</p>"
    evaluated = _rows(
        con,
        f"""
        select e.invocation_id from {SCHEMA}.evaluations as e
        inner join {SCHEMA}.invocations as i on i.invocation_id = e.invocation_id
        where i.command in ('build', 'run') order by i.started_at desc limit 1
    """,
    )
    fields = (
        "invocation_id",
        "relation",
        "column_name",
        "monitor",
        "metric",
        "status",
        "value",
        "expected_low",
        "expected_high",
        "training_mean",
        "training_stddev",
        "score",
        "training_size",
        "sensitivity",
        "direction",
        "detail",
    )
    latest_results = (
        [
            Result(*(r[f] for f in fields))
            for r in _rows(
                con,
                f"select * from {SCHEMA}.anomaly_results where invocation_id = ?",
                [evaluated[0]["invocation_id"]],
            )
        ]
        if evaluated
        else []
    )
    latest_manifest = _rows(
        con,
        f"""
        select invocation_id from {SCHEMA}.manifest_nodes as m
        inner join {SCHEMA}.invocations as i using (invocation_id)
        order by i.started_at desc limit 1
    """,
    )
    nodes = (
        _rows(
            con,
            f"select * from {SCHEMA}.manifest_nodes where invocation_id = ? order by unique_id",
            [latest_manifest[0]["invocation_id"]],
        )
        if latest_manifest
        else []
    )
    columns: dict[str, list[str]] = defaultdict(list)
    if latest_manifest:
        for r in _rows(
            con,
            f"""
            select relation, column_name from {SCHEMA}.schema_snapshots where invocation_id = ?
            order by relation, ordinal_position""",
            [latest_manifest[0]["invocation_id"]],
        ):
            columns[r["relation"]].append(r["column_name"])
    problems: dict[str, str] = {}
    latest_id = builds[-1]["invocation_id"]
    for r in _rows(
        con,
        f"""
        select attached_node as uid, status from {SCHEMA}.test_results
        where invocation_id = ? and status in ('fail', 'error', 'warn', 'runtime error')
        union all
        select unique_id, 'fail' from {SCHEMA}.model_runs where invocation_id = ? and status = 'error'
    """,
        [latest_id, latest_id],
    ):
        if r["uid"]:
            worst = "warn" if r["status"] == "warn" else "fail"
            problems[r["uid"]] = "fail" if problems.get(r["uid"]) == "fail" else worst
    by_relation = {n["relation"]: n["unique_id"] for n in nodes if n["relation"]}
    for result in latest_results:
        uid = by_relation.get(result.relation)
        if uid and result.status != "pass":
            problems[uid] = "fail" if problems.get(uid) == "fail" or result.status == "fail" else "warn"
    toc = (
        '<p class="meta">'
        '<a href="#history">run history</a> · <a href="#failing-tests">failing tests</a> · '
        '<a href="#durations">durations</a> · <a href="#anomalies">anomalies</a> · '
        '<a href="#freshness">freshness</a> · <a href="#schema">schema changes</a> · '
        '<a href="#coverage">coverage</a> · <a href="#lineage">lineage</a></p>'
    )
    lineage = ""
    if nodes:
        lineage = (
            '<section class="obs" id="lineage"><h2>Lineage</h2>'
            '<p class="meta">From the manifest of the latest build; outlined red: a failing test, '
            "error or anomaly in the latest build (amber: a warning). Hover a box for its id.</p>"
            f"<figure>{lineage_svg(nodes, problems, title='Lineage: sources to exposures')}</figure>"
            "</section>"
        )
    return (
        _CSS
        + toc
        + _summary(con, builds, latest_results)
        + _history(con, builds)
        + _failing_tests(con, builds)
        + _durations(con, builds)
        + _anomalies(con, builds, latest_results)
        + _freshness(con)
        + _schema_changes(con)
        + (_coverage(con, nodes, columns) if nodes else "")
        + lineage
    )


PAGE = Page(
    slug="observability",
    title="Data observability",
    summary="dbt runs and tests over time, failing rows, anomalies, schema changes, coverage and lineage",
    render=render,
)
