"""The pipelines' deadline: Airflow's `DeadlineAlert` calls `missed_deadline` when a run is late.

Each pipeline with an `sla` (airflow/pipelines.yml) gets a `DeadlineAlert`
on `DeadlineReference.DAGRUN_QUEUED_AT`: the run must have finished `sla`
after it was queued, which for a scheduled run is its scheduled time and
which every run has (a run triggered by hand or by an asset event has no
logical date, and Airflow creates no deadline from a missing reference).
Airflow 3.3's scheduler creates the deadline when it creates the run,
deletes it when the run succeeds in time, and otherwise, once the time has
passed, queues the callback, which the triggerer runs (an `AsyncCallback`)
with the kwargs given here plus `context`: {"dag_run": the run as the REST
API shows it, "deadline": {"id", "deadline_time"}}.

The alert itself is `tpch_elt.observability.sla.alert_missed_deadline`
(the same grouped alert as `tpch-elt observe`, once per incident). It is
blocking (it writes a journal, may post a webhook), so it runs in a thread,
off the triggerer's event loop. A failing alert never hides the miss: the
miss and the reason the alert failed are logged as one error line in the
triggerer's log, and the callback returns normally.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tpch_elt.errors import first_line

log = logging.getLogger(__name__)


def _printable(value: object, limit: int = 200) -> str:
    from tpch_elt.orchestration.pipelines import shown

    return shown(value, limit)


# `airflow dags test` fails after a successful run of any DAG with a deadline
# (Airflow 3.3.2, apache/airflow#73428: `DAG.test()` hands
# `DagRun.update_state` the encoded alerts instead of their ids, and exits 1).
# That command runs one DAG run in one process, with nothing to alert: the
# DAG file leaves the deadlines out there and says so.
DAGS_TEST_NOTE = (
    "airflow dags test: the pipelines' deadlines are left out "
    "(Airflow 3.3.2 fails that command on a DAG with a deadline, apache/airflow#73428)"
)


def deadlines_apply(argv: Sequence[str]) -> bool:
    """False in the `airflow dags test` command (see DAGS_TEST_NOTE), True in every Airflow component."""
    return list(argv[1:3]) != ["dags", "test"]


def deadline_kwargs(pipeline: str, sla: str) -> dict[str, str]:
    """What the DAG file gives the callback (Airflow adds `context`): JSON, as Airflow stores it."""
    return {"pipeline": pipeline, "sla": sla}


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value is not None else "unknown"


def missed_details(pipeline: str, context: Mapping[str, Any] | None) -> tuple[str, str]:
    """(run id, deadline time) from the context Airflow passes; 'unknown' for what it lacks."""
    context = context or {}
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    run_id = run.get("dag_run_id") or run.get("run_id") if isinstance(run, Mapping) else None
    when = deadline.get("deadline_time") if isinstance(deadline, Mapping) else None
    return str(run_id or "unknown"), _when(when)


def notify(pipeline: str, sla: str, context: Mapping[str, Any] | None) -> str:
    """Send the alert; never raises. Returns what happened, for the callback's record in Airflow."""
    run_id, when = missed_details(pipeline, context)
    line = (
        f"deadline missed: pipeline {_printable(pipeline)} run {_printable(run_id)} "
        f"not finished by {_printable(when)} (SLA {_printable(sla)})"
    )
    log.warning("%s", line)
    try:
        from tpch_elt.observability.sla import alert_missed_deadline

        alert_missed_deadline(pipeline=pipeline, run_id=run_id, deadline=when, sla=sla)
    except Exception as exc:  # the miss must stay visible whatever the alert did
        log.error("%s; the alert was not sent: %s", line, _printable(first_line(exc)))
        return f"{line}; alert not sent: {_printable(first_line(exc))}"
    return f"{line}; alerted"


async def missed_deadline(pipeline: str, sla: str, context: Mapping[str, Any] | None = None) -> str:
    """The `AsyncCallback` of every pipeline's `DeadlineAlert` (runs in the triggerer)."""
    return await asyncio.to_thread(notify, pipeline, sla, context)
