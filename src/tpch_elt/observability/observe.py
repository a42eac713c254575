"""Observe: judge the recorded history and alert (`tpch-elt observe`).

The history itself is recorded after every dbt invocation of `tpch-elt
build` (`tpch_elt.observability.record`); `observe` optionally records the artifacts of
a dbt run made elsewhere (`--artifacts DIR`), then evaluates every
invocation it has not seen yet, oldest first (`tpch_elt.observability.detect`),
judges every arrival batch not judged yet for drift (`tpch_elt.observability.drift`)
and where each freshness objective stands (`tpch_elt.observability.sla`), and
sends one grouped alert for their failures, anomalies, drift and breached SLAs
(`tpch_elt.observability.alerts`). It is idempotent: a second `observe` with nothing new
evaluates nothing and alerts nothing, and reports the latest build's
verdicts again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.observability.alerts import AlertOutcome, AlertSettings, Incident, notify
from tpch_elt.observability.detect import Result, detect_pending, pending_invocations, stored_results
from tpch_elt.observability.drift import BatchProfile, evaluate_pending
from tpch_elt.observability.record import RecordOutcome, record_artifacts_dir
from tpch_elt.observability.sla import State, current_states, import_journal
from tpch_elt.observability.store import SCHEMA, ensure_schema, utc_now
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect
from tpch_elt.warehouse.lock import warehouse_lock


@dataclass
class ObserveResult:
    recorded: list[RecordOutcome] = field(default_factory=list)
    # Invocations evaluated by this call, oldest first, with their results.
    evaluated: dict[str, list[Result]] = field(default_factory=dict)
    # The verdicts this call stands on: those of the invocations it
    # evaluated, or, with nothing new, those of the latest evaluated build.
    results: list[Result] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    alert: AlertOutcome | None = None
    # Where each freshness objective stands (tpch_elt.observability.sla).
    slos: list[State] = field(default_factory=list)
    # The arrival batches this call judged for drift, oldest first (tpch_elt.observability.drift).
    batches: list[BatchProfile] = field(default_factory=list)

    @property
    def failing(self) -> list[Result]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[Result]:
        return [r for r in self.results if r.status == "warn"]


def _in(ids: Sequence[str]) -> str:
    return ", ".join("?" for _ in ids) or "null"


def dbt_incidents(con: duckdb.DuckDBPyConnection, invocation_ids: Sequence[str]) -> list[Incident]:
    """Failing or warning tests, erroring models and late sources of these invocations."""
    if not invocation_ids:
        return []
    ids = list(invocation_ids)
    order = {inv: i for i, inv in enumerate(ids)}
    incidents: list[tuple[int, Incident]] = []
    for inv, uid, name, status, failures, attached, column, message in con.execute(
        f"""
        select invocation_id, unique_id, name, status, failures, attached_node, column_name, message
        from {SCHEMA}.test_results
        where invocation_id in ({_in(ids)}) and status in ('fail', 'warn', 'error', 'runtime error')
        """,
        ids,
    ).fetchall():
        target = (attached or "").rsplit(".", 1)[-1]
        where = f" on {target}{'.' + column if column else ''}" if target else ""
        what = (
            f"{failures:,} failing row(s)"
            if status in ("fail", "warn") and failures is not None
            else (message or status).strip().splitlines()[0][:200]
        )
        incidents.append(
            (
                order[inv],
                Incident(
                    f"test:{uid}",
                    "test",
                    "warn" if status == "warn" else "fail",
                    inv,
                    f"{name}{where}: {what}",
                ),
            )
        )
    for inv, uid, name, message in con.execute(
        f"""
        select invocation_id, unique_id, name, message from {SCHEMA}.model_runs
        where invocation_id in ({_in(ids)}) and status in ('error', 'runtime error')
        """,
        ids,
    ).fetchall():
        first = (message or "error").strip().splitlines()[0][:200]
        incidents.append((order[inv], Incident(f"model:{uid}", "model", "fail", inv, f"{name}: {first}")))
    for inv, uid, source, table, status, age, warn_after, error_after, message in con.execute(
        f"""
        select invocation_id, unique_id, source_name, table_name, status, age_seconds,
               warn_after_seconds, error_after_seconds, message
        from {SCHEMA}.source_freshness
        where invocation_id in ({_in(ids)}) and status in ('warn', 'error', 'runtime error')
        """,
        ids,
    ).fetchall():
        if status == "runtime error":
            what = (message or "freshness query failed").strip().splitlines()[0][:200]
        else:
            limit = warn_after if status == "warn" else error_after
            what = f"last load {age / 3600:.1f} h ago" + (
                f" ({status} after {limit / 3600:g} h)" if limit else ""
            )
        incidents.append(
            (
                order[inv],
                Incident(
                    f"freshness:{uid}",
                    "freshness",
                    "warn" if status == "warn" else "fail",
                    inv,
                    f"{source}.{table}: {what}",
                ),
            )
        )
    return [incident for _, incident in sorted(incidents, key=lambda pair: pair[0])]


def anomaly_incidents(results: Sequence[Result]) -> list[Incident]:
    return [
        Incident(f"anomaly:{r.key}", "anomaly", r.status, r.invocation_id, r.describe())
        for r in results
        if r.status in ("fail", "warn")
    ]


def drift_incidents(profiles: Sequence[BatchProfile]) -> list[Incident]:
    """A warning per failed drift check: drift is for a person to look at, not a failed run."""
    return [
        Incident(finding.key, "drift", "warn", f"batch {profile.batch_id}", finding.describe())
        for profile in profiles
        for finding in profile.findings
        if finding.status == "fail"
    ]


def latest_build_results(con: duckdb.DuckDBPyConnection) -> list[Result]:
    rows = con.execute(
        f"""
        select e.invocation_id
        from {SCHEMA}.evaluations as e
        inner join {SCHEMA}.invocations as i on i.invocation_id = e.invocation_id
        where e.invocation_id in (select invocation_id from {SCHEMA}.table_metrics)
        order by i.started_at desc
        limit 1
        """
    ).fetchall()
    return stored_results(con, rows[0][0]) if rows else []


def observe(
    settings: Settings,
    *,
    artifacts_dir: Path | None = None,
    alert_settings: AlertSettings | None = None,
    out: Callable[[str], None] = print,
) -> ObserveResult:
    """Record optional artifacts, evaluate what is new, alert once; see the module doc."""
    if not settings.embedded:
        raise PipelineError(
            f"observe reads the embedded DuckDB warehouse; target {settings.target!r} is not "
            "supported: run `tpch-elt --target prod observe`"
        )
    if not settings.warehouse_path.is_file():
        raise PipelineError(
            f"warehouse {settings.warehouse_path} does not exist: run `tpch-elt run` (or `load` and `build`) first"
        )
    alert_settings = alert_settings or AlertSettings.from_env()
    result = ObserveResult()
    with warehouse_lock(settings.warehouse_path, "observe"):
        if artifacts_dir is not None:
            result.recorded = record_artifacts_dir(settings, artifacts_dir)
        with connect(settings.warehouse_path) as con:
            ensure_schema(con)
            if not con.execute(f"select count(*) from {SCHEMA}.invocations").fetchall()[0][0]:
                raise PipelineError(
                    f"no dbt invocation recorded in {settings.warehouse_path}: run `tpch-elt build` "
                    "first (it records its history), or pass --artifacts with dbt's target directory"
                )
            pending = [inv for inv, _ in pending_invocations(con)]
            incidents = dbt_incidents(con, pending)
            result.evaluated = detect_pending(con)
            judged = [r for results in result.evaluated.values() for r in results]
            if not any(
                con.execute(
                    f"select count(*) from {SCHEMA}.table_metrics where invocation_id = ?", [inv]
                ).fetchall()[0][0]
                for inv in result.evaluated
            ):
                judged = latest_build_results(con)
            result.results = judged
            # Deadline misses Airflow reported while a run held the warehouse.
            import_journal(con, settings)
            result.slos = current_states(con, settings, utc_now())
            result.batches = evaluate_pending(con, utc_now())
            result.incidents = (
                incidents
                + anomaly_incidents([r for results in result.evaluated.values() for r in results])
                + [state.incident for state in result.slos if state.incident is not None]
                + drift_incidents(result.batches)
            )
            if result.incidents:
                result.alert = notify(
                    con,
                    result.incidents,
                    alert_settings,
                    headline=f"tpch-elt observe · {settings.warehouse_path.name}",
                    now=utc_now(),
                    out=out,
                )
    return result
