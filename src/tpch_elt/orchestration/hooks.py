"""What runs around each dbt task of the DAG: the writer lock, the exclusion fix-up, the history callback."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tpch_elt.orchestration import DAG_ID
from tpch_elt.settings import Settings

log = logging.getLogger(__name__)

# Writer locks this task process holds, by task: see hold_warehouse.
_held: dict[str, ExitStack] = {}


def dag_settings() -> Settings:
    """The CLI's settings from the environment; without TPCH_ELT_DATA_DIR, `data/` beside the dbt project."""
    return Settings.from_env(default_data_dir=Settings().project_dir.parent / "data")


def run_invocation_id(dag_run: Any) -> str:
    """The id a DAG run has in the observability history (and its publication): its DAG and run ids.

    Each pipeline is its own DAG (airflow/pipelines.yml), and two DAGs'
    scheduled runs can share a run id.
    """
    return f"airflow {getattr(dag_run, 'dag_id', None) or DAG_ID} {dag_run.run_id}"


def hold_warehouse(context: Any) -> None:
    """Before a dbt task: take the CLI's writer lock (tpch_elt.warehouse.lock) for its dbt process.

    The pool already serialises the DAG's own tasks; the lock also keeps a
    `tpch-elt build` started by hand and a DAG run apart: whichever comes
    second fails at once, saying who holds the warehouse, and nothing is
    half-written. The kernel releases the lock if the task process dies.
    """
    from tpch_elt.warehouse.lock import warehouse_lock

    held = ExitStack()
    dag_id = getattr(context["ti"], "dag_id", None) or DAG_ID
    purpose = f"airflow {dag_id} {context['ti'].task_id}"
    held.enter_context(warehouse_lock(dag_settings().warehouse_path, purpose))
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

    settings = dag_settings()
    if not settings.embedded or not enabled() or context is None:
        return
    try:
        added = record_run_part(settings, Path(project_dir) / "target", run_invocation_id(context["dag_run"]))
        log.info("observability: %d dbt result(s) recorded for this run", added)
    except Exception as exc:
        log.warning(
            "observability history not recorded for this dbt command (%s); the task is unaffected", exc
        )
