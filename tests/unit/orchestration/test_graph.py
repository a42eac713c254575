"""What the DAG reads off the dbt graph (tpch_elt.orchestration.graph), when a run tests all history
(tpch_elt.orchestration.tasks.wants_full_tests) and which path a plan takes (next_tasks), on small
manifest-shaped dicts: no Airflow, no dbt.

The graph: two staging models on their sources, an intermediate model on
stg_orders, and two marts (fct_orders on int_order_lines and stg_customers,
dim_customer on stg_customers).
"""

from __future__ import annotations

from typing import Any

import pytest

from tpch_elt.orchestration.graph import cross_model_tests, layer_of
from tpch_elt.orchestration.tasks import next_tasks, wants_full_tests

ORDERS_SOURCE = "source.tpch_elt.tpch.orders"
CUSTOMER_SOURCE = "source.tpch_elt.tpch.customer"


def model(name: str, folder: str, *parents: str) -> tuple[str, dict[str, Any]]:
    return f"model.tpch_elt.{name}", {
        "name": name,
        "resource_type": "model",
        "original_file_path": f"models/{folder}/{name}.sql",
        "depends_on": {"nodes": list(parents)},
    }


def data_test(name: str, *reads: str) -> tuple[str, dict[str, Any]]:
    return f"test.tpch_elt.{name}", {
        "name": name,
        "resource_type": "test",
        "original_file_path": f"models/{name}.yml",
        "depends_on": {"nodes": list(reads)},
    }


STG_ORDERS, STG_CUSTOMERS, INT_LINES, FCT_ORDERS, DIM_CUSTOMER = (
    "model.tpch_elt.stg_orders",
    "model.tpch_elt.stg_customers",
    "model.tpch_elt.int_order_lines",
    "model.tpch_elt.fct_orders",
    "model.tpch_elt.dim_customer",
)
MODELS = dict(
    [
        model("stg_orders", "staging", ORDERS_SOURCE),
        model("stg_customers", "staging", CUSTOMER_SOURCE),
        model("int_order_lines", "intermediate", STG_ORDERS),
        model("fct_orders", "mart", INT_LINES, STG_CUSTOMERS),
        model("dim_customer", "mart", STG_CUSTOMERS),
    ]
)


def cross(*tests: tuple[str, dict[str, Any]]) -> dict[str, list[str]]:
    return cross_model_tests({**MODELS, **dict(tests)})


def test_a_test_on_one_model_is_run_by_that_models_task() -> None:
    assert cross(data_test("not_null_stg_orders_order_key", STG_ORDERS)) == {}


def test_a_test_on_a_model_and_its_ancestor_is_run_by_the_descendants_task() -> None:
    assert cross(data_test("fct_orders_customer_in_stg", FCT_ORDERS, STG_CUSTOMERS)) == {}


def test_a_test_on_a_model_and_its_own_source_is_run_by_that_models_task() -> None:
    assert cross(data_test("stg_orders_matches_source", STG_ORDERS, ORDERS_SOURCE)) == {}


def test_a_test_on_sources_only_belongs_to_no_layer() -> None:
    assert cross(data_test("source_unique_orders", ORDERS_SOURCE)) == {}


def test_a_test_on_two_sibling_models_of_one_layer_closes_that_layer() -> None:
    assert cross(data_test("orders_customers_match", STG_ORDERS, STG_CUSTOMERS)) == {
        "staging": ["orders_customers_match"]
    }


def test_a_test_on_models_of_two_layers_closes_the_later_layer() -> None:
    assert cross(data_test("lines_have_customers", STG_CUSTOMERS, INT_LINES)) == {
        "intermediate": ["lines_have_customers"]
    }


def test_cross_model_tests_are_listed_by_name_per_layer() -> None:
    found = cross(
        data_test("z_marts_agree", FCT_ORDERS, DIM_CUSTOMER),
        data_test("a_marts_agree", DIM_CUSTOMER, FCT_ORDERS),
        data_test("orders_customers_match", STG_ORDERS, STG_CUSTOMERS),
        data_test("not_null_dim_customer_key", DIM_CUSTOMER),
    )
    assert found == {"mart": ["a_marts_agree", "z_marts_agree"], "staging": ["orders_customers_match"]}


def test_a_test_reading_a_node_no_model_descends_from_fits_no_model_task() -> None:
    """A seed stg_orders does not read: a model's task cannot run the test, its layer's closing task does."""
    assert cross(data_test("orders_in_calendar", STG_ORDERS, "seed.tpch_elt.calendar")) == {
        "staging": ["orders_in_calendar"]
    }


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        ("models/staging/stg_orders.sql", "staging"),
        ("models/intermediate/int_order_lines.sql", "intermediate"),
        ("models/mart/finance/fct_revenue.sql", "mart"),
        ("models/marts/fct_revenue.sql", None),
        ("models/fct_revenue.sql", None),
        ("seeds/staging/calendar.csv", None),
    ],
)
def test_a_nodes_layer_is_the_folder_under_models_its_file_is_in(path: str, layer: str | None) -> None:
    assert layer_of({"original_file_path": path}) == layer


def test_a_node_without_a_file_has_no_layer() -> None:
    assert layer_of({"name": "x"}) is None


# --- the daily sweep ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "full"),
    [
        ({"full_tests": True}, True),  # the daily sweep's param (always on), or a run asked for it
        ({"full_tests": False}, False),
        ({}, False),
        (None, False),
        # only the boolean the param's schema allows: no truthy text turns a sweep on
        ({"full_tests": "false"}, False),
        ({"full_tests": 1}, False),
    ],
)
def test_a_run_tests_all_history_when_its_full_tests_param_says_so(
    params: dict[str, Any] | None, full: bool
) -> None:
    """No clock rule: the sweep is its own pipeline (daily_sweep), whose runs all have full_tests."""
    assert wants_full_tests(params) is full


def test_an_incremental_plan_takes_the_one_task_path_and_a_sweep_the_per_model_path() -> None:
    incremental = {
        "tests_from_batch": "3",
        "select": "source:tpch.orders+ source:tpch.lineitem+",
        "exclude": "tag:daily tag:full_history",
        "full_refresh": "false",
    }
    sweep = {"tests_from_batch": "", "select": "", "exclude": "", "full_refresh": "false"}
    refresh = {**sweep, "full_refresh": "true"}
    assert next_tasks(incremental) == ["increment"]
    assert next_tasks(sweep) == ["source_tests"]
    assert next_tasks(refresh) == ["source_tests"]
    # a plan from before the increment path (no "select"): the per-model path, as before
    assert next_tasks({"tests_from_batch": "3", "exclude": "tag:daily"}) == ["source_tests"]


def test_a_model_outside_the_layers_never_decides_where_a_cross_model_test_runs() -> None:
    """A staging model and one outside models/{staging,intermediate,mart}: staging closes the test, every time.

    The other model must not rank as a layer of its own (nor as staging): the
    answer may not depend on the order a set of node ids iterates in, so
    sixteen such tests, each with its own ids (own hashes), must all agree.
    """
    nodes = dict(MODELS)
    tests = {}
    for n in range(16):
        scratch_id, scratch = model(f"scratch_{n}", "scratch", ORDERS_SOURCE)
        nodes[scratch_id] = scratch
        test_id, test = data_test(f"scratch_{n}_matches", scratch_id, STG_CUSTOMERS)
        tests[test_id] = test
    assert cross_model_tests({**nodes, **tests}) == {"staging": sorted(t["name"] for t in tests.values())}
