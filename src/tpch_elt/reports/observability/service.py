"""The observability page's service-level and drift sections.

Service levels: each freshness objective's state now, with its evidence,
and its attainment by the day batches landed (tpch_elt.observability.sla);
each pipeline deadline of airflow/pipelines.yml. Drift: the latest arrival
batches' verdicts, the checks that failed, and the accuracy the detectors
measured in `make bench BENCH=detection` (observability/accuracy.json).
Both sections render their own template and are absent without data.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tpch_elt.durations import format_duration
from tpch_elt.observability import sla
from tpch_elt.observability.store import SCHEMA, utc_now
from tpch_elt.reports.charts import Series, line_chart
from tpch_elt.reports.html import Table
from tpch_elt.reports.html import render as render_template
from tpch_elt.reports.observability.common import Con, label_step, when
from tpch_elt.reports.page import query_rows
from tpch_elt.warehouse.connection import table_exists

DRIFT_BATCHES = 30
ATTAINMENT_DAYS = 30


def _pipeline_deadlines() -> list[tuple[str, timedelta]]:
    """The pipelines' SLAs, when airflow/pipelines.yml can be read; none otherwise (the page still renders)."""
    try:
        from tpch_elt.orchestration.pipelines import deadlines

        return deadlines()
    except Exception:  # a report never fails on the Airflow config; `tpch-elt sla` names the problem
        return []


def sla_section(con: Con) -> Markup | None:
    """States and attainment of every SLA, or None when none is declared."""
    now = utc_now()
    objectives = sla.latest_objectives(con)
    landed = sla.landed_batches(con)
    states = [sla.freshness_state(con, goal, now, landed) for goal in objectives]
    states += [
        sla.deadline_state(con, _journal(con), name, limit, now) for name, limit in _pipeline_deadlines()
    ]
    if not states:
        return None
    attained = {goal.name: sla.attainment(con, goal, now, landed) for goal in objectives}
    table = Table(
        ["SLA", "kind", "objective", "state", "evidence", "attained", "worst"],
        [
            [
                s.name,
                s.kind,
                s.objective,
                s.state,
                s.evidence,
                _percent(attained.get(s.name)),
                format_duration(a.worst) if (a := attained.get(s.name)) and a.worst else "–",
            ]
            for s in states
        ],
        [False, False, False, False, False, True, True],
        f"as of {when(now)} UTC; attained: batches reflected within the objective",
    )
    days = sorted({day for a in attained.values() for day, _, _ in a.by_day})[-ATTAINMENT_DAYS:]
    series = [
        Series(
            name,
            [next((100.0 * w / n for d, n, w in a.by_day if d == day), None) for day in days],
        )
        for name, a in sorted(attained.items())
        if a.batches
    ][:6]
    chart = (
        line_chart(
            days,
            series,
            title="SLO attainment by the day batches landed (% of batches within the objective)",
            include_zero=True,
            label_every=label_step(len(days)),
        )
        if days and series
        else None
    )
    return render_template("observability_sla.html", table=table, chart=chart, states=states)


def _percent(result: sla.Attainment | None) -> str:
    if result is None or result.percent is None:
        return "–"
    return f"{result.percent:.1f} % ({result.within}/{result.batches})"


def _journal(con: Con) -> Path | None:
    """The deadline journal beside the warehouse the page reads (None for an in-memory one)."""
    rows = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    return sla.journal_path(Path(str(rows[0][0]))) if rows and rows[0][0] else None


def accuracy() -> dict[str, Any] | None:
    """The accuracy `make bench BENCH=detection` measured last, as shipped with the package."""
    try:
        text = resources.files("tpch_elt.observability").joinpath("accuracy.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    data: dict[str, Any] = json.loads(text)
    return data


def accuracy_table(data: dict[str, Any]) -> Table:
    table = data["accuracy"]
    detectors = [d for d in ("statistical", "learned", "either") if d in table]
    faults = [f for f in table["either"] if not f.startswith("clean")]
    rows = [
        [fault, str(table["either"][fault]["injected"])]
        + [f"{table[d][fault]['recall']:.2f}" for d in detectors]
        for fault in faults
    ]
    rows.append(
        ["false alarms per 100 clean batches", str(table["either"]["clean"]["batches"])]
        + [f"{table[d]['clean']['per_100']:.1f}" for d in detectors]
    )
    rows.append(["precision", ""] + [f"{table[d]['clean']['precision']:.2f}" for d in detectors])
    return Table(
        ["fault", "batches", *(f"{d} recall" for d in detectors)],
        rows,
        [False, True, *(True for _ in detectors)],
        f"make bench BENCH=detection, {data.get('when', '?')}: SF {data.get('scale_factor')}, "
        f"{data.get('batches')} batches, seed {data.get('seed')}; targets: recall ≥ 0.9, ≤ 1 false alarm per 100",
    )


def drift_section(con: Con) -> Markup | None:
    """The latest batches' drift verdicts, or None before the first batch was judged."""
    if not table_exists(con, SCHEMA, "batch_profiles"):
        return None
    batches = query_rows(
        con,
        f"select * from {SCHEMA}.batch_profiles order by landed_at desc, batch_id desc limit {DRIFT_BATCHES}",
    )
    if not batches:
        return None
    batches.reverse()
    findings = query_rows(
        con,
        f"""
        select batch_id, landed_at, relation, column_name, detector, metric, value, threshold, status, detail
        from {SCHEMA}.drift_results
        where landed_at >= ? and status = 'fail'
        order by landed_at, relation, column_name, metric
        """,
        [batches[0]["landed_at"]],
    )
    failed = Table(
        ["batch", "landed (UTC)", "detector", "check", "what"],
        [
            [
                str(f["batch_id"]),
                when(f["landed_at"]),
                f["detector"],
                f"{f['metric']} · {f['relation']}{'.' + f['column_name'] if f['column_name'] else ''}",
                f["detail"] or "",
            ]
            for f in findings
        ],
        [True, False, False, False, False],
        f"failed checks of the last {len(batches)} batches",
    )
    scores = {
        (r["batch_id"], r["landed_at"]): r
        for r in query_rows(
            con,
            f"select batch_id, landed_at, value, threshold from {SCHEMA}.drift_results "
            "where detector = 'learned' and landed_at >= ?",
            [batches[0]["landed_at"]],
        )
    }
    labels = [str(b["batch_id"]) for b in batches]
    learned = [scores.get((b["batch_id"], b["landed_at"]), {}) for b in batches]
    chart = line_chart(
        labels,
        [
            Series("isolation score", [r.get("value") for r in learned]),
            Series("limit (most isolated passing batch)", [r.get("threshold") for r in learned]),
        ],
        title="Learned detector: each batch's isolation score against its limit",
        label_every=label_step(len(labels)),
    )
    verdicts = Table(
        ["batch", "landed (UTC)", "verdict"],
        [[str(b["batch_id"]), when(b["landed_at"]), b["status"]] for b in batches[-10:]],
        [True, False, False],
        "the last 10 batches",
    )
    measured = accuracy()
    return render_template(
        "observability_drift.html",
        failed=failed if findings else None,
        verdicts=verdicts,
        chart=chart,
        accuracy=accuracy_table(measured) if measured else None,
    )
