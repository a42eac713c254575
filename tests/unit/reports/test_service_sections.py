"""The observability page's service-level and drift sections (reports.observability.service)."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
from testkit.drift import EVERY, START, add_batch, create_raw

from tpch_elt.observability.drift import evaluate_pending
from tpch_elt.observability.drift_config import DriftSettings
from tpch_elt.observability.store import ensure_schema
from tpch_elt.publish.publication import ensure_publications_table
from tpch_elt.reports.observability import service

HOSTILE = "<script>alert(1)</script>"


def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    create_raw(con)
    ensure_publications_table(con)
    return con


def test_the_drift_section_names_what_drifted_escaped() -> None:
    con = warehouse()
    for batch in range(1, 6):
        add_batch(con, batch)
    add_batch(con, 6)
    con.execute(f"update raw.lineitem set l_shipmode = '{HOSTILE}' where _batch_id = 6 and l_linenumber = 1")
    evaluate_pending(con, START + 7 * EVERY, DriftSettings())
    html = str(service.drift_section(con))
    assert "Drift of arrival batches" in html
    assert "new_values · raw.lineitem.l_shipmode" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and HOSTILE not in html
    assert "<svg" in html  # the learned detector's scores against their limit


def test_no_drift_section_before_a_batch_was_judged() -> None:
    assert service.drift_section(warehouse()) is None


def test_the_measured_accuracy_ships_with_the_package() -> None:
    measured = service.accuracy()  # written by `make bench BENCH=detection`
    assert measured is not None and measured["targets_met"]
    table = service.accuracy_table(measured)
    assert table.headers[:2] == ["fault", "batches"]
    assert [row[0] for row in table.rows][-2:] == ["false alarms per 100 clean batches", "precision"]


def test_the_sla_section_shows_each_objective_and_its_attainment() -> None:
    con = warehouse()
    add_batch(con, 1)
    add_batch(con, 2)
    con.execute(
        "insert into observability.invocations (invocation_id, command, started_at, status, recorded_at) "
        "values ('b', 'build', ?, 'success', ?)",
        [START, START],
    )
    con.execute(
        "insert into observability.slos values ('b', 'model.p.mart_orders', ?, ?)",
        [HOSTILE, json.dumps({"freshness": "5h"})],
    )
    con.execute(
        "insert into observability.publications values (?, 1, 'b', 1, 'p', [?], [], 0)",
        [START + EVERY + timedelta(minutes=30), HOSTILE],
    )
    html = str(service.sla_section(con))
    assert "Service levels" in html and "freshness" in html
    assert "&lt;script&gt;" in html and HOSTILE not in html
    # batch 1 was published 30 minutes after it landed; batch 2 has waited since (long past 5 h)
    assert "50.0 % (1/2)" in html
    assert "breached" in html
