"""The bodies of the DAG's Python tasks: each one what a `tpch-elt` command does, keyed by the DAG run.

The DAG file wraps each in an Airflow task; they take plain values (the
run, the build plan the `plan_build` task returned), so they run and are
tested without Airflow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tpch_elt.orchestration import DAG_ID, INCREMENT_TASK_ID, SWEEP_TASK_ID
from tpch_elt.orchestration.hooks import dag_settings, run_invocation_id
from tpch_elt.orchestration.manifest import manifest_nodes, read_manifest

log = logging.getLogger(__name__)

# The build plan as the `plan_build` task returns it (an XCom: text only).
RunPlan = dict[str, str]


def ingest_run_key(dag_run: Any) -> str | None:
    """The key `tpch_elt.load.ingest.ingest` remembers a run's batch by."""
    return run_invocation_id(dag_run) if getattr(dag_run, "run_id", None) else None


def ingest_next_batch(dag_run: Any) -> dict[str, Any]:
    """`tpch-elt ingest`: append the next arrival batch; a no-op when none is pending.

    Keyed by the DAG run: a retry of a run whose ingest already committed
    answers "already loaded" for that batch instead of taking the next one.
    """
    from tpch_elt.load.ingest import ingest as run_ingest

    result = run_ingest(dag_settings(), run_key=ingest_run_key(dag_run))
    log.info(
        "ingest: %s (batch %s, rows %s, quarantined %s)",
        result.status,
        result.batch_id,
        result.rows,
        result.quarantined,
    )
    return {"status": result.status, "batch_id": result.batch_id, "rows": result.rows}


def wants_full_tests(params: dict[str, Any] | None) -> bool:
    """`build --full-tests`: the run's `full_tests` param (always on in a pipeline with `full_tests: true`)."""
    return (params or {}).get("full_tests") is True


def plan_run(dag_run: Any, params: dict[str, Any] | None) -> RunPlan:
    """The CLI's build plan, as `tpch-elt build` (or `build --full-tests`) makes it for this run.

    `params` are the run's: `full_tests` defaults to the pipeline's
    `full_tests` (the daily sweep's is always on) and may be asked for when
    triggering any other run.
    """
    from tpch_elt.transform.build import INCREMENTAL_SELECT, INCREMENTAL_SKIPS
    from tpch_elt.transform.build import plan_build as make_plan

    full_tests = wants_full_tests(params)
    decided = make_plan(dag_settings(), full_refresh=False, full_tests=full_tests)
    if decided.full_refresh_reason:
        log.warning("full refresh: %s", decided.full_refresh_reason)
    incremental = decided.tests_from_batch is not None
    log.info(
        "row-level tests on incremental models cover %s; %s",
        f"batches >= {decided.tests_from_batch}" if incremental else "all history",
        f"skipped until the next full-tests run: {' '.join(INCREMENTAL_SKIPS)}"
        if incremental
        else "nothing skipped",
    )
    return {
        "tests_from_batch": str(decided.tests_from_batch) if incremental else "",
        "select": " ".join(INCREMENTAL_SELECT) if incremental else "",
        "exclude": " ".join(INCREMENTAL_SKIPS) if incremental else "",
        "full_refresh": "true" if decided.full_refresh_reason else "false",
    }


