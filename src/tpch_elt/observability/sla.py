"""Service levels: a freshness objective per mart, a run-duration deadline per pipeline.

Freshness (dbt `meta: {sla: {freshness: 5h}}` on a mart, recorded with each
build into `observability.slos`): every batch that landed in raw more than
`freshness` ago is in the mart readers see. A batch *lands* when `ingest`
appends it to raw (its `loaded_at` in `raw._batches`); the mart *reflects* it from the first
publication that rebuilt the mart with a batch watermark at or above it
(`observability.publications`). Only published data counts: a batch built
but held back by a failing test is not reflected.

    met        no batch older than `at_risk` x the objective is missing
    at risk    the oldest missing batch is older than `at_risk` x the objective (default 0.75)
    breached   the oldest missing batch is older than the objective

Attainment over time: the share of batches, by the day they landed, that
the mart reflected within the objective.

Deadlines (`airflow/pipelines.yml`, an Airflow `DeadlineAlert` per
pipeline): when a DAG run misses its deadline Airflow calls
`alert_missed_deadline`. The run may hold the warehouse's writer lock for
as long as it is late, so the alert does not touch the warehouse: it is
sent at once (the same grouped message as `observe`, to stdout and the
webhook) and its decision appended to `observability/deadline_alerts.jsonl`
beside the warehouse, which suppresses a second alert for the same
pipeline within the suppression interval and which `observe` copies into
`observability.alerts`.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt import durations
from tpch_elt.durations import format_duration
from tpch_elt.errors import PipelineError
from tpch_elt.load.full_load import BATCHES_TABLE
from tpch_elt.observability.alerts import (
    AlertOutcome,
    AlertSettings,
    Incident,
    compose,
    deliver,
    post_webhook,
)
from tpch_elt.observability.store import SCHEMA, utc_now
from tpch_elt.publish.publication import PUBLICATIONS
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import table_exists

DEFAULT_AT_RISK = 0.75
JOURNAL = Path("observability") / "deadline_alerts.jsonl"
_SLA_KEYS = {"freshness", "at_risk"}


def parse_duration(text: Any, where: str) -> timedelta:
    """A duration like 5h or 2h30m; a one-line PipelineError naming `where` otherwise."""
    duration = durations.parse_duration(text)
    if duration is None:
        raise PipelineError(f"{where}: {str(text)[:40]!r} is not a duration like 30m, 5h, 1d or 2h30m")
    return duration


# --- freshness objectives -------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    name: str  # the mart
    unique_id: str
    freshness: timedelta
    at_risk: float = DEFAULT_AT_RISK


def objective(name: str, unique_id: str, config: Mapping[str, Any]) -> Objective:
    """A mart's `meta.sla`, checked: one line naming the model and the key otherwise."""
    where = f"model {name}: meta.sla"
    if not isinstance(config, Mapping):
        raise PipelineError(f"{where} must be a mapping like {{freshness: 5h}}, not {str(config)[:40]!r}")
    unknown = sorted(set(config) - _SLA_KEYS)
    if unknown:
        raise PipelineError(
            f"{where} has unknown key {unknown[0][:40]!r}: use {', '.join(sorted(_SLA_KEYS))}"
        )
    if "freshness" not in config:
        raise PipelineError(f"{where} has no freshness: set e.g. freshness: 5h")
    at_risk = config.get("at_risk", DEFAULT_AT_RISK)
    if not isinstance(at_risk, int | float) or isinstance(at_risk, bool) or not 0 < at_risk < 1:
        raise PipelineError(
            f"{where}.at_risk {str(at_risk)[:40]!r} must be a fraction between 0 and 1, e.g. 0.75"
        )
    return Objective(
        name, unique_id, parse_duration(config["freshness"], f"{where}.freshness"), float(at_risk)
    )


