"""The observability page's sections about checks on the data: anomalies with
their metric's history and expected band, source freshness, schema changes,
and test and documentation coverage per model. Each returns what its
template shows."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from markupsafe import Markup

from tpch_elt.observability.anomaly_config import COLUMN_METRICS
from tpch_elt.observability.detect import Result, expected_range, fmt
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.charts import Formatter, band_chart
from tpch_elt.reports.html import Table
from tpch_elt.reports.observability.common import (
    LAYERS,
    Builds,
    Con,
    Row,
    in_builds,
    result,
    short,
    when,
)
from tpch_elt.reports.page import query_rows

MAX_ANOMALY_CHARTS = 12


# -- anomalies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartedAnomaly:
    """A flagged metric: its verdict in words and its history against the expected band."""

    status: str
    monitor: str
    key: str
    detected: str
    value: str
    expected: str
    mean: str
    sensitivity: str
    stddev: str
    training_size: str
    direction: str
    detail: str
    chart: Markup


@dataclass(frozen=True)
class Anomalies:
    builds: int
    charted: list[ChartedAnomaly]
    uncharted: int  # flagged, beyond MAX_ANOMALY_CHARTS
    monitors: Table  # every check of the latest evaluated build, per table and monitor


def anomalies(con: Con, builds: Builds, latest_results: Sequence[Result]) -> Anomalies:
    """The latest verdict of each metric flagged in the builds shown, newest first."""
    ids, marks = in_builds(builds)
    flagged = query_rows(
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
    charted = [_charted(con, row, builds) for row in flagged[:MAX_ANOMALY_CHARTS]]
    monitors: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for checked in latest_results:
        monitors[(checked.relation, checked.monitor)][checked.status] += 1
    table = Table(
        ["table", "monitor", "checks", "pass", "warn", "fail"],
        [
            [rel, mon, str(sum(c.values())), str(c["pass"]), str(c["warn"]), str(c["fail"])]
            for (rel, mon), c in sorted(monitors.items())
        ],
        [False, False, True, True, True, True],
        "Every check of the latest evaluated build, per table and monitor",
    )
    return Anomalies(len(builds), charted, max(len(flagged) - MAX_ANOMALY_CHARTS, 0), table)


def _charted(con: Con, row: Row, builds: Builds) -> ChartedAnomaly:
    flagged = result(row)
    return ChartedAnomaly(
        status=flagged.status,
        monitor=flagged.monitor,
        key=flagged.key,
        detected=when(row["started_at"]),
        value=fmt(flagged.metric, flagged.value),
        expected=expected_range(flagged),
        mean=fmt(flagged.metric, flagged.mean),
        sensitivity=f"{flagged.sensitivity:g}",
        stddev=fmt(flagged.metric, flagged.stddev),
        training_size=str(flagged.training_size),
        direction=str(flagged.direction),
        detail=flagged.detail,
        chart=_metric_history(con, flagged, builds),
    )


def _metric_values(con: Con, flagged: Result, builds: Builds) -> dict[str, Any]:
    """The flagged metric's value in each build shown that measured it, by invocation."""
    ids, marks = in_builds(builds)
    if flagged.monitor == "column":
        sql = f"""
            select invocation_id, {COLUMN_METRICS[flagged.metric]} as v from {SCHEMA}.column_metrics
            where relation = ? and column_name = ? and invocation_id in ({marks})"""
        params = [flagged.relation, flagged.column_name, *ids]
    else:
        column = "rows_added" if flagged.metric == "rows_added" else "freshness_lag_seconds"
        sql = f"""
            select invocation_id, {column} as v from {SCHEMA}.table_metrics
            where relation = ? and invocation_id in ({marks})"""
        params = [flagged.relation, *ids]
    return {r["invocation_id"]: r["v"] for r in query_rows(con, sql, params)}


