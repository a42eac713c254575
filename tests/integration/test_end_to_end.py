"""`tpch-elt run` end to end, as a user runs it, on a tiny scale factor."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from testkit.cli import E2E_BATCHES, Pipeline

from tpch_elt.tpch import TABLES

MODELS = {
    "staging": [
        "stg_dim_region",
        "stg_dim_nation",
        "stg_dim_customer",
        "stg_dim_supplier",
        "stg_dim_part",
        "stg_fct_orders",
        "stg_fct_lineitem",
        "stg_fct_partsupp",
    ],
    "intermediate": [
        "int_order_lineitems_base",
        "int_order_lineitems",
        "int_customer_orders",
        "int_supplier_parts",
    ],
    "mart": [
        "mart_orders",
        "mart_customer_summary",
        # business-insight marts (BQ01..BQ16, see tests/test_insights.py)
        "mart_product_performance",
        "mart_customer_segments",
        "mart_sales_trends",
        "mart_discount_impact",
        "mart_supplier_performance",
        "mart_shipping_routes",
        "mart_shipping_modes",
        "mart_customer_geography",
        "mart_geographic_preferences",
        "mart_churn_risk",
        "mart_order_anomalies",
        "mart_part_supply_risk",
        "mart_inventory_health",
    ],
}

COLUMN_CONTRACT = {
    ("intermediate", "int_order_lineitems"): [
        "order_key",
        "line_number",
        "customer_key",
        "part_key",
        "supplier_key",
        "order_date",
        "order_priority",
        "quantity",
        "extended_price",
        "discount",
        "tax",
        "return_flag",
        "line_status",
        "ship_date",
        "commit_date",
        "receipt_date",
        "ship_mode",
        "net_revenue",
        "gross_revenue",
    ],
    ("mart", "mart_orders"): [
        "order_key",
        "customer_key",
        "customer_name",
        "market_segment",
        "order_date",
        "order_status",
        "order_priority",
        "ship_priority",
        "total_price",
        "total_quantity",
        "line_count",
        "net_revenue",
        "gross_revenue",
        "nation_name",
        "region_name",
    ],
    ("mart", "mart_customer_summary"): [
        "customer_key",
        "customer_name",
        "nation_name",
        "region_name",
        "market_segment",
        "order_count",
        "lifetime_value",
    ],
}

Q1 = """
select
    {flag} as return_flag,
    {status} as line_status,
    sum({qty}) as sum_qty,
    sum({price}) as sum_base_price,
    sum({price} * (1 - {disc})) as sum_disc_price,
    sum({price} * (1 - {disc}) * (1 + {tax})) as sum_charge,
    avg({qty}) as avg_qty,
    avg({price}) as avg_price,
    avg({disc}) as avg_disc,
    count(*) as count_order