def slo_rows(invocation_id: str, nodes: Mapping[str, Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """`observability.slos` rows for the manifest's models that declare `meta.sla` (checked when judged)."""
    rows = []
    for unique_id, node in nodes.items():
        if node.get("resource_type") != "model":
            continue
        meta = {**((node.get("config") or {}).get("meta") or {}), **(node.get("meta") or {})}
        if meta.get("sla") is not None:
            rows.append((invocation_id, unique_id, node.get("name"), json.dumps(meta["sla"], default=str)))
    return rows


def latest_objectives(con: duckdb.DuckDBPyConnection) -> list[Objective]:
    """The objectives the latest recorded build declared."""
    if not table_exists(con, SCHEMA, "slos"):
        return []
    rows = con.execute(
        f"""
        select s.name, s.unique_id, s.config from {SCHEMA}.slos as s
        where s.invocation_id = (
            select i.invocation_id from {SCHEMA}.invocations as i
            where i.invocation_id in (select invocation_id from {SCHEMA}.slos)
            order by i.started_at desc limit 1)
        order by s.name
        """
    ).fetchall()
    return [objective(name, uid, json.loads(config)) for name, uid, config in rows]


@dataclass(frozen=True)
class State:
    """Where one service level stands now."""

    name: str
    kind: str  # freshness | deadline
    objective: str
    state: str  # met | at risk | breached | unknown
    evidence: str

    @property
    def incident(self) -> Incident | None:
        if self.state != "breached":
            return None
        return Incident(f"sla:{self.kind}:{self.name}", "sla", "fail", "sla", f"{self.name}: {self.evidence}")


def landed_batches(con: duckdb.DuckDBPyConnection) -> list[tuple[int, datetime]]:
    """Every arrival batch of the current load (batch 0, the initial load, excluded) and when it landed."""
    if not table_exists(con, "raw", "_batches"):
        return []
    return [
        (int(batch), landed)
        for batch, landed in con.execute(
            f"""
            select batch_id, loaded_at from {BATCHES_TABLE}
            where batch_id > 0 and loaded_at >= (
                select coalesce(max(loaded_at), '1970-01-01') from {BATCHES_TABLE} where batch_id = 0)
            order by batch_id
            """
        ).fetchall()
    ]


def _publications_of(
    con: duckdb.DuckDBPyConnection, mart: str
) -> list[tuple[datetime, int | None, int | None]]:
    """(published_at, batch watermark, number) of each publication that rebuilt `mart`, oldest first."""
    if not table_exists(con, "observability", "publications"):
        return []
    return [
        (at, None if batch is None else int(batch), number)
        for at, batch, number in con.execute(
            f"select published_at, batch_id, number from {PUBLICATIONS} "
            "where list_contains(rebuilt, ?) order by published_at",
            [mart],
        ).fetchall()
    ]


def reflected_at(
    landed: datetime, batch: int, publications: Sequence[tuple[datetime, int | None, int | None]]
) -> datetime | None:
    """When the mart first showed `batch`: the first publication after it landed that covered it."""
    for published_at, watermark, _ in publications:
        if published_at >= landed and watermark is not None and watermark >= batch:
            return published_at
    return None


Landed = Sequence[tuple[int, datetime]]


def freshness_state(
    con: duckdb.DuckDBPyConnection, goal: Objective, now: datetime, landed: Landed | None = None
) -> State:
    """`landed`: `landed_batches(con)`, read once by a caller judging several objectives."""
    label = f"every batch in {goal.name} within {format_duration(goal.freshness)}"
    publications = _publications_of(con, goal.name)
    missing = [
        (batch, landed_at)
        for batch, landed_at in (landed_batches(con) if landed is None else landed)
        if landed_at <= now and reflected_at(landed_at, batch, publications) is None
    ]
    last = publications[-1] if publications else None
    shown = (
        f"last published in publication {last[2]} at {last[0]:%Y-%m-%d %H:%M} UTC up to batch {last[1]}"
        if last
        else "never published"
    )
    if not missing:
        return State(goal.name, "freshness", label, "met", f"every landed batch is published ({shown})")
    batch, oldest = missing[0]
    age = now - oldest
    evidence = (
        f"batch {batch} landed {format_duration(age)} ago ({oldest:%Y-%m-%d %H:%M} UTC) and is not in it; "
        f"{len(missing)} batch(es) missing; {shown}"
    )
    if age > goal.freshness:
        state = "breached"
    elif age > goal.freshness * goal.at_risk:
        state = "at risk"
    else:
        state = "met"
    return State(goal.name, "freshness", label, state, evidence)


@dataclass(frozen=True)
class Attainment:
    name: str
    objective: timedelta
    batches: int
    within: int
    # (day, batches landed that day, of which reflected within the objective)
    by_day: list[tuple[str, int, int]]
    worst: timedelta | None

    @property
    def percent(self) -> float | None:
        return None if not self.batches else 100.0 * self.within / self.batches


def attainment(
    con: duckdb.DuckDBPyConnection, goal: Objective, now: datetime, landed: Landed | None = None
) -> Attainment:
    """Each landed batch: reflected within the objective or not (a batch still missing counts by its age)."""
    publications = _publications_of(con, goal.name)
    days: dict[str, list[int]] = {}
    within, worst, total = 0, None, 0
    for batch, landed_at in landed_batches(con) if landed is None else landed:
        if landed_at > now:
            continue
        latency = (reflected_at(landed_at, batch, publications) or now) - landed_at
        ok = latency <= goal.freshness
        day = days.setdefault(f"{landed_at:%Y-%m-%d}", [0, 0])
        day[0] += 1
        day[1] += ok
        within += ok
        total += 1
        worst = latency if worst is None or latency > worst else worst
    by_day = [(day, counts[0], counts[1]) for day, counts in sorted(days.items())]
    return Attainment(goal.name, goal.freshness, total, within, by_day, worst)


# --- deadlines ------------------------------------------------------------------------------


def journal_path(warehouse: Path) -> Path:
    """The deadline decisions of the warehouse at `warehouse`, beside it."""
    return warehouse.parent / JOURNAL


@contextmanager
def _locked_journal(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def journal_entries(path: Path) -> list[dict[str, Any]]:
    """The deadline decisions so far; a torn last line (a crash mid-append) is skipped."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def deadline_miss(
    settings: Settings,
    *,
    pipeline: str,
    run_id: str,
    deadline: str,
    sla: str,
    alert_settings: AlertSettings,
    now: datetime,
    out: Callable[[str], None] = print,
    post: Callable[[str, str], None] = post_webhook,
) -> AlertOutcome:
    """Alert that `pipeline`'s run `run_id` missed its deadline, unless alerted within the suppression interval."""
    incident = Incident(
        f"sla:deadline:{pipeline}",
        "sla",
        "fail",
        run_id,
        f"{pipeline}: run {run_id} still not finished at its deadline {deadline} (SLA {sla} after its scheduled time)",
    )
    with _locked_journal(journal_path(settings.warehouse_path)) as path:
        since = now - timedelta(hours=alert_settings.suppress_hours)
        recent = any(
            e.get("incident_key") == incident.key
            and e.get("status") == "sent"
            and datetime.fromisoformat(str(e.get("sent_at"))) >= since
            for e in journal_entries(path)
        )
        message = (
            None
            if recent
            else compose([incident], 0, f"tpch-elt · Airflow {pipeline}", alert_settings.suppress_hours)
        )
        delivered, error = deliver(message, alert_settings, out, post)
        status = "suppressed" if recent else "sent" if delivered is not False else "failed"
        entry = {
            "sent_at": now.isoformat(),
            "incident_key": incident.key,
            "pipeline": pipeline,
            "run_id": run_id,
            "summary": incident.summary,
            "status": status,
            "channels": None if recent else "stdout+webhook" if alert_settings.webhook_url else "stdout",
            "error": error,
        }
        with open(path, "a", encoding="utf-8") as journal:
            journal.write(json.dumps(entry) + "\n")
    if recent:
        return AlertOutcome(None, [], [incident], None)
    return AlertOutcome(message, [incident], [], delivered, error)


def alert_missed_deadline(pipeline: str, run_id: str, deadline: str, sla: str) -> None:
    """Airflow's deadline callback: the pipeline's settings from the environment, the alert from `deadline_miss`."""
    from tpch_elt.orchestration.hooks import dag_settings

    deadline_miss(
        dag_settings(),
        pipeline=pipeline,
        run_id=run_id,
        deadline=deadline,
        sla=sla,
        alert_settings=AlertSettings.from_env(),
        now=utc_now(),
    )


def import_journal(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Copy the deadline decisions not yet in `observability.alerts` there; rows added."""
    entries = journal_entries(journal_path(settings.warehouse_path))
    if not entries:
        return 0
    seen = {
        (at, key)
        for at, key in con.execute(
            f"select sent_at, incident_key from {SCHEMA}.alerts where kind = 'sla' and incident_key like 'sla:deadline:%'"
        ).fetchall()
    }
    rows = []
    for e in entries:
        at = datetime.fromisoformat(str(e.get("sent_at")))
        if (at, e.get("incident_key")) in seen:
            continue
        rows.append(
            (
                at,
                e.get("incident_key"),
                e.get("run_id"),
                "sla",
                "fail",
                e.get("summary"),
                e.get("status"),
                e.get("channels"),
                e.get("error"),
            )
        )
    if rows:
        con.executemany(f"insert into {SCHEMA}.alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def deadline_state(
    con: duckdb.DuckDBPyConnection, journal: Path | None, pipeline: str, sla: timedelta, now: datetime
) -> State:
    """A pipeline's run-duration SLA: its recorded Airflow runs and the deadline misses Airflow reported."""
    label = f"each run of {pipeline} within {format_duration(sla)}"
    runs = con.execute(
        f"""
        select invocation_id, started_at, elapsed_seconds from {SCHEMA}.invocations
        where invocation_id like ? order by started_at desc limit 1
        """,
        [f"airflow {pipeline} %"],
    ).fetchall()
    misses = [
        e
        for e in (journal_entries(journal) if journal is not None else [])
        if e.get("incident_key") == f"sla:deadline:{pipeline}"
        and str(e.get("sent_at", "")) <= now.isoformat()
    ]
    last_miss = misses[-1] if misses else None
    if not runs and last_miss is None:
        return State(pipeline, "deadline", label, "unknown", "no run recorded yet")
    if last_miss is not None and (not runs or str(last_miss["sent_at"]) >= runs[0][1].isoformat()):
        return State(
            pipeline,
            "deadline",
            label,
            "breached",
            f"run {str(last_miss.get('run_id'))[:80]} missed its deadline (reported {str(last_miss['sent_at'])[:16]} UTC)",
        )
    _, started, elapsed = runs[0]
    took = timedelta(seconds=float(elapsed or 0))
    evidence = f"last run started {started:%Y-%m-%d %H:%M} UTC took {format_duration(took)}"
    state = "breached" if took > sla else "at risk" if took > sla * DEFAULT_AT_RISK else "met"
    return State(pipeline, "deadline", label, state, evidence)


def current_states(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    now: datetime,
    deadlines: Sequence[tuple[str, timedelta]] = (),
) -> list[State]:
    """Every freshness objective of the latest build, then every pipeline deadline given."""
    landed = landed_batches(con)
    states = [freshness_state(con, goal, now, landed) for goal in latest_objectives(con)]
    if table_exists(con, SCHEMA, "invocations"):
        journal = journal_path(settings.warehouse_path)
        states += [deadline_state(con, journal, name, sla, now) for name, sla in deadlines]
    return states