def _metric_history(con: Con, flagged: Result, builds: Builds) -> Markup:
    """The metric over the builds shown, with the range each build was judged against."""
    ids, marks = in_builds(builds)
    values = _metric_values(con, flagged, builds)
    verdicts: dict[str, Row] = {
        r["invocation_id"]: r
        for r in query_rows(
            con,
            f"""
        select invocation_id, status, expected_low, expected_high from {SCHEMA}.anomaly_results
        where relation = ? and column_name = ? and metric = ? and invocation_id in ({marks})""",
            [flagged.relation, flagged.column_name, flagged.metric, *ids],
        )
    }
    shown = [b["invocation_id"] for b in builds if b["invocation_id"] in values]
    labels = [short(b["started_at"]) for b in builds if b["invocation_id"] in values]
    series = [None if values[inv] is None else float(values[inv]) for inv in shown]
    lows = [verdicts.get(inv, {}).get("expected_low") for inv in shown]
    highs = [verdicts.get(inv, {}).get("expected_high") for inv in shown]
    flags = [(verdicts.get(inv, {}).get("status") or "").replace("pass", "") or None for inv in shown]
    value_format: Formatter = partial(fmt, flagged.metric)
    if flagged.metric == "freshness_lag_seconds":  # drawn in hours: round ticks
        series, lows, highs = (
            [None if v is None else float(v) / 3600 for v in seq] for seq in (series, lows, highs)
        )
        value_format = _hours
    return band_chart(
        labels,
        series,
        lows,
        highs,
        flags,
        title=f"{flagged.key}: history and expected range",
        value_format=value_format,
    )


def _hours(value: float) -> str:
    return f"{value:g} h"


# -- freshness and schema changes -------------------------------------------------------------------


def freshness(con: Con) -> Table | None:
    """The latest `dbt source freshness`, one row per source table; None before the first."""
    found = query_rows(
        con,
        f"""
        select f.*, i.started_at from {SCHEMA}.source_freshness as f
        inner join {SCHEMA}.invocations as i on i.invocation_id = f.invocation_id
        where f.invocation_id = (select invocation_id from {SCHEMA}.invocations
                                 where command = 'source freshness' order by started_at desc limit 1)
        order by f.source_name, f.table_name
    """,
    )
    if not found:
        return None
    return Table(
        ["source", "status", "last load (UTC)", "age", "warn after", "error after"],
        [
            [
                f"{r['source_name']}.{r['table_name']}",
                r["status"],
                when(r["max_loaded_at"]),
                _age(r["age_seconds"]),
                _age(r["warn_after_seconds"]),
                _age(r["error_after_seconds"]),
            ]
            for r in found
        ],
        [False, False, False, True, True, True],
        f"dbt source freshness at {when(found[0]['started_at'])} UTC",
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def schema_changes(con: Con) -> Table | None:
    """Columns added, removed or retyped, newest first; None when there were none."""
    changes = query_rows(
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
    if not changes:
        return None
    return Table(
        ["detected (UTC)", "table", "change", "status"],
        [[when(r["started_at"]), r["relation"], r["detail"], r["status"]] for r in changes],
    )


# -- coverage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    described: int
    models: int
    documented: str  # percent of columns
    tested: str
    tests: int
    table: Table


def coverage(nodes: Sequence[Row], columns: Mapping[str, list[str]]) -> Coverage:
    """Described models, documented and tested columns, per source and model of the manifest.

    `columns`: each relation's columns as built in the warehouse (the
    manifest's when it was not snapshotted)."""
    rows = []
    totals: Counter[str] = Counter()
    for node in nodes:
        if node["resource_type"] not in ("model", "source"):
            continue
        actual = columns.get(node["relation"]) or json.loads(node["columns"] or "[]")
        row, counts = _coverage_row(node, actual)
        rows.append(row)
        totals.update(counts)
    order = {layer: i for i, layer in enumerate(LAYERS)}
    rows.sort(key=lambda r: (order.get(r[0], 9), r[1]))
    n = totals["columns"] or 1
    return Coverage(
        described=totals["described"],
        models=len(rows),
        documented=f"{100 * totals['documented'] / n:.0f}",
        tested=f"{100 * totals['tested'] / n:.0f}",
        tests=totals["tests"],
        table=Table(
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
            [False, False, False, True, True, True, True, True, True],
            "Columns as built in the warehouse; tests as declared in the manifest",
        ),
    )


def _coverage_row(node: Row, actual: list[str]) -> tuple[list[str], dict[str, int]]:
    documented = set(json.loads(node["documented_columns"] or "[]"))
    tested = set(json.loads(node["tested_columns"] or "[]"))
    n = len(actual)
    doc = len(documented & set(actual)) if actual else len(documented)
    tst = len(tested & set(actual)) if actual else len(tested)
    row = [
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
    counts = {
        "columns": n,
        "documented": doc,
        "tested": tst,
        "tests": node["test_count"],
        "described": int(bool(node["description"])),
    }
    return row, counts
