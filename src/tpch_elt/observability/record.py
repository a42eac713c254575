"""Recording dbt invocations: run results, test results with failing samples, source freshness.

After each dbt invocation of `tpch-elt build` (record_dbt_invocation), and
on `tpch-elt observe --artifacts DIR` for runs made elsewhere
(record_artifacts_dir), one call records the invocation into the
`observability` schema (`tpch_elt.observability.store`), append-only and
idempotent per dbt `invocation_id`. A build or run also measures the tables
it changed (`tpch_elt.observability.metrics`). The Airflow DAG records each
of its runs as one build (`tpch_elt.observability.runs`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.observability.artifacts import Manifest, artifact_from_result, artifacts_in, read_json
from tpch_elt.observability.metrics import record_measurements
from tpch_elt.observability.store import SCHEMA, enabled, ensure_schema, insert_rows, is_recorded, utc_now
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect

# Failing rows kept per failing test, and the cap on their JSON text.
SAMPLE_ROWS = 20
SAMPLE_MAX_CHARS = 16_000
COMPILED_SQL_MAX_CHARS = 20_000
# Recorded instead of a sample for a failure read from foreign artifacts.
NOT_SAMPLED = "not sampled: recorded from an artifacts directory, whose SQL is never run"


@dataclass
class RecordOutcome:
    invocation_id: str
    command: str
    recorded: bool  # False: this invocation was already recorded
    seconds: float = 0.0
    tables_measured: int = 0
    failing_samples: int = 0


def record_artifact(
    con: duckdb.DuckDBPyConnection,
    artifact: Mapping[str, Any],
    manifest_data: Mapping[str, Any] | None,
    *,
    target: str | None = None,
    tests_from_batch: str | None = None,
    clock_start: float | None = None,
    sample_failures: bool = True,
) -> RecordOutcome:
    """Record one dbt invocation (a run_results or sources artifact); idempotent.

    `sample_failures`: run a failing test's compiled SQL to keep a sample of
    its failing rows. Only for invocations this pipeline ran itself: the SQL
    of an artifact handed in from elsewhere (`observe --artifacts`) is
    stored as text and never executed (it could write or read anything).

    Everything for the invocation is written in one transaction, the
    `invocations` row last: a crash leaves no partial invocation, and a
    second call for the same invocation_id changes nothing. `clock_start`
    (a perf_counter value) is when the caller began recording, so that the
    stored record_seconds covers reading the artifacts too.
    """
    started = time.perf_counter() if clock_start is None else clock_start
    metadata = artifact.get("metadata") or {}
    invocation_id = str(metadata.get("invocation_id") or "")
    if not invocation_id:
        raise PipelineError("dbt artifact has no metadata.invocation_id: it is not a dbt run result")
    is_freshness = "sources" in str(metadata.get("dbt_schema_version", ""))
    args = artifact.get("args") or {}
    command = "source freshness" if is_freshness else str(args.get("which") or "unknown")
    ensure_schema(con)
    if is_recorded(con, invocation_id):
        return RecordOutcome(invocation_id, command, recorded=False)
    manifest = Manifest(manifest_data)
    results = list(artifact.get("results") or [])
    started_at = _ts(metadata.get("invocation_started_at")) or _ts(metadata.get("generated_at"))
    ended_at = _ts(metadata.get("generated_at"))
    outcome = RecordOutcome(invocation_id, command, recorded=True)

    con.execute("begin transaction")
    try:
        if is_freshness:
            _record_freshness(con, invocation_id, results, manifest)
        else:
            outcome.failing_samples = record_run_results(
                con, invocation_id, results, manifest, sample_failures=sample_failures
            )
            if command in ("build", "run") and manifest.data and started_at is not None:
                ran = {r["unique_id"] for r in results if _status(r.get("status")) == "success"}
                outcome.tables_measured = record_measurements(con, manifest, ran, started_at, invocation_id)
        statuses = [_status(r.get("status")) for r in results]
        errors = sum(s in ("error", "runtime error") for s in statuses)
        fails = sum(s == "fail" for s in statuses)
        warns = sum(s == "warn" for s in statuses)
        status = "error" if errors else "fail" if fails else "warn" if warns else "success"
        selectors = {
            key: args.get(key)
            for key in ("select", "exclude", "selector", "full_refresh", "vars", "threads")
            if key in args
        }
        selectors["tests_from_batch"] = tests_from_batch or None
        if args.get("invocation_command"):
            selectors["invocation_command"] = args["invocation_command"]
        outcome.seconds = time.perf_counter() - started
        con.execute(
            f"insert into {SCHEMA}.invocations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                invocation_id,
                command,
                target or args.get("target"),
                json.dumps(selectors, default=str),
                started_at,
                ended_at,
                artifact.get("elapsed_time"),
                status,
                len(results),
                errors,
                fails,
                warns,
                metadata.get("dbt_version"),
                utc_now(),
                outcome.seconds,
            ],
        )
        con.execute("commit")
    except duckdb.ConstraintException:
        # A concurrent recorder of the same invocation won: nothing to add.
        con.execute("rollback")
        return RecordOutcome(invocation_id, command, recorded=False)
    except BaseException:
        con.execute("rollback")
        raise
    return outcome


def record_run_results(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    results: Sequence[Mapping[str, Any]],
    manifest: Manifest,
    *,
    sample_failures: bool,
) -> int:
    """Insert the model_runs and test_results rows of `results`; failing samples kept."""
    model_rows, test_rows = [], []
    samples = 0
    for result in results:
        uid = str(result.get("unique_id"))
        kind = uid.split(".", 1)[0]
        node = manifest.node(uid)
        status = _status(result.get("status"))
        begin, end = _timing(result)
        seconds = result.get("execution_time")
        if kind in ("model", "seed", "snapshot"):
            response = result.get("adapter_response") or {}
            rows = response.get("rows_affected")
            name = node.get("alias") or node.get("name") or uid.rsplit(".", 1)[-1]
            model_rows.append(
                (
                    invocation_id,
                    uid,
                    node.get("name") or name,
                    kind,
                    f"{node['schema']}.{name}" if node.get("schema") else None,
                    (node.get("config") or {}).get("materialized"),
                    status,
                    begin,
                    end,
                    seconds,
                    int(rows) if isinstance(rows, (int, float)) and rows >= 0 else None,
                    result.get("message"),
                )
            )
        elif kind in ("test", "unit_test"):
            compiled = result.get("compiled_code")
            failures = result.get("failures")
            sample, sample_error = None, None
            if kind == "test" and status in ("fail", "warn") and compiled:
                if sample_failures:
                    sample, sample_error = failing_sample(con, compiled)
                    samples += sample is not None
                else:
                    sample_error = NOT_SAMPLED
            metadata = node.get("test_metadata") or {}
            test_type = "unit" if kind == "unit_test" else metadata.get("name") or "singular"
            depends = (node.get("depends_on") or {}).get("nodes") or []
            attached = node.get("attached_node") or (node.get("model") and next(iter(depends), None))
            if not attached and depends:
                attached = depends[-1]
            test_rows.append(
                (
                    invocation_id,
                    uid,
                    node.get("name") or uid.rsplit(".", 1)[-1],
                    kind,
                    test_type,
                    attached,
                    node.get("column_name"),
                    (node.get("config") or {}).get("severity"),
                    status,
                    int(failures) if isinstance(failures, (int, float)) else None,
                    result.get("message"),
                    seconds,
                    compiled[:COMPILED_SQL_MAX_CHARS] if compiled else None,
                    sample,
                    sample_error,
                )
            )
    insert_rows(con, "model_runs", model_rows)
    insert_rows(con, "test_results", test_rows)
    return samples


def failing_sample(con: duckdb.DuckDBPyConnection, compiled_sql: str) -> tuple[str | None, str | None]:
    """Up to SAMPLE_ROWS rows the test's compiled SQL returns, as a JSON array."""
    body = compiled_sql.strip().rstrip(";")
    try:
        rows = con.execute(
            f"select to_json(failing) from (select * from (\n{body}\n) limit {SAMPLE_ROWS}) as failing"
        ).fetchall()
    except duckdb.Error as exc:
        return None, first_line(exc)[:500]
    items: list[Any] = []
    size = 2
    for (text,) in rows:
        size += len(text) + 1
        if size > SAMPLE_MAX_CHARS:
            break
        items.append(json.loads(text))
    return json.dumps(items), None


