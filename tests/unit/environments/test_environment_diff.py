"""`env diff` on a tiny store: by key, as whole rows, money totals, and its page (no dbt)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from testkit.environments import stand_in_build, tiny_prod

from tpch_elt.environments import registry
from tpch_elt.environments.diff import diff, primary_keys
from tpch_elt.reports.environment_diff import write_diff

ORDERS = "select range as k, 'open' as status, (range * 1.25)::decimal(12, 2) as amount from range(10)"


def _manifest(env: registry.Environment, key: dict[str, object]) -> None:
    """A manifest in the environment's target dir declaring `orders`' grain as `key` says."""
    nodes: dict[str, object] = {
        "model.p.orders": {
            "resource_type": "model",
            "name": "orders",
            "schema": "mart",
            "config": {"unique_key": key.get("unique_key")},
            "columns": {"status": {}, "k": {}},
        }
    }
    if "unique" in key:
        nodes["test.p.unique_orders"] = {
            "resource_type": "test",
            "attached_node": "model.p.orders",
            "test_metadata": {"name": "unique", "kwargs": {"column_name": key["unique"]}},
        }
    env.manifest.parent.mkdir(parents=True, exist_ok=True)
    env.manifest.write_text(json.dumps({"nodes": nodes}))


def test_rows_added_removed_and_changed_by_key_with_samples_and_money(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path, ORDERS)
    registry.create(settings, "dev")
    # k 0 removed, k 10 and 11 added, k 3 and 4 change status, k 4 changes amount
    env = stand_in_build(
        settings,
        "dev",
        "select range as k, case when range in (3, 4) then 'closed' else 'open' end as status, "
        "(range * 1.25 + case when range = 4 then 100 else 0 end)::decimal(12, 2) as amount "
        "from range(1, 12)",
    )
    _manifest(env, {"unique": "k"})
    result = diff(settings, "dev")
    by_mart = {m.mart: m for m in result.marts}
    assert by_mart["customers"].status == "unchanged"  # same segments: no row read
    orders = by_mart["orders"]
    assert orders.key == ["k"] and orders.status == "changed"
    assert (orders.rows_before, orders.rows_after) == (10, 11)
    assert (orders.added, orders.removed, orders.changed) == (2, 1, 2)
    columns = {c.column: c for c in orders.columns}
    assert columns["status"].changed == 2 and columns["amount"].changed == 1
    assert columns["status"].samples == [
        {"key": "3", "before": "open", "after": "closed"},
        {"key": "4", "before": "open", "after": "closed"},
    ]
    (money,) = orders.money
    before = sum(Decimal(k) * Decimal("1.25") for k in range(10))
    after = sum(Decimal(k) * Decimal("1.25") for k in range(1, 12)) + 100
    assert (Decimal(money.before or "0"), Decimal(money.after or "0")) == (before, after)
    assert Decimal(money.difference or "0") == after - before
    assert [m.mart for m in result.differing] == ["orders"]


def test_a_key_that_is_not_unique_or_not_declared_falls_back_to_whole_rows(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path, ORDERS)
    registry.create(settings, "dev")
    env = stand_in_build(
        settings, "dev", f"{ORDERS} union all select 1, 'open', 1.25::decimal(12, 2)"
    )  # k 1 twice
    _manifest(env, {"unique": "k"})
    orders = next(m for m in diff(settings, "dev").marts if m.mart == "orders")
    assert orders.key == [] and "not unique" in orders.note
    assert (orders.added, orders.removed, orders.changed) == (1, 0, 0)
    _manifest(env, {})
    orders = next(m for m in diff(settings, "dev").marts if m.mart == "orders")
    assert "no key" in orders.note and orders.added == 1


def test_a_rewritten_mart_with_the_same_rows_is_identical(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path, ORDERS)
    registry.create(settings, "dev")
    env = stand_in_build(settings, "dev", ORDERS)
    _manifest(env, {"unique_key": "k"})
    orders = next(m for m in diff(settings, "dev").marts if m.mart == "orders")
    assert orders.status == "identical" and orders.key == ["k"]


def test_the_page_and_json_escape_what_comes_from_data(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path, ORDERS)
    registry.create(settings, "dev")
    hostile = "<script>alert(1)</script>"
    env = stand_in_build(
        settings,
        "dev",
        f"select range as k, case when range = 2 then '{hostile}' else 'open' end as status, "
        f'(range * 1.25)::decimal(12, 2) as amount, 1 as "<img src=x onerror=alert(2)>" from range(10)',
    )
    _manifest(env, {"unique": "k"})
    result = diff(settings, "dev")
    json_path, html_path = write_diff(result, env.directory)
    page = html_path.read_text()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x" in page
    assert "http://" not in page and "https://" not in page
    data = json.loads(json_path.read_text())
    orders = next(m for m in data["marts"] if m["mart"] == "orders")
    assert orders["columns_added"] == ["<img src=x onerror=alert(2)>"]
    assert orders["columns"][0]["samples"][0]["after"] == hostile


def test_primary_keys_follow_the_tests_that_declare_a_grain() -> None:
    manifest = {
        "nodes": {
            "model.p.a": {
                "resource_type": "model",
                "name": "a",
                "schema": "mart",
                "config": {"unique_key": "id"},
            },
            "model.p.b": {"resource_type": "model", "name": "b", "schema": "mart", "config": {}},
            "model.p.c": {
                "resource_type": "model",
                "name": "c",
                "schema": "mart",
                "config": {},
                "columns": {"key": {}, "rank": {}},
            },
            "model.p.s": {"resource_type": "model", "name": "s", "schema": "staging", "config": {}},
            "test.p.b": {
                "resource_type": "test",
                "attached_node": "model.p.b",
                "test_metadata": {
                    "name": "unique_combination_of_columns",
                    "kwargs": {"combination_of_columns": ["x", "y"]},
                },
            },
            "test.p.c1": {
                "resource_type": "test",
                "attached_node": "model.p.c",
                "test_metadata": {"name": "unique", "kwargs": {"column_name": "rank"}},
            },
            "test.p.c2": {
                "resource_type": "test",
                "attached_node": "model.p.c",
                "test_metadata": {"name": "unique", "kwargs": {"column_name": "key"}},
            },
        }
    }
    assert primary_keys(manifest) == {"a": ["id"], "b": ["x", "y"], "c": ["key"]}
    assert primary_keys(None) == {}
