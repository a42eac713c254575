"""A DAG per pipeline of airflow/pipelines.yml: [reload | ingest] → source checks → staging → intermediate → mart → publish + observe → report.

Wiring only (docs/architecture.md). The pipelines come from
`airflow/pipelines.yml` (or the file `TPCH_ELT_PIPELINES` names), read and
checked by `tpch_elt.orchestration.pipelines`: a bad entry is this file's
import error, one line naming the file, the pipeline and the field. Three
pipelines ship:

    dbt_pipeline      every 4 hours and whenever a batch lands: ingest the next
                      arrival batch, then the CLI's incremental build
    daily_sweep       02:00 UTC: `tpch-elt build --full-tests` (every test over
                      all history, the daily marts rebuilt), between two increments
    reference_reload  Sundays 03:00 UTC: raw's reference tables reloaded from their
                      landing files, then the sweep (every mart reads one of them)

Each Python task calls one function of `tpch_elt.orchestration.tasks` (the
same steps the `tpch-elt` CLI runs); each dbt task is dbt itself, rendered
by Cosmos from a manifest that `airflow/stack.py manifest` produced ahead of
time: parsing this file never runs dbt. The hooks around dbt tasks live in
`tpch_elt.orchestration.hooks`. A task process builds only its own DAG
(Airflow's parsing context): the others' Cosmos groups are not rendered.

"A batch landed": the asset. `dbt_pipeline` runs on its cron schedule and
also whenever the asset `tpch_elt_batch_landed` gets an event
(`AssetOrTimeSchedule`). Whatever lands a batch outside Airflow (an upstream
export, `tpch-elt generate`'s batches copied into landing) announces it
through Airflow's REST API, `POST /api/v2/assets/events` with the asset's id
(`python airflow/stack.py batch-landed` does both calls); Airflow has no
file-watching trigger that leaves the files in place, and no task of ours
lands batches, so no task is the asset's producer. A run with no batch
pending ingests nothing and builds nothing new.

Deadlines. A pipeline with an `sla` gets an Airflow `DeadlineAlert`: the
run must finish `sla` after it was queued (its scheduled time, for a cron
run; `DAGRUN_QUEUED_AT`, which runs started by an asset or by hand have
too). A late run makes the scheduler queue the callback
`tpch_elt.orchestration.deadlines.missed_deadline`, which the triggerer
runs: `tpch_elt.observability.sla.alert_missed_deadline` sends the alert.
`airflow dags test` parses this file without deadlines (Airflow 3.3.2
fails that command on a DAG with one: apache/airflow#73428).

Warehouse access. DuckDB allows one writing process, so on the `prod` target
every task that opens the warehouse takes the one slot of the pool
`duckdb_warehouse` (whatever its pipeline), and each dbt task holds the CLI's
writer lock while its dbt process runs (a `tpch-elt build` started by hand
meanwhile is refused, and the other way round); on any other target
(Snowflake) tasks run in parallel. The schedules keep the pipelines' runs
apart. dbt runs in a subprocess per task (Cosmos `InvocationMode.SUBPROCESS`):
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
need all history (the CLI's INCREMENTAL_SKIPS) wait for a full-tests run:
every run of a pipeline with `full_tests: true` (the daily sweep), or any
run triggered with the param `full_tests`, which is `tpch-elt build
--full-tests`. A full refresh happens when raw was reloaded since the last
build.

Two paths. `plan_build` is a branch. An incremental run (`dbt_pipeline`)
takes the one task `increment`: the CLI's incremental `dbt build` (the
orders/line-item lineage and its tests, in one dbt process), retried as a
whole; each model's and test's result is in its log and the observability
report. A full-tests run and a full refresh take the per-model path above
(a pipeline with `full_tests: true` has no `increment` task):
the source tests, then one task per model, each retried alone. One dbt
process per model costs a dbt start-up and parse each (about 5 s): 35 of
them made an increment cost about 15 times the CLI's (bench/README.md).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    TriggerRule,
    chain,
    get_parsing_context,
    task,
)
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos import settings as cosmos_settings
from cosmos.constants import (
    DbtResourceType,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.operators.local import DbtBuildLocalOperator, DbtSourceLocalOperator, DbtTestLocalOperator

from tpch_elt.orchestration import (
    FRESHNESS_TASK_ID,
    INCREMENT_TASK_ID,
    PLAN_TASK_ID,
    PLAN_XCOM_KEY,
    RELOAD_TASK_ID,
    SWEEP_TASK_ID,
    WAREHOUSE_POOL,
)
from tpch_elt.orchestration import tasks as steps
from tpch_elt.orchestration.deadlines import (
    DAGS_TEST_NOTE,
    deadline_kwargs,
    deadlines_apply,
    missed_deadline,
)
from tpch_elt.orchestration.graph import LAYERS, cross_model_tests
from tpch_elt.orchestration.hooks import (
    dag_settings,
    drop_empty_exclude,
    hold_warehouse,
    record_history,
    release_warehouse,
)
from tpch_elt.orchestration.manifest import manifest_nodes, manifest_path
from tpch_elt.orchestration.pipelines import Pipeline, load_pipelines, pipelines_path
from tpch_elt.transform.dbt import dbt_executable

# Written by `python airflow/stack.py manifest` (dbt parse); the image builds it too.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "dbt_target" / "manifest.json"
# The pipelines, one DAG each; TPCH_ELT_PIPELINES names another file.
DEFAULT_PIPELINES = Path(__file__).resolve().parents[1] / "pipelines.yml"

settings = dag_settings()
manifest = manifest_path(DEFAULT_MANIFEST)
pipelines = load_pipelines(pipelines_path(DEFAULT_PIPELINES))
with_deadlines = deadlines_apply(sys.argv)
if not with_deadlines:
    logging.getLogger(__name__).warning(DAGS_TEST_NOTE)
# One writer at a time on the embedded DuckDB file; none needed elsewhere.
pool = WAREHOUSE_POOL if settings.embedded else None
# dbt writes the DuckDB file on dev: the same writer lock as the CLI.
lock_hooks: dict[str, Any] = (
    {"pre_execute": hold_warehouse, "post_execute": release_warehouse} if settings.embedded else {}
)
plan = f"ti.xcom_pull(task_ids='{PLAN_TASK_ID}', key='{PLAN_XCOM_KEY}')"

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


def single_task_args(dag_id: str) -> dict[str, Any]:
    """The dbt tasks outside Cosmos' groups: the same arguments, and one partial-parse cache per DAG.

    As each group's tasks share theirs: without one, each of them parsed
    the whole project (about 3 s).
    """
    cache = cosmos_settings.cache_dir / f"{dag_id}__single_tasks" if cosmos_settings.enable_cache else None
    if cache is not None:
        (cache / "target").mkdir(parents=True, exist_ok=True)
    return {
        "cache_dir": cache,
        "project_dir": settings.project_dir,
        "profile_config": profile_config,
        "invocation_mode": InvocationMode.SUBPROCESS,
        "dbt_executable_path": execution_config.dbt_executable_path,
        "install_deps": False,
        "emit_datasets": False,  # as in the groups: nothing schedules on its assets (0.2 s a task)
        "append_env": True,
        "pool": pool,
        "env": dbt_env,
        "callback": record_history,
        "interceptors": [drop_empty_exclude],
        **lock_hooks,
    }


def dbt_layer(layer: str, single: dict[str, Any]) -> DbtTaskGroup:
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
    tests = cross_model_tests(manifest_nodes(manifest)).get(layer)
    if tests:
        leaves = list(group.get_leaves())
        with group:
            closing = DbtTestLocalOperator(
                task_id="cross_model_tests", select=" ".join(tests), exclude=planned_exclude, **single
            )
        closing.set_upstream(leaves)
    return group


@task(pool=pool)
def ingest(dag_run: Any = None) -> dict[str, Any]:
    """`tpch-elt ingest`: append the next arrival batch, keyed by this run (a no-op when none is pending)."""
    return steps.ingest_next_batch(dag_run)


@task(task_id=RELOAD_TASK_ID, pool=pool)
def reload(tables: list[str]) -> dict[str, int]:
    """raw's reference tables again from the landing files of the initial load (orders, line items kept)."""
    return steps.reload_reference_tables(tables)


