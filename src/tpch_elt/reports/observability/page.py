"""The observability page: reads what the page's sections share (the builds
shown, the latest verdicts, the latest manifest and what failed in the
latest build), builds each section and renders the page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from tpch_elt.observability.detect import Result
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.charts import lineage_svg
from tpch_elt.reports.html import render as render_template
from tpch_elt.reports.observability import checks, cost, runs, service
from tpch_elt.reports.observability.common import Con, Row, builds_shown, result
from tpch_elt.reports.page import Page, query_rows
from tpch_elt.warehouse.connection import table_exists


def render(con: Con) -> str:
    if not table_exists(con, SCHEMA, "invocations"):
        return render_template("observability_empty.html", builds_recorded=False)
    builds = builds_shown(con)
    if not builds:
        return render_template("observability_empty.html", builds_recorded=True)
    latest_results = _latest_results(con)
    nodes, columns = _latest_manifest(con)
    problems = _problems(con, builds[-1]["invocation_id"], nodes, latest_results)
    return render_template(
        "observability.html",
        summary=runs.summary(con, builds, latest_results),
        history=runs.history(con, builds),
        failing=runs.failing_tests(con, builds),
        durations=runs.durations(con, builds),
        cost=cost.section(con),
        sla=service.sla_section(con),
        drift=service.drift_section(con),
        anomalies=checks.anomalies(con, builds, latest_results),
        freshness=checks.freshness(con),
        schema_changes=checks.schema_changes(con),
        coverage=checks.coverage(nodes, columns) if nodes else None,
        lineage=lineage_svg(nodes, problems, title="Lineage: sources to exposures") if nodes else None,
    )


def _latest_results(con: Con) -> list[Result]:
    """Every check of the latest build that was evaluated."""
    evaluated = query_rows(
        con,
        f"""
        select e.invocation_id from {SCHEMA}.evaluations as e
        inner join {SCHEMA}.invocations as i on i.invocation_id = e.invocation_id
        where i.command in ('build', 'run') order by i.started_at desc limit 1
    """,
    )
    if not evaluated:
        return []
    return [
        result(r)
        for r in query_rows(
            con,
            f"select * from {SCHEMA}.anomaly_results where invocation_id = ?",
            [evaluated[0]["invocation_id"]],
        )
    ]


def _latest_manifest(con: Con) -> tuple[list[Row], dict[str, list[str]]]:
    """The nodes of the latest manifest recorded, and each relation's columns as then built."""
    latest = query_rows(
        con,
        f"""
        select invocation_id from {SCHEMA}.manifest_nodes as m
        inner join {SCHEMA}.invocations as i using (invocation_id)
        order by i.started_at desc limit 1
    """,
    )
    if not latest:
        return [], {}
    invocation = latest[0]["invocation_id"]
    nodes = query_rows(
        con, f"select * from {SCHEMA}.manifest_nodes where invocation_id = ? order by unique_id", [invocation]
    )
    columns: dict[str, list[str]] = defaultdict(list)
    for r in query_rows(
        con,
        f"""
            select relation, column_name from {SCHEMA}.schema_snapshots where invocation_id = ?
            order by relation, ordinal_position""",
        [invocation],
    ):
        columns[r["relation"]].append(r["column_name"])
    return nodes, columns


def _problems(
    con: Con, latest_id: str, nodes: Sequence[Row], latest_results: Sequence[Result]
) -> dict[str, str]:
    """The nodes with a failing test, an erroring run or a failing check in the latest build:
    'fail', or 'warn' when they only warned."""
    problems: dict[str, str] = {}
    for r in query_rows(
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
    for checked in latest_results:
        uid = by_relation.get(checked.relation)
        if uid and checked.status != "pass":
            problems[uid] = "fail" if problems.get(uid) == "fail" or checked.status == "fail" else "warn"
    return problems


PAGE = Page(
    slug="observability",
    title="Data observability",
    summary="dbt runs and tests over time, failing rows, anomalies, schema changes, coverage and lineage",
    render=render,
)
