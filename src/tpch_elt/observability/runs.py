"""One orchestrated run, one build: an Airflow DAG run recorded part by part and closed once.

The Airflow DAG runs dbt one command per task (a model's run, its tests).
Each command's results are added to the DAG run's own invocation id as
they come (record_run_part), and the run is closed once, at the end
(close_run): the sources and the models it built are measured then, like
after one `tpch-elt build`, and the run becomes one `build` invocation in
the history, the report and `observe`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tpch_elt.observability.artifacts import Manifest, artifacts_in
from tpch_elt.observability.metrics import record_measurements
from tpch_elt.observability.record import RecordOutcome, record_artifact, record_run_results
from tpch_elt.observability.store import SCHEMA, ensure_schema, is_recorded, utc_now
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect, transaction


def record_run_part(settings: Settings, directory: Path, run_id: str) -> int:
    """Add one dbt command's results (its target directory) to run `run_id`; results added.

    A retried command replaces its earlier attempt's rows; once the run is
    closed nothing more is added. A `dbt source freshness` is recorded as
    its own invocation, as `tpch-elt build` records it.
    """
    artifacts, manifest_data = artifacts_in(directory)
    manifest = Manifest(manifest_data)
    added = 0
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        for artifact in artifacts:
            metadata = artifact.get("metadata") or {}
            if "sources" in str(metadata.get("dbt_schema_version", "")):
                record_artifact(con, artifact, manifest_data, target=settings.target)
                continue
            if is_recorded(con, run_id):
                continue
            results = list(artifact.get("results") or [])
            with transaction(con):
                ids = [str(r.get("unique_id")) for r in results]
                if ids:
                    marks = ", ".join("?" for _ in ids)
                    for table in ("model_runs", "test_results"):
                        con.execute(
                            f"delete from {SCHEMA}.{table} where invocation_id = ? and unique_id in ({marks})",
                            [run_id, *ids],
                        )
                # The DAG's own dbt task wrote these artifacts moments ago.
                record_run_results(con, run_id, results, manifest, sample_failures=True)
            added += len(results)
    return added


def close_run(
    settings: Settings,
    run_id: str,
    manifest_data: Mapping[str, Any],
    *,
    started_at: datetime,
    selectors: Mapping[str, Any] | None = None,
) -> RecordOutcome:
    """Record run `run_id` as one `build` invocation and measure what it changed; idempotent.

    `started_at` is when the run began (naive UTC, as dbt's times are
    stored): the measurements compare with the builds before it.
    """
    clock_start = time.perf_counter()
    if started_at.tzinfo is not None:
        started_at = started_at.astimezone(UTC).replace(tzinfo=None)
    manifest = Manifest(manifest_data)
    outcome = RecordOutcome(run_id, "build", recorded=True)
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        if is_recorded(con, run_id):
            return RecordOutcome(run_id, "build", recorded=False)
        with transaction(con):
            counts = dict(
                con.execute(
                    f"""
                    select status, count(*) from (
                        select status from {SCHEMA}.model_runs where invocation_id = ?
                        union all select status from {SCHEMA}.test_results where invocation_id = ?
                    ) group by status
                    """,
                    [run_id, run_id],
                ).fetchall()
            )
            ran = {
                row[0]
                for row in con.execute(
                    f"select unique_id from {SCHEMA}.model_runs where invocation_id = ? and status = 'success'",
                    [run_id],
                ).fetchall()
            }
            outcome.tables_measured = record_measurements(con, manifest, ran, started_at, run_id)
            errors = counts.get("error", 0) + counts.get("runtime error", 0)
            fails, warns = counts.get("fail", 0), counts.get("warn", 0)
            status = "error" if errors else "fail" if fails else "warn" if warns else "success"
            ended_at = utc_now()
            outcome.seconds = time.perf_counter() - clock_start
            con.execute(
                f"insert into {SCHEMA}.invocations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    "build",
                    settings.target,
                    json.dumps(dict(selectors or {}), default=str),
                    started_at,
                    ended_at,
                    (ended_at - started_at).total_seconds(),
                    status,
                    sum(counts.values()),
                    errors,
                    fails,
                    warns,
                    (manifest.data.get("metadata") or {}).get("dbt_version"),
                    ended_at,
                    outcome.seconds,
                ],
            )
    return outcome
