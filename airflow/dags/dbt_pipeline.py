"""`dbt_pipeline`: ingest → source checks → staging → intermediate → mart → publish + observe → report.

Scheduling only (docs: ARCHITECTURE.md). Each step is a function the
`tpch-elt` CLI calls too, or dbt itself rendered by Cosmos from a manifest
that `airflow/stack.py manifest` produced ahead of time: parsing this file
never runs dbt.

Warehouse access. DuckDB allows one writing process, so on the `dev` target
every task that opens the warehouse takes the one slot of the pool
`duckdb_warehouse`, and each dbt task holds the CLI's writer lock while its
dbt process runs (a `tpch-elt build` started by hand meanwhile is refused,
and the other way round); on any other target (Snowflake) tasks run in
parallel. dbt runs in a subprocess per task (Cosmos `InvocationMode.SUBPROCESS`):
dbt-duckdb keeps its database handle open for the life of the process, and
a subprocess releases the file lock when it exits, whatever executor (or
`airflow dags test`) runs the task.

Tests. Each model has one task that builds it and then runs its tests
(`dbt build`, Cosmos `TestBehavior.BUILD`: one dbt process per model, not
two), with dbt's `buildable` indirect selection: a test on several models
runs after the last of them is built. Tests that no single model's task
can run (two sibling models, e.g. a reconciliation between marts) run in a
`cross_model_tests` task closing their layer's group; source tests run
right after the freshness check.

Observability. One DAG run is one build in the history `tpch-elt build`
keeps: every dbt task adds its results to the run (a Cosmos callback,
which runs after a failing dbt command too), and `observe`, after the marts
whatever they did, measures the sources and the models the run built,
judges the run and alerts once.

The build plan. Every run builds what `tpch-elt build` would: `plan_build`
calls the CLI's `plan_build` and every dbt task follows its answer. On an
incremental run the row-level tests of the batch-scoped models read only
the new batches (TPCH_ELT_TESTS_FROM_BATCH) and the models and tests that
need all history (the CLI's INCREMENTAL_SKIPS) wait for the daily sweep:
the 00:00 UTC run, or any run triggered with `full_tests`, which is
`tpch-elt build --full-tests`. A full refresh happens when raw was reloaded
since the last build.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections import defaultdict
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, chain, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    DbtResourceType,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.operators.local import DbtSourceLocalOperator, DbtTestLocalOperator

from tpch_elt.settings import DEFAULT_THREADS, Settings

log = logging.getLogger(__name__)

DAG_ID = "dbt_pipeline"
LAYERS = ("staging", "intermediate", "mart")
WAREHOUSE_POOL = "duckdb_warehouse"
PLAN_TASK_ID = "plan_build"
# Written by `python airflow/stack.py manifest` (dbt parse); the image builds it too.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "dbt_target" / "manifest.json"


def pipeline_settings() -> Settings:
    """The CLI's settings, from the environment variables the CLI reads.

    Without TPCH_ELT_DATA_DIR the data directory is the one `tpch-elt` uses
    when run from the repository root: `data/` beside the dbt project.
    """
    project_dir = Settings().project_dir
    data_dir = os.environ.get("TPCH_ELT_DATA_DIR") or project_dir.parent / "data"
    return Settings(
        data_dir=Path(data_dir),
        warehouse=Path(os.environ["TPCH_ELT_WAREHOUSE"]) if os.environ.get("TPCH_ELT_WAREHOUSE") else None,
        project_dir=project_dir,
        threads=int(os.environ.get("TPCH_ELT_THREADS") or DEFAULT_THREADS),
        target=os.environ.get("TPCH_ELT_TARGET") or "dev",
    )


def manifest_path() -> Path:
    path = Path(os.environ.get("TPCH_ELT_DBT_MANIFEST") or DEFAULT_MANIFEST)
    if not path.is_file():
        raise FileNotFoundError(
            f"dbt manifest {path} is missing: run `python airflow/stack.py manifest` "
            "(or `make airflow`) to produce it with `dbt parse`"
        )
    return path


def warehouse_pool(settings: Settings) -> str | None:
    """One writer at a time on the embedded DuckDB file; none needed elsewhere."""
    return WAREHOUSE_POOL if settings.target == "dev" else None


def dbt_executable() -> str:
    found = shutil.which("dbt", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise FileNotFoundError(
            "no `dbt` executable beside the Python running Airflow or on PATH: "
            "install the project with `pip install -e '.[airflow]'`"
        )
    return found


# Writer locks this task process holds, by task: see hold_warehouse.
_held: dict[str, ExitStack] = {}


def hold_warehouse(context: Any) -> None:
    """Before a dbt task: take the CLI's writer lock (tpch_elt.warehouse.lock) for its dbt process.

    The pool already serialises the DAG's own tasks; the lock also keeps a
    `tpch-elt build` started by hand and a DAG run apart: whichever comes
    second fails at once, saying who holds the warehouse, and nothing is
    half-written. The kernel releases the lock if the task process dies.
    """
    from tpch_elt.warehouse.lock import warehouse_lock

    held = ExitStack()
    purpose = f"airflow {DAG_ID} {context['ti'].task_id}"
    held.enter_context(warehouse_lock(pipeline_settings().warehouse_path, purpose))
    _held[context["ti"].task_id] = held


def release_warehouse(context: Any, result: Any = None) -> None:
    held = _held.pop(context["ti"].task_id, None)
    if held is not None:
        held.close()


def drop_empty_exclude(context: Any, operator: Any) -> None:
    """Cosmos interceptor: no `--exclude` when the build plan excludes nothing.

    The plan's exclusions are a template that renders empty on a full
    sweep; passed as `--exclude ''`, dbt warns in every task that the
    selection criterion '' matches no node.
    """
    if not str(operator.exclude or "").strip():
        operator.exclude = None


def run_invocation_id(dag_run: Any) -> str:
    """The id a DAG run has in the observability history (and its publication)."""
    return f"airflow {DAG_ID} {dag_run.run_id}"


def record_history(project_dir: str, context: Any = None, **_: Any) -> None:
    """Cosmos callback after every dbt command: add its results to this run's history.

    Cosmos deletes the task's copy of the project afterwards, so this is
    the one chance to read dbt's artifacts; it also runs when dbt failed
    (a failing test is recorded with its failing rows). It runs while the
    task holds the writer lock, and never fails the task: a recording
    problem is one warning line.
    """
    from tpch_elt.observability.runs import record_run_part
    from tpch_elt.observability.store import enabled

    settings = pipeline_settings()
    if settings.target != "dev" or not enabled() or context is None:
        return
    try:
        added = record_run_part(settings, Path(project_dir) / "target", run_invocation_id(context["dag_run"]))
        log.info("observability: %d dbt result(s) recorded for this run", added)
    except Exception as exc:
        log.warning(
            "observability history not recorded for this dbt command (%s); the task is unaffected", exc
        )


@cache
def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _manifest_nodes(path: Path) -> dict[str, Any]:
    return _manifest(path)["nodes"]


def layer_of(node: dict[str, Any]) -> str | None:
    parts = Path(node.get("original_file_path", "")).parts
    return parts[1] if len(parts) > 2 and parts[0] == "models" and parts[1] in LAYERS else None


def cross_model_tests(path: Path) -> dict[str, list[str]]:
    """Per layer, the data tests no single model's build task runs.

    A model's build task selects the model with `--indirect-selection
    buildable`: it runs a test when every other node the test reads is an
    ancestor of the model. A test on two models neither of which depends on
    the other fits no task; it belongs after its latest layer.
    """
    nodes = _manifest_nodes(path)
    parents = {
        uid: node["depends_on"]["nodes"] for uid, node in nodes.items() if node["resource_type"] == "model"
    }

    @cache
    def ancestors(uid: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in parents.get(uid, ()):
            found |= {parent} | ancestors(parent)
        return frozenset(found)

    by_layer: dict[str, list[str]] = defaultdict(list)
    for node in nodes.values():
        if node["resource_type"] != "test":
            continue
        reads = set(node["depends_on"]["nodes"])
        models = [uid for uid in reads if uid in parents]
        if not models or any(reads - {uid} <= ancestors(uid) for uid in models):
            continue
        layer = max(
            (layer_of(nodes[uid]) for uid in models), key=lambda name: LAYERS.index(name or LAYERS[0])
        )
        if layer is not None:
            by_layer[layer].append(node["name"])
    return {layer: sorted(names) for layer, names in by_layer.items()}


settings = pipeline_settings()
manifest = manifest_path()
pool = warehouse_pool(settings)
# dbt writes the DuckDB file on dev: the same writer lock as the CLI.
lock_hooks: dict[str, Any] = (
    {"pre_execute": hold_warehouse, "post_execute": release_warehouse} if settings.target == "dev" else {}
)
plan = f"ti.xcom_pull(task_ids='{PLAN_TASK_ID}')"

profile_config = ProfileConfig(
    profile_name="tpch_elt",
    target_name=settings.target,
    profiles_yml_filepath=settings.profiles_dir / "profiles.yml",
)
execution_config = ExecutionConfig(
    execution_mode=ExecutionMode.LOCAL,
    invocation_mode=InvocationMode.SUBPROCESS,
    dbt_executable_path=dbt_executable(),
    test_indirect_selection=TestIndirectSelection.BUILDABLE,
)
# Every dbt task: the CLI's dbt environment and this run's build plan (test
# scope; on incremental runs the CLI's exclusions; a full refresh when due).


def planned(field: str) -> str:
    """A Jinja template reading one field of this run's build plan (XCom)."""
    return "{{ " + plan + f"['{field}']" + " }}"


dbt_env = {**settings.dbt_env(), "TPCH_ELT_TESTS_FROM_BATCH": planned("tests_from_batch")}
planned_exclude = planned("exclude")
dbt_task_args: dict[str, Any] = {
    "append_env": True,
    "pool": pool,
    "callback": record_history,
    "interceptors": [drop_empty_exclude],
    **lock_hooks,
    "exclude": planned_exclude,
    "full_refresh": planned("full_refresh"),
}
# The dbt tasks outside Cosmos' groups take the same arguments directly.
single_task_args: dict[str, Any] = {
    "project_dir": settings.project_dir,
    "profile_config": profile_config,
    "invocation_mode": InvocationMode.SUBPROCESS,
    "dbt_executable_path": execution_config.dbt_executable_path,
    "install_deps": False,
    "append_env": True,
    "pool": pool,
    "env": dbt_env,
    "callback": record_history,
    "interceptors": [drop_empty_exclude],
    **lock_hooks,
}


def dbt_layer(layer: str) -> DbtTaskGroup:
    """One Cosmos group per layer: a `dbt build` task per model (the model, then its tests)."""
    group = DbtTaskGroup(
        group_id=layer,
        project_config=ProjectConfig(
            dbt_project_path=settings.project_dir,
            manifest_path=manifest,
            install_dbt_deps=False,
            env_vars=dbt_env,
        ),
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=[f"path:models/{layer}"],
            # Exposures document the marts' consumers: nothing to run.
            node_converters={DbtResourceType.EXPOSURE: lambda **_: None},
            test_behavior=TestBehavior.BUILD,
            emit_datasets=False,
        ),
        operator_args=dbt_task_args,
    )
    tests = cross_model_tests(manifest).get(layer)
    if tests:
        leaves = list(group.get_leaves())
        with group:
            closing = DbtTestLocalOperator(
                task_id="cross_model_tests",
                select=" ".join(tests),
                exclude=planned_exclude,
                **single_task_args,
            )
        closing.set_upstream(leaves)
    return group


@task(pool=pool)
def ingest(dag_run: Any = None) -> dict[str, Any]:
    """`tpch-elt ingest`: append the next arrival batch; a no-op when none is pending.

    Keyed by the DAG run: a retry of a run whose ingest already committed
    answers "already loaded" for that batch instead of taking the next one.
    """
    from tpch_elt.load.ingest import ingest as run_ingest

    result = run_ingest(pipeline_settings(), run_key=ingest_run_key(dag_run))
    log.info(
        "ingest: %s (batch %s, rows %s, quarantined %s)",
        result.status,
        result.batch_id,
        result.rows,
        result.quarantined,
    )
    return {"status": result.status, "batch_id": result.batch_id, "rows": result.rows}


def ingest_run_key(dag_run: Any) -> str | None:
    """The key `tpch_elt.load.ingest.ingest` remembers a run's batch by."""
    run_id = getattr(dag_run, "run_id", None)
    return f"airflow {DAG_ID} {run_id}" if run_id else None


def is_daily_sweep(run_type: Any, logical_date: datetime | None, asked: bool) -> bool:
    """The day's first scheduled run (00:00 UTC), or a run triggered with full_tests."""
    scheduled = getattr(run_type, "value", run_type) == "scheduled"
    return asked or (scheduled and logical_date is not None and logical_date.hour == 0)


@task(task_id=PLAN_TASK_ID, pool=pool)
def plan_build(params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, str]:
    """The CLI's build plan, as `tpch-elt build` (or, daily, `build --full-tests`) makes it."""
    from tpch_elt.transform.build import INCREMENTAL_SKIPS
    from tpch_elt.transform.build import plan_build as make_plan

    asked = bool((params or {}).get("full_tests"))
    full_tests = is_daily_sweep(dag_run.run_type, dag_run.logical_date, asked)
    decided = make_plan(pipeline_settings(), full_refresh=False, full_tests=full_tests)
    if decided.full_refresh_reason:
        log.warning("full refresh: %s", decided.full_refresh_reason)
    incremental = decided.tests_from_batch is not None
    log.info(
        "row-level tests on incremental models cover %s; %s",
        f"batches >= {decided.tests_from_batch}" if incremental else "all history",
        f"skipped until the daily sweep: {' '.join(INCREMENTAL_SKIPS)}" if incremental else "nothing skipped",
    )
    return {
        "tests_from_batch": str(decided.tests_from_batch) if incremental else "",
        "exclude": " ".join(INCREMENTAL_SKIPS) if incremental else "",
        "full_refresh": "true" if decided.full_refresh_reason else "false",
    }


@task(task_id="publish", pool=pool)
def publish(ti: Any = None) -> str:
    """Write–audit–publish: reached only when every dbt task (models and tests) passed.

    Publishes the marts this run rebuilt (on incremental runs the daily
    marts are carried over from the last snapshot), as `tpch-elt build`
    does after a passing build (tpch_elt.publish.publication).
    """
    from tpch_elt.publish.publication import publish as publish_marts

    decided = ti.xcom_pull(task_ids=PLAN_TASK_ID) or {}
    skipped = {
        s.removeprefix("tag:") for s in str(decided.get("exclude", "")).split() if s.startswith("tag:")
    }
    built = [
        node
        for node in _manifest_nodes(manifest).values()
        if node["resource_type"] == "model" and layer_of(node) == "mart" and not skipped & set(node["tags"])
    ]
    keys = {
        node["name"]: node["config"]["unique_key"]
        for node in built
        if node["config"]["materialized"] == "incremental"
        and isinstance(node["config"].get("unique_key"), str)
    }
    result = publish_marts(
        pipeline_settings(),
        rebuilt=[node["name"] for node in built],
        invocation_id=run_invocation_id(ti),
        full_refresh=decided.get("full_refresh") == "true",
        keys=keys,
    )
    log.info(
        "published %s (batch %s): %d rebuilt, %d carried over",
        result.path,
        result.batch_id,
        len(result.rebuilt),
        len(result.carried_over),
    )
    return str(result.path)


@task(task_id="observe", pool=pool, trigger_rule=TriggerRule.ALL_DONE)
def observe(ti: Any = None, dag_run: Any = None) -> dict[str, int]:
    """Close this run in the observability history, then `tpch-elt observe`.

    Runs after the marts whatever they did (all_done): a failing test or
    model is alerted, with the anomaly detectors' verdicts, also when the
    run stops before publishing. Anomalies alert and show in the report;
    they do not fail the run: the tests gate publication.
    """
    from tpch_elt.observability.alerts import AlertSettings
    from tpch_elt.observability.observe import observe as run_observe
    from tpch_elt.observability.runs import close_run
    from tpch_elt.observability.store import enabled
    from tpch_elt.warehouse.lock import warehouse_lock

    settings = pipeline_settings()
    if settings.target != "dev" or not enabled():
        log.info("observe: the observability history is kept on the dev target, when recording is on")
        return {}
    decided = ti.xcom_pull(task_ids=PLAN_TASK_ID) or {}
    with warehouse_lock(settings.warehouse_path, f"airflow {DAG_ID} observe"):
        closed = close_run(
            settings,
            run_invocation_id(dag_run),
            _manifest(manifest),
            started_at=dag_run.start_date,
            selectors={
                "airflow_run": dag_run.run_id,
                "exclude": decided.get("exclude") or None,
                "full_refresh": decided.get("full_refresh") == "true",
                "tests_from_batch": decided.get("tests_from_batch") or None,
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


@task(pool=pool)
def report() -> str:
    """`tpch-elt report`: the offline HTML reports, from the marts just built."""
    from tpch_elt.reports.pages import default_pages, write_reports

    result = write_reports(pipeline_settings(), default_pages())
    log.info("reports in %s: %s", result.directory, ", ".join(page.path.name for page in result.pages))
    return str(result.index)


with DAG(
    dag_id=DAG_ID,
    description="TPC-H: ingest the next batch, check sources, build and test staging → intermediate → mart",
    schedule="0 */4 * * *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
    params={
        "full_tests": Param(
            False,
            type="boolean",
            description="Sweep every test over all history and rebuild the daily models "
            "(`tpch-elt build --full-tests`); the 00:00 UTC run does it anyway.",
        )
    },
    doc_md=__doc__,
    tags=["tpch", "dbt"],
) as dag:
    # `dbt source freshness` and the tests on raw, as `tpch-elt build` runs them.
    source_freshness = DbtSourceLocalOperator(task_id="source_freshness", **single_task_args)
    source_tests = DbtTestLocalOperator(
        task_id="source_tests", select="source:*", exclude=planned_exclude, **single_task_args
    )
    layers = [dbt_layer(layer) for layer in LAYERS]
    chain(ingest(), plan_build(), source_freshness, source_tests, *layers)
    # After the marts, on dev: publish what passed (write–audit–publish);
    # observe what every dbt task recorded, whatever happened (all_done);
    # then the reports, which read the published snapshot and the history,
    # and are the one leaf: any failure fails the run. (On Snowflake, see
    # README "Write–audit–publish" for the clone-and-swap mapping.)
    if settings.target == "dev":
        chain(layers[-1], [publish(), observe()], report())
