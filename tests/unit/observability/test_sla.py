"""Service levels (observability/sla.py): freshness objectives per mart, deadlines per pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from testkit.drift import create_raw

from tpch_elt.errors import PipelineError
from tpch_elt.observability import sla
from tpch_elt.observability.alerts import AlertSettings, post_webhook
from tpch_elt.observability.store import ensure_schema
from tpch_elt.publish.publication import ensure_publications_table
from tpch_elt.settings import Settings

T0 = datetime(2026, 3, 2, 4, 0)  # noqa: DTZ001  (naive UTC, as the warehouse stores it)
GOAL = sla.Objective("mart_orders", "model.tpch_elt.mart_orders", timedelta(hours=5))


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    ensure_schema(connection)
    create_raw(connection)  # batch 0 loaded at T0 - 8 h
    ensure_publications_table(connection)
    for batch, landed in ((1, T0), (2, T0 + timedelta(hours=4))):
        connection.execute(
            "insert into raw._batches (batch_id, kind, loaded_at) values (?, 'batch', ?)", [batch, landed]
        )
    publish(connection, T0 + timedelta(hours=1), 1, ["mart_orders", "mart_customer_summary"])
    yield connection
    connection.close()


def publish(con: duckdb.DuckDBPyConnection, at: datetime, batch: int, rebuilt: list[str]) -> None:
    number = con.execute("select coalesce(max(number), 0) + 1 from observability.publications").fetchone()
    con.execute(
        "insert into observability.publications values (?, ?, 'inv', ?, 'p', ?, [], 0)",
        [at, number[0] if number else 1, batch, rebuilt],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5h", timedelta(hours=5)),
        ("30m", timedelta(minutes=30)),
        ("1d", timedelta(days=1)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert sla.parse_duration(text, "here") == expected


@pytest.mark.parametrize("text", ["", "5", "five hours", "5 hours", "0h", "h", "-1h"])
def test_a_bad_duration_is_one_line_naming_where(text: str) -> None:
    with pytest.raises(PipelineError, match=r"^model x: meta\.sla\.freshness: .* is not a") as caught:
        sla.objective("x", "model.p.x", {"freshness": text})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"freshnes": "5h"}, "unknown key 'freshnes'"),
        ({}, "has no freshness"),
        ({"freshness": "5h", "at_risk": 2}, "at_risk '2' must be a fraction"),
        ("5h", "must be a mapping"),
    ],
)
def test_a_bad_objective_is_one_line_naming_the_model(config: object, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        sla.objective("mart_orders", "model.p.mart_orders", config)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("after_landing", "state"),
    [(timedelta(minutes=30), "met"), (timedelta(hours=4), "at risk"), (timedelta(hours=6), "breached")],
)
def test_freshness_is_the_age_of_the_oldest_landed_batch_readers_cannot_see(
    con: duckdb.DuckDBPyConnection, after_landing: timedelta, state: str
) -> None:
    found = sla.freshness_state(con, GOAL, T0 + timedelta(hours=4) + after_landing)
    assert found.state == state
    assert "batch 2 landed" in found.evidence and "publication 1" in found.evidence
    assert (found.incident is not None) == (state == "breached")
    if found.incident:
        assert found.incident.key == "sla:freshness:mart_orders"


def test_only_a_publication_that_rebuilt_the_mart_reflects_a_batch(con: duckdb.DuckDBPyConnection) -> None:
    publish(con, T0 + timedelta(hours=5), 2, ["mart_customer_summary"])  # mart_orders carried over
    assert sla.freshness_state(con, GOAL, T0 + timedelta(hours=10)).state == "breached"
    publish(con, T0 + timedelta(hours=11), 2, ["mart_orders"])
    met = sla.freshness_state(con, GOAL, T0 + timedelta(hours=12))
    assert met.state == "met" and "every landed batch is published" in met.evidence


def test_a_publication_from_before_a_batch_landed_does_not_count(con: duckdb.DuckDBPyConnection) -> None:
    # a reload gave batch numbers again: the old publication of "batch 2" is not this batch 2
    publish(con, T0 + timedelta(hours=2), 5, ["mart_orders"])
    assert sla.freshness_state(con, GOAL, T0 + timedelta(hours=10)).state == "breached"


def test_attainment_counts_each_batch_by_its_latency(con: duckdb.DuckDBPyConnection) -> None:
    result = sla.attainment(con, GOAL, T0 + timedelta(hours=10))
    assert (result.batches, result.within) == (2, 1)  # batch 1 in 1 h, batch 2 still missing after 6 h
    assert result.percent == 50.0
    assert result.by_day == [("2026-03-02", 2, 1)]
    assert result.worst == timedelta(hours=6)


def test_objectives_come_from_the_latest_build(con: duckdb.DuckDBPyConnection) -> None:
    for inv, started, freshness in (("old", T0, "2h"), ("new", T0 + timedelta(hours=1), "5h")):
        con.execute(
            "insert into observability.invocations (invocation_id, command, started_at, status, recorded_at) "
            "values (?, 'build', ?, 'success', ?)",
            [inv, started, started],
        )
        con.execute(
            "insert into observability.slos values (?, 'model.p.mart_orders', 'mart_orders', ?)",
            [inv, json.dumps({"freshness": freshness})],
        )
    assert sla.latest_objectives(con) == [
        GOAL.__class__("mart_orders", "model.p.mart_orders", timedelta(hours=5))
    ]


def test_slo_rows_come_from_model_meta() -> None:
    nodes = {
        "model.p.a": {
            "resource_type": "model",
            "name": "a",
            "config": {"meta": {"sla": {"freshness": "5h"}}},
        },
        "model.p.b": {"resource_type": "model", "name": "b", "config": {"meta": {}}},
        "test.p.t": {"resource_type": "test", "name": "t", "config": {"meta": {"sla": {"freshness": "1h"}}}},
    }
    assert sla.slo_rows("inv", nodes) == [("inv", "model.p.a", "a", '{"freshness": "5h"}')]


# --- deadlines ------------------------------------------------------------------------------


def miss(
    settings: Settings,
    now: datetime,
    alerting: AlertSettings | None = None,
    post: Callable[[str, str], None] = post_webhook,
) -> sla.AlertOutcome:
    lines: list[str] = []
    outcome = sla.deadline_miss(
        settings,
        pipeline="dbt_pipeline",
        run_id="scheduled__2026-03-02T04:00:00+00:00",
        deadline="2026-03-02 06:00 UTC",
        sla="2h",
        alert_settings=alerting or AlertSettings(),
        now=now,
        out=lines.append,
        post=post,
    )
    assert bool(lines) == bool(outcome.sent)
    return outcome


def test_a_missed_deadline_alerts_once_per_suppression_interval(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = miss(settings, T0)
    again = miss(settings, T0 + timedelta(hours=1))
    later = miss(settings, T0 + timedelta(hours=5))
    assert [len(o.sent) for o in (first, again, later)] == [1, 0, 1]
    assert (
        first.message
        and "dbt_pipeline: run scheduled__2026-03-02T04:00:00+00:00 still not finished" in first.message
    )
    entries = sla.journal_entries(sla.journal_path(settings.warehouse_path))
    assert [e["status"] for e in entries] == ["sent", "suppressed", "sent"]


def test_an_undeliverable_deadline_alert_is_recorded_as_failed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    def refuse(url: str, text: str) -> None:
        raise PipelineError("webhook https://hooks.example/… unreachable (refused)")

    outcome = miss(settings, T0, AlertSettings("https://hooks.example/T/B/secret"), refuse)
    assert outcome.delivered is False
    [entry] = sla.journal_entries(sla.journal_path(settings.warehouse_path))
    assert entry["status"] == "failed" and "secret" not in json.dumps(entry)
    # a failed delivery suppresses nothing: the next miss alerts again
    assert miss(settings, T0 + timedelta(minutes=5)).sent


def test_observe_copies_the_deadline_journal_once(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    miss(settings, T0)
    miss(settings, T0 + timedelta(hours=1))
    sla.journal_path(settings.warehouse_path).open("a").write('{"torn": ')  # a crash mid-append
    assert sla.import_journal(con, settings) == 2
    assert sla.import_journal(con, settings) == 0
    rows = con.execute("select status, kind from observability.alerts order by sent_at").fetchall()
    assert rows == [("sent", "sla"), ("suppressed", "sla")]


def test_a_deadline_state_reads_the_runs_and_the_misses(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    now = T0 + timedelta(hours=3)
    assert (
        sla.deadline_state(
            con, sla.journal_path(settings.warehouse_path), "dbt_pipeline", timedelta(hours=1), now
        ).state
        == "unknown"
    )
    con.execute(
        "insert into observability.invocations (invocation_id, command, started_at, elapsed_seconds, status, "
        "recorded_at) values ('airflow dbt_pipeline manual__1', 'build', ?, 3000, 'success', ?)",
        [T0, T0],
    )
    state = sla.deadline_state(
        con, sla.journal_path(settings.warehouse_path), "dbt_pipeline", timedelta(hours=1), now
    )
    assert (state.state, state.evidence) == ("at risk", "last run started 2026-03-02 04:00 UTC took 50 min")
    miss(settings, T0 + timedelta(hours=2))
    breached = sla.deadline_state(
        con, sla.journal_path(settings.warehouse_path), "dbt_pipeline", timedelta(hours=1), now
    )
    assert breached.state == "breached" and "missed its deadline" in breached.evidence
