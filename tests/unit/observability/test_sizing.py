"""The warehouse-size recommender's arithmetic, its dbt_project.yml block, and the Snowflake
credits SQL as rendered (it runs on the emulator in tests/integration/test_snowflake_cost_emulated.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest
import yaml

from tpch_elt.errors import PipelineError
from tpch_elt.observability import sizing, snowflake_cost
from tpch_elt.observability.snowflake_cost import CREDITS_PER_HOUR, SIZES
from tpch_elt.observability.store import ensure_schema, insert_rows

MB = 1024 * 1024
RATE = sizing.XSMALL_BYTES_PER_SECOND  # 200 MB/s per XSMALL


def test_sizes_double_in_credits_from_xsmall_to_6xlarge() -> None:
    assert SIZES[0] == "XSMALL" and SIZES[-1] == "6XLARGE" and len(SIZES) == 10
    assert [CREDITS_PER_HOUR[s] for s in SIZES] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


@pytest.mark.parametrize(
    ("bytes_scanned", "expected"),
    [
        (0, "XSMALL"),
        (RATE * 60, "XSMALL"),  # exactly 60 s on an XSMALL
        (RATE * 60 + 1, "SMALL"),
        (RATE * 60 * 2, "SMALL"),
        (RATE * 60 * 2 + 1, "MEDIUM"),
        (RATE * 60 * 512, "6XLARGE"),
    ],
)
def test_the_smallest_size_under_the_target_at_the_boundaries(bytes_scanned: int, expected: str) -> None:
    size, meets = sizing.smallest_size(bytes_scanned, 60)
    assert (size, meets) == (expected, True)
    assert sizing.estimated_seconds(bytes_scanned, size, RATE) <= 60
    if size != "XSMALL":  # one size smaller would miss the target
        assert sizing.estimated_seconds(bytes_scanned, SIZES[SIZES.index(size) - 1], RATE) > 60


def test_beyond_the_largest_size_it_says_so() -> None:
    assert sizing.smallest_size(RATE * 60 * 512 + 1, 60) == ("6XLARGE", False)


def test_recommendations_scale_estimate_seconds_and_credits() -> None:
    measured = [("model.p.a", "a", 100 * MB), ("model.p.b", "b", 10 * MB)]
    recs = sizing.recommend(measured, target_seconds=1, scale=10, xsmall_bytes_per_second=100 * MB)
    assert [r.name for r in recs] == ["a", "b"]
    a, b = recs
    assert a.bytes_scanned == 1000 * MB and a.size == "XLARGE"  # 10 s on an XSMALL: 16 nodes
    assert a.seconds == pytest.approx(10 / 16)
    assert a.credits == pytest.approx(10 / 16 * 16 / 3600)
    assert b.size == "XSMALL" and b.seconds == pytest.approx(1.0) and b.meets_target
    with pytest.raises(ValueError):
        sizing.smallest_size(1, 0)


def test_the_dbt_project_block_nests_by_folder_and_quotes_odd_names() -> None:
    recs = sizing.recommend(
        [("model.p.a", "a", 10), ("model.p.b", "b", 10), ("model.p.odd", "odd", 10), ("model.p.x", "x", 10)],
        target_seconds=60,
    )
    fqns = {
        "model.p.a": ["p", "mart", "core", "a"],
        "model.p.b": ["p", "staging", "b"],
        "model.p.odd": ["p", 'we"ird: x'],
    }
    text = sizing.dbt_project_block(recs, fqns, "WH_{size}")
    assert yaml.safe_load(text) == {
        "models": {
            "p": {
                "mart": {"core": {"a": {"+snowflake_warehouse": "WH_XSMALL"}}},
                "staging": {"b": {"+snowflake_warehouse": "WH_XSMALL"}},
                'we"ird: x': {"+snowflake_warehouse": "WH_XSMALL"},
            }
        }
    }
    with pytest.raises(ValueError):
        sizing.dbt_project_block(recs, fqns, "WH")


def test_the_credits_sql_is_checked_and_maps_every_size_spelling() -> None:
    sql = snowflake_cost.attribution_sql(
        since=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), invocation_id="0b1f-9a"
    )
    assert "from SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY" in sql
    assert "'2026-01-02 03:04:05'::timestamp_ltz" in sql
    assert "tag:invocation_id::varchar = '0b1f-9a'" in sql
    assert (
        "when 'XSMALL' then 1 " in sql
        and "when 'X6LARGE' then 512" in sql
        and "when 'XXLARGE' then 32" in sql
    )
    assert "invocation_id::varchar =" not in snowflake_cost.attribution_sql(
        since=datetime(2026, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(PipelineError):
        snowflake_cost.attribution_sql(since=datetime(2026, 1, 1, tzinfo=UTC), relation="x; drop table y")
    with pytest.raises(PipelineError):
        snowflake_cost.attribution_sql(since=datetime(2026, 1, 1, tzinfo=UTC), invocation_id="1' or '1'='1")


def test_the_query_tag_is_json_with_the_model_and_the_invocation() -> None:
    tag = json.loads(snowflake_cost.query_tag("inv", "model.p.a", "tpch-elt"))
    assert tag == {"app": "tpch-elt", "invocation_id": "inv", "unique_id": "model.p.a", "run": "tpch-elt"}


def test_snowflake_rows_become_model_costs_rows() -> None:
    costs = snowflake_cost.parse_rows(
        [["inv", "model.p.a", "Medium", 2, Decimal("5400.0"), "13", "4000", "30", 3.0]]
    )
    assert costs[0].credits == 3.0 and costs[0].bytes_scanned == 4000 and costs[0].seconds == 5400.0
    row = snowflake_cost.cost_rows(costs, datetime(2026, 1, 1, tzinfo=UTC))[0]
    assert row[:4] == ("inv", "model.p.a", "a", "snowflake_query_history") and row[13] == 3.0


class _Cursor:
    """A DB-API cursor that returns canned rows and keeps the SQL it was given."""

    def __init__(self, rows: list[list[object]]) -> None:
        self.rows, self.executed = rows, []

    def execute(self, sql: str) -> None:
        self.executed.append(sql)

    def fetchall(self) -> list[list[object]]:
        return self.rows


def test_fetching_runs_the_rendered_sql_and_its_rows_fit_model_costs() -> None:
    cursor = _Cursor([["inv", "model.p.a", "Small", 1, 2.5, 0, 10, 0, Decimal("0.25")]])
    since = datetime(2026, 1, 1, tzinfo=UTC)
    costs = snowflake_cost.fetch_costs(cursor, since=since, invocation_id="0b7f3c1e")
    assert cursor.executed == [snowflake_cost.attribution_sql(since=since, invocation_id="0b7f3c1e")]
    con = duckdb.connect()
    ensure_schema(con)
    insert_rows(con, "model_costs", snowflake_cost.cost_rows(costs, datetime(2026, 1, 2)))  # noqa: DTZ001
    assert con.execute(
        "select unique_id, source, credits, warehouse_size from observability.model_costs"
    ).fetchall() == [("model.p.a", "snowflake_query_history", 0.25, "Small")]
