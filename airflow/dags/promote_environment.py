"""`promote_environment`: show an environment's diff against prod, wait for a person to approve it, promote it.

Triggered by hand (never scheduled) with the environment's name:

    review    refuses at once an environment that may not be promoted (its
              last build failed its audit, prod moved since it was built,
              it does not exist); otherwise writes its diff (JSON, HTML) and
              returns it as Markdown
    approve   Airflow's Human-in-the-loop approval: the run waits, showing
              the diff, until someone chooses Approve or Reject in the UI (or
              the API); Reject skips the promotion
    promote   `tpch-elt env promote NAME`: one catalog swap, recorded with
              the approver's name (on Snowflake: the project's
              `promote_environment` macro, a database swap)

So every promotion is visible in the UI: who approved which diff, when.
`dbt_pipeline` keeps building prod; both take the one slot of the
warehouse pool, so a promotion waits for a running build instead of
failing on its lock. Wiring only: the task bodies are
`tpch_elt.orchestration.promotion`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, task

from tpch_elt.orchestration import PROMOTE_DAG_ID, WAREHOUSE_POOL
from tpch_elt.orchestration import promotion as steps
from tpch_elt.orchestration.hooks import dag_settings

settings = dag_settings()
pool = WAREHOUSE_POOL if settings.embedded else None


@task(pool=pool)
def review(params: dict[str, Any] | None = None) -> str:
    """The environment's diff against prod, as the approver reads it."""
    chosen = params or {}
    return steps.review(str(chosen["environment"]), bool(chosen.get("force")))


@task(pool=pool)
def promote(params: dict[str, Any] | None = None, ti: Any = None) -> dict[str, Any]:
    """Promote the approved environment: one catalog swap, recorded with the approver."""
    chosen = params or {}
    approval = ti.xcom_pull(task_ids="approve") if ti is not None else None
    return steps.promote(str(chosen["environment"]), bool(chosen.get("force")), approval)


with DAG(
    dag_id=PROMOTE_DAG_ID,
    description="Promote an environment to prod after a person approves its diff",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    params={
        "environment": Param(
            "dev",
            type="string",
            pattern="^[a-z][a-z0-9_]{0,39}$",
            description="The environment to promote (`tpch-elt env list`)",
        ),
        "force": Param(
            False,
            type="boolean",
            description="Promote although prod moved since the environment was built (the diff shows it)",
        ),
    },
    doc_md=__doc__,
    tags=["tpch", "environments"],
) as dag:
    diff = review()
    approve = ApprovalOperator(
        task_id="approve",
        subject="Promote {{ params.environment }} to prod?",
        body="{{ ti.xcom_pull(task_ids='review') }}",
        response_timeout=timedelta(days=7),
    )
    diff >> approve >> promote()