def _record_freshness(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    results: Sequence[Mapping[str, Any]],
    manifest: Manifest,
) -> None:
    rows = []
    for result in results:
        uid = str(result.get("unique_id"))
        source = manifest.node(uid)
        criteria = result.get("criteria") or {}
        status = _status(result.get("status"))
        name = source.get("identifier") or source.get("name") or uid.rsplit(".", 1)[-1]
        rows.append(
            (
                invocation_id,
                uid,
                source.get("source_name") or uid.split(".")[-2],
                source.get("name") or uid.rsplit(".", 1)[-1],
                f"{source['schema']}.{name}" if source.get("schema") else None,
                status,
                _ts(result.get("max_loaded_at")),
                _ts(result.get("snapshotted_at")),
                result.get("max_loaded_at_time_ago_in_s"),
                _period_seconds(criteria.get("warn_after")),
                _period_seconds(criteria.get("error_after")),
                result.get("message") or result.get("error"),
            )
        )
    insert_rows(con, "source_freshness", rows)


# -- small helpers ---------------------------------------------------------------


def _ts(value: Any) -> datetime | None:
    """ISO text or datetime -> naive UTC datetime (the warehouse's convention)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _status(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _timing(result: Mapping[str, Any], name: str = "execute") -> tuple[datetime | None, datetime | None]:
    for entry in result.get("timing") or []:
        if entry.get("name") == name:
            return _ts(entry.get("started_at")), _ts(entry.get("completed_at"))
    return None, None


def _period_seconds(threshold: Mapping[str, Any] | None) -> float | None:
    if not threshold or not threshold.get("count") or not threshold.get("period"):
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}.get(str(threshold["period"]))
    return float(threshold["count"]) * unit if unit else None


# -- the build hook -------------------------------------------------------------------


def record_dbt_invocation(settings: Settings, dbt_result: Any) -> RecordOutcome | None:
    """Record a finished in-process dbt invocation; never raises.

    Called by `tpch_elt.transform.build` right after each dbt invocation. The build's
    own result is never touched: if recording fails, one warning line says
    why on stderr and the build carries on.
    """
    if not enabled() or not settings.embedded or getattr(dbt_result, "result", None) is None:
        return None
    clock_start = time.perf_counter()
    try:
        artifact = artifact_from_result(dbt_result)
        is_freshness = "sources" in str((artifact.get("metadata") or {}).get("dbt_schema_version", ""))
        manifest_path = settings.dbt_target_dir / "manifest.json"
        manifest = read_json(manifest_path) if manifest_path.is_file() else None
        if manifest is None and not is_freshness:
            raise PipelineError(f"{manifest_path} is missing")
        with connect(settings.warehouse_path) as con:
            return record_artifact(
                con,
                artifact,
                manifest,
                target=settings.target,
                tests_from_batch=os.environ.get("TPCH_ELT_TESTS_FROM_BATCH") or None,
                clock_start=clock_start,
            )
    except Exception as exc:
        print(
            f"warning: observability history not recorded for this dbt invocation "
            f"({first_line(exc)}); the build result is unaffected",
            file=sys.stderr,
        )
        return None


def record_artifacts_dir(settings: Settings, directory: Path) -> list[RecordOutcome]:
    """Record the dbt invocations whose artifacts are in `directory` (idempotent).

    The artifacts come from outside this process (`observe --artifacts`):
    their failures are recorded, their SQL is never run.
    """
    artifacts, manifest = artifacts_in(directory)
    with connect(settings.warehouse_path) as con:
        return [
            record_artifact(con, a, manifest, target=settings.target, sample_failures=False)
            for a in artifacts
        ]