@task.branch(task_id=PLAN_TASK_ID, pool=pool)
def plan_build(params: dict[str, Any] | None = None, dag_run: Any = None, ti: Any = None) -> list[str]:
    """The CLI's build plan, as `tpch-elt build` (or `build --full-tests`) makes it; then the path it takes."""
    decided = steps.plan_run(dag_run, params)
    ti.xcom_push(key=PLAN_XCOM_KEY, value=decided)
    return steps.next_tasks(decided)


def run_plan(ti: Any) -> dict[str, str]:
    return ti.xcom_pull(task_ids=PLAN_TASK_ID, key=PLAN_XCOM_KEY) or {}


# One path is skipped: publish when nothing failed and the other path built.
@task(task_id="publish", pool=pool, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def publish(ti: Any = None, dag_run: Any = None) -> str:
    """Write–audit–publish: reached only when every dbt task (models and tests) passed."""
    return steps.publish_run(manifest, run_plan(ti), dag_run)


@task(task_id="observe", pool=pool, trigger_rule=TriggerRule.ALL_DONE)
def observe(ti: Any = None, dag_run: Any = None) -> dict[str, int]:
    """Close this run in the observability history, then `tpch-elt observe` (after the marts, whatever they did)."""
    return steps.observe_run(manifest, run_plan(ti), dag_run)


@task(pool=pool)
def report() -> str:
    """`tpch-elt report`: the offline HTML reports, from the marts just built."""
    return steps.write_run_reports()


def schedule(pipeline: Pipeline) -> CronTriggerTimetable | AssetOrTimeSchedule:
    """The pipeline's cron (UTC); with assets, a run also on any event of one of them."""
    cron = CronTriggerTimetable(pipeline.schedule, timezone="UTC")
    if not pipeline.assets:
        return cron
    return AssetOrTimeSchedule(timetable=cron, assets=reduce(or_, (Asset(name=a) for a in pipeline.assets)))


def deadline(pipeline: Pipeline) -> DeadlineAlert | None:
    """The run must finish `sla` after it was queued; otherwise `missed_deadline` alerts."""
    if pipeline.deadline is None or pipeline.sla is None or not with_deadlines:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=pipeline.deadline,
        callback=AsyncCallback(missed_deadline, kwargs=deadline_kwargs(pipeline.name, pipeline.sla)),
    )


