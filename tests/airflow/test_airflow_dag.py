"""The pipelines' DAGs as Airflow parses them: integrity, schedule, graph, pools, deadlines.

DagBag parses airflow/dags/pipelines.py exactly as the dag-processor does,
from a manifest `airflow/stack.py manifest` produced (here into a temporary
directory, so a running `make airflow` is left alone), with the pipelines
of airflow/pipelines.yml (or of a file TPCH_ELT_PIPELINES names).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from testkit.airflow import (
    DAG_FILE,
    DAG_ID,
    LAYERS,
    PIPELINES_FILE,
    WAREHOUSE_POOL,
    manifest_nodes,
    models_by_layer,
    stack,
)


def parse_dags(manifest: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    """(dags by id, import errors, seconds) for the DAG file under `env`."""
    from airflow.dag_processing.dagbag import DagBag

    for key in ("TPCH_ELT_TARGET", "TPCH_ELT_DATA_DIR", "TPCH_ELT_WAREHOUSE", "TPCH_ELT_PIPELINES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TPCH_ELT_DBT_MANIFEST", str(manifest))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAG_FILE))
    seconds = time.perf_counter() - started
    return bag.dags, bag.import_errors, seconds


def parse_dag(manifest: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    """(the dbt_pipeline DAG or None, import errors, seconds) for the DAG file under `env`."""
    dags, errors, seconds = parse_dags(manifest, monkeypatch, **env)
    return dags.get(DAG_ID), errors, seconds


@pytest.fixture(scope="module")
def dags(dbt_manifest: Path) -> Iterator[dict]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        parsed, errors, _ = parse_dags(dbt_manifest, monkeypatch)
    assert errors == {}
    yield parsed


@pytest.fixture(scope="module")
def dag(dags: dict) -> Iterator:
    yield dags[DAG_ID]


def downstream_closure(dag, task_id: str) -> set[str]:
    return {task.task_id for task in dag.get_task(task_id).get_flat_relatives(upstream=False)}


def upstream_closure(dag, task_id: str) -> set[str]:
    return {task.task_id for task in dag.get_task(task_id).get_flat_relatives(upstream=True)}


def test_dag_file_imports_without_errors_and_without_running_dbt(
    dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"parsing the DAG started a process: {args[0] if args else kwargs}")

    from airflow.dag_processing.dagbag import DagBag  # noqa: F401  (import outside the timing)

    monkeypatch.setattr(subprocess.Popen, "__init__", no_subprocess)
    parsed, errors, seconds = parse_dag(dbt_manifest, monkeypatch)
    assert errors == {}
    assert parsed is not None and parsed.dag_id == DAG_ID
    parsed.check_cycle()
    print(f"DagBag parse of {DAG_FILE.name}: {seconds:.2f} s")
    # Far below the dag-processor's 30 s import timeout, even on a loaded CI machine.
    assert seconds < 15


def test_runs_every_four_hours_or_when_a_batch_lands_one_run_at_a_time_with_retries(dag) -> None:
    from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable

    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable == CronTriggerTimetable("0 */4 * * *", timezone="UTC")
    assert dag.timetable.asset_condition == Asset(name="tpch_elt_batch_landed")
    assert dag.start_date == datetime(2025, 1, 1, tzinfo=UTC)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is False
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_delay == timedelta(minutes=15), task.task_id


def test_ingest_then_plan_then_source_checks_then_layers_in_order_then_report(dag) -> None:
    assert dag.get_task("ingest").upstream_task_ids == set()
    assert dag.get_task("ingest").downstream_task_ids == {"source_freshness"}
    assert dag.get_task("source_freshness").downstream_task_ids == {"plan_build"}
    # The plan branches: an increment is one dbt task, the sweep the per-model path.
    assert dag.get_task("plan_build").downstream_task_ids == {"increment", "source_tests"}
    assert dag.get_task("increment").downstream_task_ids == {"publish", "observe"}
    groups = {group_id: dag.task_group_dict[group_id] for group_id in LAYERS}
    assert set(dag.get_task("source_tests").downstream_task_ids) == {
        task.task_id for task in groups["staging"].get_roots()
    }
    # Every task of a layer runs before every task of the next one.
    for earlier, later in pairwise(LAYERS):
        later_ids = {task_id for task_id in dag.task_ids if task_id.startswith(f"{later}.")}
        for task_id in (t for t in dag.task_ids if t.startswith(f"{earlier}.")):
            assert later_ids <= downstream_closure(dag, task_id), f"{task_id} does not precede {later}"
    # Publishing needs every dbt task (models and tests) to have passed;
    # observe runs after the marts whatever they did (it alerts failures);
    # the report reads both: it is the one task after everything, so a
    # failure anywhere fails the run.
    assert [task.task_id for task in dag.leaves] == ["report"]
    assert dag.get_task("report").upstream_task_ids == {"publish", "observe"}
    assert dag.get_task("report").trigger_rule == "all_success"
    mart_tasks = {task_id for task_id in dag.task_ids if task_id.startswith("mart.")}
    assert mart_tasks <= upstream_closure(dag, "publish")
    assert mart_tasks <= upstream_closure(dag, "observe")
    # one of the two paths is skipped; any failed or upstream-failed dbt task stops it
    assert dag.get_task("publish").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("observe").trigger_rule == "all_done"
    assert len(downstream_closure(dag, "ingest")) == len(dag.tasks) - 1


def test_one_build_task_per_model_builds_it_then_runs_its_tests(dag, dbt_manifest: Path) -> None:
    layers = models_by_layer(dbt_manifest)
    nodes, _ = manifest_nodes(dbt_manifest)
    build_tasks = {task_id for task_id in dag.task_ids if task_id.endswith("_model_build")}
    assert build_tasks == {
        f"{layer}.{model}_model_build" for layer, models in layers.items() for model in models
    }
    # one dbt process per model (`dbt build`: the model, then its tests), no separate run or test task
    assert not {task_id for task_id in dag.task_ids if task_id.endswith((".run", ".test"))}
    parents = {
        node["name"]: [nodes[uid]["name"] for uid in node["depends_on"]["nodes"] if uid in nodes]
        for node in nodes.values()
        if node["resource_type"] == "model"
    }
    layer_of = {model: layer for layer, models in layers.items() for model in models}
    for layer, models in layers.items():
        for model in models:
            build = dag.get_task(f"{layer}.{model}_model_build")
            assert type(build).__name__ == "DbtBuildLocalOperator"
            # dbt's fqn is the project, the folders under models/ (the
            # layer first: mart/core/...), then the model
            fqn = nodes[f"model.tpch_elt.{model}"]["fqn"]
            assert fqn[:2] == ["tpch_elt", layer] and fqn[-1] == model, fqn
            assert build.select == f"fqn:{'.'.join(fqn)}"
            assert build.indirect_selection == "buildable"
            # A model is built only after its parents in the layer passed their tests.
            for parent in parents[model]:
                if layer_of[parent] == layer:
                    assert f"{layer}.{parent}_model_build" in build.upstream_task_ids


def test_cross_model_tests_close_their_layer(dag, dbt_manifest: Path) -> None:
    nodes, _ = manifest_nodes(dbt_manifest)
    tests = {node["name"]: node for node in nodes.values() if node["resource_type"] == "test"}
    selected = {}
    for layer in LAYERS:
        task = dag.get_task(f"{layer}.cross_model_tests")
        leaves = {t.task_id for t in dag.task_group_dict[layer].get_leaves()}
        assert leaves == {task.task_id}
        layer_tasks = {t for t in dag.task_ids if t.startswith(f"{layer}.") and t != task.task_id}
        assert layer_tasks <= {t.task_id for t in task.get_flat_relatives(upstream=True)}
        selected[layer] = set(task.select.split())
        for name in selected[layer]:
            assert len([uid for uid in tests[name]["depends_on"]["nodes"] if uid.startswith("model.")]) > 1
    # Two sibling staging views: neither model's own build task can run it.
    assert "relationships_stg_dim_nation_region_key__region_key__ref_stg_dim_region_" in selected["staging"]
    # Two sibling marts: after the whole mart layer.
    assert "assert_customer_summary_reconciles_with_orders" in selected["mart"]
    # int_order_lineitems reads stg_fct_orders: its own build task runs this one.
    everything = set().union(*selected.values())
    assert "relationships_int_order_lineitems_order_key__order_key__ref_stg_fct_orders_" not in everything


def test_every_warehouse_task_takes_the_single_slot_pool_on_dev(dag) -> None:
    assert {task.pool for task in dag.tasks} == {WAREHOUSE_POOL}


def test_dbt_tasks_hold_the_clis_writer_lock_while_dbt_runs(
    dag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from tpch_elt.errors import PipelineError

    dbt_tasks = [task for task in dag.tasks if type(task).__module__.startswith("cosmos.")]
    assert set(dag.task_ids) - {task.task_id for task in dbt_tasks} == {
        "ingest",
        "plan_build",
        "publish",
        "observe",
        "report",
    }
    hold = {task._pre_execute_hook for task in dbt_tasks}
    release = {task._post_execute_hook for task in dbt_tasks}
    assert len(hold) == len(release) == 1 and None not in hold | release
    (hold,), (release,) = hold, release
    monkeypatch.setenv("TPCH_ELT_DATA_DIR", str(tmp_path))
    context = {"ti": SimpleNamespace(task_id="staging.stg_dim_region_model_build")}
    # Another process (a `tpch-elt build`, say) holds the lock: the task is refused at once.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from tpch_elt.warehouse.lock import warehouse_lock\n"
            f"with warehouse_lock(Path({str(tmp_path / 'warehouse.duckdb')!r}), 'build'):\n"
            "    print('held', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PipelineError, match="warehouse busy"):
            hold(context)
    finally:
        holder.communicate("\n", timeout=30)
    hold(context)
    try:
        lock = (tmp_path / "warehouse.duckdb.lock").read_text()
        assert "airflow dbt_pipeline staging.stg_dim_region_model_build" in lock
    finally:
        release(context, None)
    assert (tmp_path / "warehouse.duckdb.lock").read_text() == ""


def test_every_dbt_task_records_its_results_and_a_recording_problem_never_fails_it(
    dag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    dbt_tasks = [task for task in dag.tasks if type(task).__module__.startswith("cosmos.")]
    callbacks = {task.callback for task in dbt_tasks}
    assert len(callbacks) == 1 and None not in callbacks
    (record,) = callbacks
    monkeypatch.setenv("TPCH_ELT_DATA_DIR", str(tmp_path))
    context = {"dag_run": SimpleNamespace(run_id="manual__x")}
    # dbt left no artifacts (it died before writing them): one warning, no exception
    with caplog.at_level("WARNING"):
        record(str(tmp_path / "project-copy"), context=context)
    assert "observability history not recorded for this dbt command" in caplog.text


def test_an_empty_exclusion_is_not_passed_to_dbt(dag) -> None:
    from types import SimpleNamespace

    dbt_tasks = [task for task in dag.tasks if type(task).__module__.startswith("cosmos.")]
    interceptors = {tuple(task.interceptors) for task in dbt_tasks}
    assert len(interceptors) == 1
    ((drop,),) = interceptors
    sweep, incremental = SimpleNamespace(exclude=""), SimpleNamespace(exclude="tag:daily")
    drop({}, sweep)
    drop({}, incremental)
    assert (sweep.exclude, incremental.exclude) == (None, "tag:daily")


def test_snowflake_target_runs_in_parallel_without_the_pool(
    dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed, errors, _ = parse_dag(dbt_manifest, monkeypatch, TPCH_ELT_TARGET="snowflake")
    assert errors == {}
    assert {task.pool for task in parsed.tasks} == {"default_pool"}
    # Reports read the embedded DuckDB warehouse: not on Snowflake. No DuckDB writer lock either.
    assert not {"publish", "observe", "report"} & set(parsed.task_ids)
    assert {task._pre_execute_hook for task in parsed.tasks} == {None}
    build = parsed.get_task("mart.mart_orders_model_build")
    assert build.profile_config.target_name == "snowflake"


def test_dbt_tasks_follow_the_clis_build_plan(dag) -> None:
    plan = "xcom_pull(task_ids='plan_build', key='plan')"
    dbt_tasks = [task for task in dag.tasks if type(task).__module__.startswith("cosmos.")]
    for task in dbt_tasks:
        assert task.env["TPCH_ELT_TARGET"] == "prod"
        assert task.invocation_mode.name == "SUBPROCESS", task.task_id
        if task.task_id == "source_freshness":
            # `tpch-elt build` excludes nothing from its freshness check, which
            # runs no test and comes before the plan's branch
            assert "TPCH_ELT_TESTS_FROM_BATCH" not in task.env
            continue
        assert "plan_build" in {t.task_id for t in task.get_flat_relatives(upstream=True)}, task.task_id
        assert plan in task.env["TPCH_ELT_TESTS_FROM_BATCH"], task.task_id
        # The CLI's incremental exclusions (tag:daily, tag:full_history) when the plan says so.
        assert plan in task.exclude and "['exclude']" in task.exclude, task.task_id
        if task.task_id.endswith("_model_build"):
            assert plan in task.full_refresh
        if task.task_id == "increment":  # the CLI's incremental selection
            assert plan in task.select and "['select']" in task.select


def test_the_daily_sweep_is_its_own_dag_with_full_tests_always_on(dags, dag) -> None:
    """The sweep is `tpch-elt build --full-tests`: every run of daily_sweep, any run of dbt_pipeline asked for it."""
    from airflow.sdk.exceptions import ParamValidationError

    from tpch_elt.orchestration.tasks import wants_full_tests
    from tpch_elt.transform.build import INCREMENTAL_SKIPS

    assert INCREMENTAL_SKIPS  # what incremental runs leave to the sweep
    sweep = dags["daily_sweep"]
    # dbt_pipeline: an increment unless a run is triggered with full_tests (no midnight rule)
    assert dag.params["full_tests"] is False
    assert wants_full_tests(dict(dag.params)) is False
    assert wants_full_tests({**dag.params, "full_tests": True}) is True
    # daily_sweep: always, and a trigger cannot turn it off (the param accepts only true)
    assert sweep.params["full_tests"] is True
    assert wants_full_tests(dict(sweep.params)) is True
    params = copy.deepcopy(sweep.params)
    with pytest.raises(ParamValidationError, match="full_tests"):
        params["full_tests"] = False
    params["full_tests"] = True
    assert params.validate() == {"full_tests": True}
    # its path is the per-model one: no increment task to branch to
    assert "increment" not in sweep.task_ids
    assert sweep.get_task("plan_build").downstream_task_ids == {"source_tests"}
    assert wants_full_tests(None) is False and wants_full_tests({"full_tests": "yes"}) is False


def test_missing_manifest_is_a_one_line_actionable_import_error(
    dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parsed, errors, _ = parse_dag(tmp_path / "absent" / "manifest.json", monkeypatch)
    assert parsed is None
    (message,) = errors.values()
    assert "python airflow/stack.py manifest" in message
    assert str(tmp_path / "absent" / "manifest.json") in message


def test_manifest_is_reparsed_only_when_the_dbt_project_changes(tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "dbt_project"
    shutil.copytree(stack().REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    env = {
        **os.environ,
        "TPCH_ELT_PROJECT_DIR": str(project),
        "TPCH_ELT_DBT_MANIFEST": str(tmp_path / "m" / "manifest.json"),
    }
    manifest = stack().ensure_manifest(env)
    first = manifest.stat().st_mtime_ns
    assert stack().manifest_is_stale(manifest, project) is False
    stack().ensure_manifest(env)
    assert manifest.stat().st_mtime_ns == first
    model = project / "models" / "mart" / "core" / "mart_orders.sql"
    os.utime(model, ns=(first + 10**9, first + 10**9))
    assert stack().manifest_is_stale(manifest, project) is True
    stack().ensure_manifest(env)
    assert manifest.stat().st_mtime_ns > first
    assert not list(manifest.parent.glob(".parse-*")), "the scratch directory is left behind"


def test_the_promotion_dag_is_manual_and_promotes_only_after_an_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from tpch_elt.orchestration import PROMOTE_DAG_ID

    for key in ("TPCH_ELT_TARGET", "TPCH_ELT_DATA_DIR", "TPCH_ELT_WAREHOUSE"):
        monkeypatch.delenv(key, raising=False)
    bag = DagBag(dag_folder=str(DAG_FILE.with_name("promote_environment.py")))
    assert bag.import_errors == {}
    dag = bag.dags[PROMOTE_DAG_ID]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: triggered by hand only
    assert [task.task_id for task in dag.topological_sort()] == ["review", "approve", "promote"]
    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator)
    assert "ti.xcom_pull(task_ids='review')" in approve.body
    # a promotion waits for a running build (the warehouse's one slot), never fails on its lock
    assert dag.get_task("review").pool == dag.get_task("promote").pool == WAREHOUSE_POOL
    assert dag.params["environment"] == "dev" and dag.params["force"] is False


# --- the pipelines of airflow/pipelines.yml ---------------------------------------------------


def test_each_configured_pipeline_is_one_dag_of_its_shape(dags) -> None:
    from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, DeadlineReference

    from tpch_elt.orchestration.pipelines import REFERENCE_TABLES, load_pipelines

    pipelines = load_pipelines(PIPELINES_FILE)
    assert (
        sorted(dags)
        == sorted(p.name for p in pipelines)
        == sorted([DAG_ID, "daily_sweep", "reference_reload"])
    )
    for pipeline in pipelines:
        dag = dags[pipeline.name]
        assert dag.description == pipeline.description
        assert dag.owner == pipeline.owner and {t.owner for t in dag.tasks} == {pipeline.owner}
        assert set(dag.tags) == set(pipeline.tags)
        cron = CronTriggerTimetable(pipeline.schedule, timezone="UTC")
        if pipeline.assets:
            assert dag.timetable == AssetOrTimeSchedule(
                timetable=cron, assets=Asset(name=pipeline.assets[0])
            ), pipeline.name
        else:
            assert dag.timetable == cron, pipeline.name
        # the run-duration deadline: the SLA after the run was queued, then the alert
        (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
        assert alert.interval == pipeline.deadline
        assert type(alert.callback).__name__ == "AsyncCallback"
        assert alert.callback.path == "tpch_elt.orchestration.deadlines.missed_deadline"
        assert alert.callback.kwargs == {"pipeline": pipeline.name, "sla": pipeline.sla}
        # what runs first, then the build the plan chose, then publish, observe and report
        roots = {task.task_id for task in dag.roots}
        first = {"reload"} if pipeline.reload else {"ingest"} if pipeline.ingest else {"source_freshness"}
        assert roots == first, pipeline.name
        assert ("increment" in dag.task_ids) is (not pipeline.full_tests), pipeline.name
        assert [task.task_id for task in dag.leaves] == ["report"]
        assert {task.pool for task in dag.tasks} == {WAREHOUSE_POOL}
        assert dag.max_active_runs == 1 and dag.catchup is False and dag.is_paused_upon_creation is False
        assert len(downstream_closure(dag, next(iter(first)))) == len(dag.tasks) - 1
    reload = dags["reference_reload"]
    assert reload.get_task("reload").downstream_task_ids == {"source_freshness"}
    assert list(reload.get_task("reload").op_args) == [list(REFERENCE_TABLES)]
    # the sweep and the reload build every model, one task each, as dbt_pipeline's per-model path does
    per_model = {t for t in dags[DAG_ID].task_ids if t.endswith("_model_build")}
    assert per_model and all(
        per_model == {t for t in dags[name].task_ids if t.endswith("_model_build")}
        for name in ("daily_sweep", "reference_reload")
    )


def test_a_bad_pipeline_entry_is_the_dag_files_one_line_import_error(
    dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "pipelines.yml"
    config.write_text(
        PIPELINES_FILE.read_text().replace("    sla: 3h\n", "    sla: 3 hours\n", 1), encoding="utf-8"
    )
    parsed, errors, _ = parse_dags(dbt_manifest, monkeypatch, TPCH_ELT_PIPELINES=str(config))
    assert parsed == {}, "no pipeline's DAG is registered from a file with a bad entry"
    (message,) = errors.values()
    assert message.strip().splitlines()[-1] == (
        f"tpch_elt.errors.PipelineError: {config}: pipeline 'daily_sweep': sla '3 hours' "
        "is not a duration like 30m or 2h"
    )


def test_the_reference_reload_replaces_only_the_reference_tables(prepared_data: Path, tmp_path: Path) -> None:
    """`tpch-elt load` semantics for six tables: landing files in, orders, line items and batches kept."""
    import shutil

    import duckdb

    from tpch_elt.orchestration.reference import reload_reference
    from tpch_elt.settings import Settings
    from tpch_elt.transform.build import plan_build

    # the warehouse and the landing files: no dbt runs here
    data = tmp_path / "data"
    shutil.copytree(prepared_data / "landing", data / "landing")
    shutil.copy2(prepared_data / "warehouse.duckdb", data / "warehouse.duckdb")
    settings = Settings(data_dir=data)

    def raw_state() -> dict[str, tuple]:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return {
                table: con.execute(f"select count(*), max(_loaded_at) from raw.{table}").fetchone()
                for table in ("nation", "customer", "partsupp", "orders", "lineitem")
            } | {"_batches": tuple(con.execute("select * from raw._batches order by batch_id").fetchall())}

    before = raw_state()
    result = reload_reference(settings, ("nation", "customer", "partsupp"))
    after = raw_state()
    assert result.row_counts == {table: before[table][0] for table in ("nation", "customer", "partsupp")}
    for table in ("nation", "customer", "partsupp"):
        assert after[table][0] == before[table][0] and after[table][1] > before[table][1], table
    for kept in ("orders", "lineitem", "_batches"):
        assert after[kept] == before[kept], kept
    # the next build is no full refresh: the incremental models still hold what raw holds
    assert plan_build(settings, full_refresh=False, full_tests=True).full_refresh_reason is None
    from tpch_elt.errors import PipelineError

    with pytest.raises(PipelineError, match="'orders' is not a reference table"):
        reload_reference(settings, ("orders",))
