"""An Airflow task retried after a failure is idempotent.

Python level, no Airflow started: the DAG's `ingest` and `plan_build` tasks
are thin wrappers over `tpch_elt.load.ingest.ingest` and `tpch_elt.transform.build.plan_build`
(checked below against the DAG file), so retrying a task is calling its
callable again with the same DAG run.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from testkit.airflow import DAG_FILE
from testkit.cli import copy_data_dir
from testkit.warehouse import untouched

from tpch_elt.load.ingest import ingest
from tpch_elt.orchestration import tasks as steps
from tpch_elt.settings import Settings
from tpch_elt.transform.build import plan_build

RUN = "airflow dbt_pipeline scheduled__2026-11-27T04:00:00+00:00"
NEXT_RUN = "airflow dbt_pipeline scheduled__2026-11-27T08:00:00+00:00"


@pytest.fixture
def settings(built_template: Path, tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    copy_data_dir(built_template, data_dir)
    return Settings(data_dir=data_dir)


def test_a_retried_ingest_task_changes_nothing(settings: Settings) -> None:
    first = ingest(settings, run_key=RUN)
    assert (first.status, first.batch_id) == ("ingested", 1)
    after_first = untouched(settings.warehouse_path)

    # the task failed after its commit (worker lost, log upload failed, …) and is retried
    retry = ingest(settings, run_key=RUN)

    assert (retry.status, retry.batch_id) == ("already loaded", 1)
    assert retry.loaded_at == first.loaded_at
    assert untouched(settings.warehouse_path) == after_first, "a retry must not ingest another batch"

    # the next DAG run still takes the next batch, once
    later = ingest(settings, run_key=NEXT_RUN)
    assert (later.status, later.batch_id) == ("ingested", 2)
    assert ingest(settings, run_key=NEXT_RUN).status == "already loaded"
    # and a run with nothing left to do stays a no-op
    assert ingest(settings, run_key="airflow dbt_pipeline manual__x").status == "nothing pending"


def test_a_retried_plan_task_decides_the_same_and_writes_nothing(settings: Settings) -> None:
    ingest(settings, run_key=RUN)
    warehouse = settings.warehouse_path
    digest = hashlib.sha256(warehouse.read_bytes()).hexdigest()

    first = plan_build(settings, full_refresh=False, full_tests=False)
    retry = plan_build(settings, full_refresh=False, full_tests=False)

    assert first == retry
    assert first.tests_from_batch == 1, "the increment's tests start at the batch just ingested"
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == digest, "planning writes nothing"


TASKS_FILE = Path(steps.__file__)


def _calls_in(path: Path, function: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def test_the_dag_tasks_are_these_callables_keyed_by_their_run() -> None:
    assert "steps.ingest_next_batch(dag_run)" in {ast.unparse(c) for c in _calls_in(DAG_FILE, "ingest")}
    assert "steps.plan_run(dag_run, params)" in {ast.unparse(c) for c in _calls_in(DAG_FILE, "plan_build")}
    ingest_calls = {ast.unparse(c) for c in _calls_in(TASKS_FILE, "ingest_next_batch")}
    assert "run_ingest(dag_settings(), run_key=ingest_run_key(dag_run))" in ingest_calls
    imports = {
        (n.module, alias.name, alias.asname)
        for n in ast.walk(ast.parse(TASKS_FILE.read_text()))
        if isinstance(n, ast.ImportFrom)
        for alias in n.names
    }
    assert ("tpch_elt.load.ingest", "ingest", "run_ingest") in imports
    assert ("tpch_elt.transform.build", "plan_build", "make_plan") in imports
    assert any(
        ast.unparse(c).startswith("make_plan(dag_settings(),") for c in _calls_in(TASKS_FILE, "plan_run")
    )