def reload_reference_tables(tables: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Reload these raw reference tables from the landing files of the last full load (rows per table)."""
    from tpch_elt.errors import PipelineError
    from tpch_elt.orchestration.reference import reload_reference

    settings = dag_settings()
    if not settings.embedded:
        raise PipelineError(
            f"the reference reload runs on the embedded warehouse only, not on target {settings.target}: "
            "reload Snowflake's RAW with `python -m tpch_elt.load.snowflake` instead"
        )
    result = reload_reference(settings, tuple(tables))
    for table, rows in result.row_counts.items():
        log.info("reloaded raw.%s: %d row(s)", table, rows)
    for reason, rows in result.quarantined.items():
        log.warning("quarantined %d row(s): %s", rows, reason)
    for warning in result.warnings:
        log.warning("%s", warning)
    return result.row_counts


def next_tasks(plan: RunPlan) -> list[str]:
    """The path the plan task's branch follows.

    An incremental run takes one `dbt build` task that runs what `tpch-elt
    build` runs (the orders/line-item lineage, its tests on the new batches,
    nothing the sweep keeps): each dbt process costs a start-up and a parse
    of several seconds, so the per-model path's ~35 dbt tasks cost about 15
    times the CLI's increment (bench/README.md). The daily sweep and a full
    refresh take the per-model path: one task per model, retried alone.
    """
    return [INCREMENT_TASK_ID if plan.get("select") else SWEEP_TASK_ID]


def publish_run(manifest: Path, plan: RunPlan, dag_run: Any) -> str:
    """Write–audit–publish: the marts this run rebuilt (reached only when every dbt task passed).

    On incremental runs the marts the plan excluded by tag (the daily ones)
    are carried over from the last snapshot, as `tpch-elt build` does.
    """
    from tpch_elt.publish.plan import excluded_tags, plan_publication
    from tpch_elt.publish.publication import publish as publish_marts

    decided = plan_publication(
        manifest_nodes(manifest).values(), skipped_tags=excluded_tags(str(plan.get("exclude", "")).split())
    )
    result = publish_marts(
        dag_settings(),
        rebuilt=sorted(decided.rebuilt),
        invocation_id=run_invocation_id(dag_run),
        full_refresh=plan.get("full_refresh") == "true",
        keys=decided.keys,
        manifest=manifest,
    )
    log.info(
        "published %s (batch %s): %d rebuilt, %d carried over",
        result.path,
        result.batch_id,
        len(result.rebuilt),
        len(result.carried_over),
    )
    return str(result.path)


def observe_run(manifest: Path, plan: RunPlan, dag_run: Any) -> dict[str, int]:
    """Close this run in the observability history, then `tpch-elt observe`.

    Anomalies alert and show in the report; they do not fail the run: the
    tests gate publication.
    """
    from tpch_elt.observability.alerts import AlertSettings
    from tpch_elt.observability.observe import observe as run_observe
    from tpch_elt.observability.runs import close_run
    from tpch_elt.observability.store import enabled
    from tpch_elt.warehouse.lock import warehouse_lock

    settings = dag_settings()
    if not settings.embedded or not enabled():
        log.info("observe: the observability history is kept on the prod target, when recording is on")
        return {}
    dag_id = getattr(dag_run, "dag_id", None) or DAG_ID
    with warehouse_lock(settings.warehouse_path, f"airflow {dag_id} observe"):
        closed = close_run(
            settings,
            run_invocation_id(dag_run),
            read_manifest(manifest),
            started_at=dag_run.start_date,
            selectors={
                "airflow_run": dag_run.run_id,
                "select": plan.get("select") or None,
                "exclude": plan.get("exclude") or None,
                "full_refresh": plan.get("full_refresh") == "true",
                "tests_from_batch": plan.get("tests_from_batch") or None,
            },
        )
    log.info("run recorded as one build: %d table(s) measured", closed.tables_measured)
    result = run_observe(settings, alert_settings=AlertSettings.from_env(), out=log.info)
    counts = {status: sum(r.status == status for r in result.results) for status in ("pass", "warn", "fail")}
    log.info(
        "observed %d dbt invocation(s): %d check(s), %s; %d incident(s)",
        len(result.evaluated),
        len(result.results),
        ", ".join(f"{n} {status}" for status, n in counts.items()),
        len(result.incidents),
    )
    for item in result.failing + result.warnings:
        log.warning("%s %s: %s", item.status, item.monitor, item.describe())
    if result.alert is not None and result.alert.error:
        log.warning("alert not delivered: %s", result.alert.error)
    return {"invocations": len(result.evaluated), "incidents": len(result.incidents), **counts}


def write_run_reports() -> str:
    """`tpch-elt report`: the offline HTML reports, from the marts just built."""
    from tpch_elt.reports.pages import default_pages, write_reports

    result = write_reports(dag_settings(), default_pages())
    log.info("reports in %s: %s", result.directory, ", ".join(page.path.name for page in result.pages))
    return str(result.index)
