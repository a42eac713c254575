"""Task bodies of the DAG `promote_environment`: review an environment's diff, promote it once approved.

On the embedded DuckDB warehouse they call tpch_elt.environments (a catalog
swap under the writer lock); on a Snowflake target the promotion is the
project's `promote_environment` macro (`alter database ... swap with ...`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tpch_elt.errors import PipelineError
from tpch_elt.orchestration.hooks import dag_settings

log = logging.getLogger(__name__)


def review(environment: str, force: bool) -> str:
    """The diff an approver reads, as Markdown, once the environment is known to be promotable."""
    from tpch_elt.environments import registry
    from tpch_elt.environments.diff import diff
    from tpch_elt.environments.promotion import check_promotable
    from tpch_elt.reports.environment_diff import markdown, write_diff

    settings = dag_settings()
    if not settings.embedded:
        return (
            f"Promote environment `{environment}` on target `{settings.target}`: the project's "
            "`promote_environment` macro swaps the databases (`alter database ... swap with ...`)."
        )
    env = registry.load(settings, environment)
    check_promotable(settings, env, force=force)  # refused here, before anyone is asked to approve
    result = diff(settings, environment)
    json_path, html_path = write_diff(result, env.directory)
    log.info("diff of %s against prod: %s, %s (%.1f s)", environment, json_path, html_path, result.seconds)
    return markdown(result)


def approver(approval: Any) -> str | None:
    """Who approved, from the approval task's result (Airflow's Human-in-the-loop payload)."""
    if isinstance(approval, dict):
        user = approval.get("responded_by_user") or {}
        name = user.get("name") or user.get("id") if isinstance(user, dict) else None
        if name:
            return f"{name} (Airflow)"
    return None


def promote(environment: str, force: bool, approval: Any) -> dict[str, Any]:
    """Promote `environment` to prod, recorded as approved by the approval's responder."""
    settings = dag_settings()
    if not (isinstance(approval, dict) and approval.get("chosen_options") == ["Approve"]):
        raise PipelineError(
            f"promotion of {environment!r} was not approved (approval: {approval!r}): nothing changed"
        )
    by = approver(approval)
    if not settings.embedded:
        return _promote_on(settings.target, environment, settings)
    from tpch_elt.environments import promotion

    swapped = promotion.promote(settings, environment, force=force, by=by)
    publication = swapped.record.publication
    log.info(
        "promoted %s to prod: publication %d (was %d), approved by %s, %.2f s",
        environment,
        publication.number,
        swapped.replaced,
        by,
        swapped.seconds,
    )
    return {"publication": publication.number, "replaced": swapped.replaced, "by": by}


def _promote_on(target: str, environment: str, settings: Any) -> dict[str, Any]:
    from tpch_elt.transform.dbt import common_dbt_args, dbt_environment, invoke

    args = ["run-operation", "promote_environment", "--args", json.dumps({"environment": environment})]
    with dbt_environment(settings.dbt_env()):
        result = invoke([*args, *common_dbt_args(settings, threads=False)])
    if not result.success:
        raise PipelineError(
            f"promote_environment on {target} failed: {result.exception or 'see the dbt log'}"
        )
    return {"target": target, "environment": environment}