def full_tests_param(pipeline: Pipeline) -> Param:
    if pipeline.full_tests:
        return Param(
            True,
            type="boolean",
            enum=[True],
            description="Every test over all history, the daily models rebuilt "
            "(`tpch-elt build --full-tests`): always, in this pipeline.",
        )
    return Param(
        False,
        type="boolean",
        description="Sweep every test over all history and rebuild the daily models "
        "(`tpch-elt build --full-tests`); the daily_sweep pipeline does it every day.",
    )


def pipeline_dag(pipeline: Pipeline) -> DAG:
    """The DAG of one pipeline: [reload | ingest] → freshness → plan → [increment | per-model] → close."""
    single = single_task_args(pipeline.name)
    with DAG(
        dag_id=pipeline.name,
        description=pipeline.description,
        schedule=schedule(pipeline),
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=15), "owner": pipeline.owner},
        params={"full_tests": full_tests_param(pipeline)},
        deadline=deadline(pipeline),
        doc_md=__doc__,
        tags=list(pipeline.tags),
    ) as dag:
        first = [reload(list(pipeline.reload))] if pipeline.reload else []
        first += [ingest()] if pipeline.ingest else []
        # `dbt source freshness`, as `tpch-elt build` runs it, before either path
        # (a task after the branch on both paths would make Airflow follow both).
        # It runs no test: it needs no build plan.
        source_freshness = DbtSourceLocalOperator(
            task_id=FRESHNESS_TASK_ID, **{**single, "env": settings.dbt_env()}
        )
        # The per-model path: the tests on raw, then one task per model, layer by layer.
        source_tests = DbtTestLocalOperator(
            task_id=SWEEP_TASK_ID, select="source:*", exclude=planned_exclude, **single
        )
        paths: list[Any] = [source_tests]
        if not pipeline.full_tests:
            # The incremental path: `tpch-elt build`'s own selection, one dbt process.
            paths.insert(
                0,
                DbtBuildLocalOperator(
                    task_id=INCREMENT_TASK_ID, select=planned("select"), exclude=planned_exclude, **single
                ),
            )
        layers = [dbt_layer(layer, single) for layer in LAYERS]
        chain(*first, source_freshness, plan_build(), paths)
        chain(source_tests, *layers)
        # After the dbt tasks, on dev: publish what passed (write–audit–publish);
        # observe what every dbt task recorded, whatever happened (all_done);
        # then the reports, which read the published snapshot and the history,
        # and are the one leaf: any failure fails the run. (On Snowflake, see
        # README "Write–audit–publish" for the clone-and-swap mapping.)
        if settings.embedded:
            closing = [publish(), observe()]
            layers[-1] >> closing
            for path in paths[:-1]:
                path >> closing
            chain(closing, report())
    return dag


# A task's process needs only its own DAG: the others' Cosmos groups are
# not rendered (Airflow's parsing context names the DAG being run).
running = get_parsing_context().dag_id
for pipeline in pipelines:
    if running in (None, pipeline.name):
        globals()[pipeline.name] = pipeline_dag(pipeline)
