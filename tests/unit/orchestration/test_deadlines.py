"""The deadline callback (tpch_elt.orchestration.deadlines): the arguments Airflow 3.3 passes it, the
alert it calls, and a failing alert that never hides the miss. No Airflow, no subprocess."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from tpch_elt.orchestration import deadlines

# What Airflow's Deadline.handle_miss adds as `context`: the run as the REST API shows it, and the deadline.
CONTEXT: dict[str, Any] = {
    "dag_run": {
        "dag_id": "daily_sweep",
        "dag_run_id": "scheduled__2026-12-06T02:00:00+00:00",
        "state": "running",
    },
    "deadline": {"id": "0b0c", "deadline_time": datetime(2026, 12, 6, 5, 0, tzinfo=UTC)},
}


def run(coroutine: Coroutine[Any, Any, str]) -> str:
    """The callback to completion on an event loop of its own: in a thread, because a test
    before this one on the same worker (Playwright's sync API) may leave a loop running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    import tpch_elt.observability.sla as sla

    sent: list[dict[str, str]] = []

    def alert(**kwargs: str) -> None:
        sent.append(kwargs)

    monkeypatch.setattr(sla, "alert_missed_deadline", alert)
    return sent


def test_the_callback_is_awaitable_and_takes_the_kwargs_the_dag_gives_plus_context() -> None:
    # AsyncCallback: run by the triggerer, which passes `context` when the callable accepts it
    assert inspect.iscoroutinefunction(deadlines.missed_deadline)
    parameters = set(inspect.signature(deadlines.missed_deadline).parameters)
    assert parameters == set(deadlines.deadline_kwargs("p", "2h")) | {"context"}


def test_a_missed_deadline_sends_one_alert_naming_the_pipeline_run_deadline_and_sla(
    alerts: list[dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = run(deadlines.missed_deadline(pipeline="daily_sweep", sla="3h", context=CONTEXT))
    assert alerts == [
        {
            "pipeline": "daily_sweep",
            "run_id": "scheduled__2026-12-06T02:00:00+00:00",
            "deadline": "2026-12-06T05:00:00+00:00",
            "sla": "3h",
        }
    ]
    assert result.endswith("; alerted")
    assert "deadline missed: pipeline daily_sweep run scheduled__2026-12-06T02:00:00+00:00" in caplog.text


def test_without_context_the_alert_still_goes_out(alerts: list[dict[str, str]]) -> None:
    run(deadlines.missed_deadline(pipeline="p", sla="30m"))
    assert alerts == [{"pipeline": "p", "run_id": "unknown", "deadline": "unknown", "sla": "30m"}]


def test_a_failing_alert_is_logged_with_the_miss_and_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tpch_elt.observability.sla as sla

    def broken(**_: str) -> None:
        raise OSError("disk full\nsecond line")

    monkeypatch.setattr(sla, "alert_missed_deadline", broken)
    with caplog.at_level(logging.WARNING):
        result = run(deadlines.missed_deadline(pipeline="daily_sweep", sla="3h", context=CONTEXT))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "deadline missed: pipeline daily_sweep run scheduled__2026-12-06T02:00:00+00:00 not finished by "
        "2026-12-06T05:00:00+00:00 (SLA 3h); the alert was not sent: disk full"
    ]
    assert "alert not sent: disk full" in result


def test_untrusted_text_in_the_context_is_logged_printable(alerts: list[dict[str, str]], caplog) -> None:
    context = {"dag_run": {"dag_run_id": "manual__\x1b[2Jx"}, "deadline": {"deadline_time": "t\nforged line"}}
    with caplog.at_level(logging.WARNING):
        run(deadlines.missed_deadline(pipeline="p", sla="1h", context=context))
    assert "\x1b" not in caplog.text and "forged line" in caplog.text
    assert "\\x1b[2Jx" in caplog.text and "t\\x0aforged line" in caplog.text
    # the alert gets the values as they are: it makes them printable where it prints
    assert alerts[0]["run_id"] == "manual__\x1b[2Jx"


def test_deadlines_are_left_out_only_by_the_dags_test_command() -> None:
    # apache/airflow#73428: `airflow dags test` exits 1 after a successful run of a DAG with a deadline
    assert deadlines.deadlines_apply(["/venv/bin/airflow", "dags", "test", "dbt_pipeline"]) is False
    for argv in (
        ["/venv/bin/airflow", "scheduler"],
        ["/venv/bin/airflow", "dag-processor"],
        ["/venv/bin/airflow", "dags", "list"],
        ["/venv/bin/python", "-m", "pytest"],
        [],
    ):
        assert deadlines.deadlines_apply(argv) is True, argv
