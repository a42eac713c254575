"""Which marts a build rebuilt (tpch_elt.publish.plan), on dbt nodes shaped like the manifest's."""

from __future__ import annotations

from typing import Any

from tpch_elt.publish.plan import PublicationPlan, excluded_tags, plan_publication


def node(
    name: str,
    *,
    schema: str = "mart",
    resource_type: str = "model",
    tags: list[str] | None = None,
    materialized: str = "table",
    unique_key: Any = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {"materialized": materialized}
    if unique_key is not None:
        config["unique_key"] = unique_key
    return {
        "name": name,
        "resource_type": resource_type,
        "schema": schema,
        "tags": tags or [],
        "config": config,
    }


def test_only_models_in_the_mart_schema_are_published() -> None:
    plan = plan_publication(
        [
            node("stg_orders", schema="staging"),
            node("int_order_lines", schema="intermediate"),
            node("fct_revenue"),
        ]
    )
    assert plan == PublicationPlan(frozenset({"fct_revenue"}), {})


def test_nodes_other_than_models_are_ignored_even_in_the_mart_schema() -> None:
    plan = plan_publication(
        [
            node("not_null_fct_revenue_id", resource_type="test"),
            node("calendar", resource_type="seed"),
            node("revenue_snapshot", resource_type="snapshot"),
            node("fct_revenue"),
        ]
    )
    assert plan.rebuilt == frozenset({"fct_revenue"})


def test_a_mart_with_a_skipped_tag_is_left_out() -> None:
    models = [node("daily_rollup", tags=["daily", "finance"]), node("fct_revenue", tags=["finance"])]
    assert plan_publication(models, skipped_tags={"daily"}).rebuilt == frozenset({"fct_revenue"})


def test_a_tagged_mart_is_published_when_its_tag_is_not_skipped() -> None:
    models = [node("daily_rollup", tags=["daily"]), node("untagged", tags=None)]
    assert plan_publication(models, skipped_tags={"full_history"}).rebuilt == frozenset(
        {"daily_rollup", "untagged"}
    )


def test_an_incremental_mart_with_one_unique_key_may_be_published_by_its_new_rows() -> None:
    plan = plan_publication([node("fct_orders", materialized="incremental", unique_key="order_key")])
    assert plan.keys == {"fct_orders": "order_key"}


def test_an_incremental_mart_with_a_composite_unique_key_is_rewritten_whole() -> None:
    plan = plan_publication(
        [node("fct_lines", materialized="incremental", unique_key=["order_key", "line_number"])]
    )
    assert plan == PublicationPlan(frozenset({"fct_lines"}), {})


def test_a_table_mart_has_no_key_even_with_a_unique_key_configured() -> None:
    plan = plan_publication([node("dim_customer", unique_key="customer_key")])
    assert plan == PublicationPlan(frozenset({"dim_customer"}), {})


def test_an_incremental_model_outside_the_marts_gives_no_key() -> None:
    plan = plan_publication(
        [node("stg_fct_orders", schema="staging", materialized="incremental", unique_key="order_key")]
    )
    assert plan == PublicationPlan(frozenset(), {})


def test_excluded_tags_are_read_from_tag_selectors_only() -> None:
    selectors = ["tag:daily", "path:models/mart", "tag:full_history", "daily", "source:tpch.orders+"]
    assert excluded_tags(selectors) == frozenset({"daily", "full_history"})