from {table}
where {ship} <= date '1998-09-02'
group by 1, 2
order by 1, 2
"""


def test_run_says_where_the_marts_are(pipeline: Pipeline) -> None:
    assert "Marts ready" in pipeline.stdout
    assert str(pipeline.warehouse) in pipeline.stdout.replace("\n", "")
    assert "mart.mart_orders: 15,000 rows" in pipeline.stdout


def test_layers_live_in_exactly_named_schemas(pipeline: Pipeline) -> None:
    found = pipeline.rows(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'staging', 'intermediate', 'mart')"
    )
    by_schema: dict[str, set[str]] = {}
    for schema, name in found:
        by_schema.setdefault(schema, set()).add(name)
    for schema, models in MODELS.items():
        assert set(models) <= by_schema.get(schema, set()), schema
    assert {t.name for t in TABLES} <= by_schema["raw"]


def test_raw_holds_tpch_cardinalities_with_load_metadata(pipeline: Pipeline) -> None:
    for spec in TABLES:
        rows, batches, null_loaded = pipeline.rows(
            f"select count(*), count(distinct _batch_id), count(*) - count(_loaded_at) from raw.{spec.name}"
        )[0]
        expected = spec.expected_rows(pipeline.scale_factor)
        if expected is not None:
            assert rows == expected, spec.name
        assert null_loaded == 0, spec.name
        # dimensions arrive once; orders and lines in the initial load + batches
        expected_batches = E2E_BATCHES + 1 if spec.name in ("orders", "lineitem") else 1
        assert batches == expected_batches, spec.name


@pytest.mark.parametrize(("schema", "model"), sorted(COLUMN_CONTRACT))
def test_column_contract_is_kept(pipeline: Pipeline, schema: str, model: str) -> None:
    columns = {
        row[0]
        for row in pipeline.rows(
            f"select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{model}'"
        )
    }
    missing = [c for c in COLUMN_CONTRACT[(schema, model)] if c not in columns]
    assert not missing, f"{schema}.{model} lacks {missing}"


def test_money_is_decimal_end_to_end(pipeline: Pipeline) -> None:
    money = {
        ("staging", "stg_fct_lineitem", "extended_price"),
        ("intermediate", "int_order_lineitems", "net_revenue"),
        ("intermediate", "int_order_lineitems", "gross_revenue"),
        ("mart", "mart_orders", "total_price"),
        ("mart", "mart_orders", "net_revenue"),
        ("mart", "mart_orders", "gross_revenue"),
        ("mart", "mart_customer_summary", "lifetime_value"),
    }
    for schema, model, column in money:
        data_type = pipeline.scalar(
            f"select data_type from information_schema.columns where table_schema = '{schema}' "
            f"and table_name = '{model}' and column_name = '{column}'"
        )
        assert data_type.startswith("DECIMAL"), f"{schema}.{model}.{column} is {data_type}"


def test_grains_match_raw(pipeline: Pipeline) -> None:
    assert pipeline.rows("select count(*), count(distinct order_key) from mart.mart_orders") == pipeline.rows(
        "select count(*), count(*) from raw.orders"
    )
    # Customers without orders are kept in the summary.
    assert pipeline.rows(
        "select count(*), count(distinct customer_key), sum(case when has_orders then 0 else 1 end) > 0 "
        "from mart.mart_customer_summary"
    ) == [(pipeline.scalar("select count(*) from raw.customer"),) * 2 + (True,)]
    assert pipeline.scalar("select count(*) from intermediate.int_order_lineitems") == pipeline.scalar(
        "select count(*) from raw.lineitem"
    )
    assert pipeline.scalar("select count(*) from intermediate.int_supplier_parts") == pipeline.scalar(
        "select count(*) from raw.partsupp"
    )


def test_money_reconciles_with_raw_to_the_cent(pipeline: Pipeline) -> None:
    raw = pipeline.rows(
        "select sum(l_extendedprice * (1 - l_discount)), "
        "sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)), sum(l_quantity) from raw.lineitem"
    )[0]
    mart = pipeline.rows(
        "select sum(net_revenue), sum(gross_revenue), sum(total_quantity) from mart.mart_orders"
    )[0]
    assert all(isinstance(v, Decimal) for v in mart)
    assert mart == raw
    assert pipeline.scalar("select sum(total_price) from mart.mart_orders") == pipeline.scalar(
        "select sum(o_totalprice) from raw.orders"
    )
    assert pipeline.scalar("select sum(lifetime_value) from mart.mart_customer_summary") == raw[0]


def test_q1_pricing_summary_from_int_order_lineitems_equals_raw(pipeline: Pipeline) -> None:
    from_model = pipeline.rows(
        Q1.format(
            flag="return_flag",
            status="line_status",
            qty="quantity",
            price="extended_price",
            disc="discount",
            tax="tax",
            ship="ship_date",
            table="intermediate.int_order_lineitems",
        )
    )
    from_raw = pipeline.rows(
        Q1.format(
            flag="l_returnflag",
            status="l_linestatus",
            qty="l_quantity",
            price="l_extendedprice",
            disc="l_discount",
            tax="l_tax",
            ship="l_shipdate",
            table="raw.lineitem",
        )
    )
    assert len(from_model) == 4
    assert from_model == from_raw


def test_customer_summary_is_as_of_the_data_not_today(pipeline: Pipeline) -> None:
    as_of = pipeline.scalar("select max(o_orderdate) from raw.orders")
    assert pipeline.rows("select distinct as_of_date from mart.mart_customer_summary where has_orders") == [
        (as_of,)
    ]
    # recency is measured from that date
    assert pipeline.scalar("select min(recency_days) from mart.mart_customer_summary where has_orders") == 0


def test_rfm_scores_are_quintiles_of_ordering_customers(pipeline: Pipeline) -> None:
    per_score = pipeline.rows(
        "select r_score, count(*) from mart.mart_customer_summary where has_orders group by 1 order by 1"
    )
    assert [score for score, _ in per_score] == [1, 2, 3, 4, 5]
    counts = [n for _, n in per_score]
    assert max(counts) - min(counts) <= 1
    assert (
        pipeline.scalar(
            "select count(*) from mart.mart_customer_summary "
            "where not has_orders and (r_score is not null or rfm_segment <> 'No orders' or is_churn_risk)"
        )
        == 0
    )


def test_every_model_and_column_is_documented_and_tested(pipeline: Pipeline) -> None:
    manifest = json.loads((pipeline.data_dir / "dbt" / "target" / "manifest.json").read_text())
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "tpch_elt"
    }
    assert set(models) == {m for layer in MODELS.values() for m in layer}
    tested = {
        parent
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        for parent in node["depends_on"]["nodes"]
    }
    for name, node in models.items():
        assert node["description"].strip(), f"{name} has no description"
        assert node["columns"], f"{name} documents no columns"
        undocumented = [c for c, meta in node["columns"].items() if not meta["description"].strip()]
        assert not undocumented, f"{name}: undocumented columns {undocumented}"
        assert node["unique_id"] in tested, f"{name} has no tests"


def test_the_build_leaves_dbts_artifacts_for_every_command(pipeline: Pipeline) -> None:
    """manifest.json and run_results.json from the build, sources.json from its freshness check
    (which runs with --no-write-json and has the file written from its result)."""
    target = pipeline.data_dir / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    run_results = json.loads((target / "run_results.json").read_text())
    sources = json.loads((target / "sources.json").read_text())
    assert "model.tpch_elt.mart_orders" in manifest["nodes"]
    assert {r["unique_id"] for r in run_results["results"]} >= {"model.tpch_elt.mart_orders"}
    assert sources["metadata"]["dbt_schema_version"].endswith("/sources/v3.json")
    freshness = {r["unique_id"]: r["status"] for r in sources["results"]}
    assert set(freshness) == {f"source.tpch_elt.tpch.{t.name}" for t in TABLES}, freshness
    assert set(freshness.values()) == {"pass"}


def test_documented_columns_match_the_built_columns(pipeline: Pipeline) -> None:
    manifest = json.loads((pipeline.data_dir / "dbt" / "target" / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["package_name"] != "tpch_elt":
            continue
        built = {
            row[0]
            for row in pipeline.rows(
                f"select column_name from information_schema.columns "
                f"where table_schema = '{node['schema']}' and table_name = '{node['name']}'"
            )
        }
        assert set(node["columns"]) == built, node["name"]
