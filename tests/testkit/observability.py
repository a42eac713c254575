"""A tiny warehouse and the dbt artifacts that describe builds of it, for observability's unit tests.

Each test writes its own history: `Warehouse.build()` adds a batch to
raw.orders and records a dbt invocation of it, as `tpch-elt build` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tpch_elt.observability.record import record_artifact
from tpch_elt.observability.store import SCHEMA

T0 = datetime(2026, 1, 1, 0, 0, 0)  # noqa: DTZ001 - _loaded_at is naive UTC, as in raw
SOURCE = "source.p.tpch.orders"
MODEL = "model.p.stg_orders"
TEST = "test.p.not_null_stg_orders_order_comment.abc"
UNIT = "unit_test.p.stg_orders.totals"
DEFAULTS = {"anomaly_defaults": {"sensitivity": 3, "min_training_size": 5, "training_runs": 14}}

# -- a tiny warehouse and dbt artifacts that describe builds of it ---------------------


def manifest(model_meta: dict | None = None, column_meta: dict | None = None) -> dict:
    column = {
        "name": "order_comment",
        "description": "Comment.",
        "meta": {},
        "config": {"meta": column_meta or {}},
    }
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "sources": {
            SOURCE: {
                "unique_id": SOURCE,
                "resource_type": "source",
                "name": "orders",
                "identifier": "orders",
                "source_name": "tpch",
                "schema": "raw",
                "fqn": ["p", "staging", "tpch", "orders"],
                "description": "Orders.",
                "columns": {},
                "meta": {},
                "source_meta": {},
                "config": {"enabled": True, "meta": DEFAULTS},
            }
        },
        "nodes": {
            MODEL: {
                "unique_id": MODEL,
                "resource_type": "model",
                "name": "stg_orders",
                "alias": "stg_orders",
                "schema": "staging",
                "fqn": ["p", "staging", "stg_orders"],
                "description": "",
                "config": {
                    "enabled": True,
                    "materialized": "incremental",
                    "meta": {**DEFAULTS, **({"anomaly": model_meta} if model_meta else {})},
                },
                "columns": {"order_comment": column},
                "depends_on": {"nodes": [SOURCE]},
            },
            TEST: {
                "unique_id": TEST,
                "resource_type": "test",
                "name": "not_null_stg_orders_order_comment",
                "test_metadata": {"name": "not_null"},
                "attached_node": MODEL,
                "column_name": "order_comment",
                "config": {"severity": "error"},
                "depends_on": {"nodes": [MODEL]},
            },
        },
        "exposures": {},
        "unit_tests": {UNIT: {"unique_id": UNIT, "depends_on": {"nodes": [MODEL]}}},
    }


def run_results(
    invocation_id: str, started: datetime, *, test_status: str = "pass", failures: int = 0
) -> dict:
    def iso(value: datetime) -> str:
        return value.isoformat() + "Z"

    timing = [
        {"name": "execute", "started_at": iso(started), "completed_at": iso(started + timedelta(seconds=2))}
    ]
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.11.16",
            "invocation_id": invocation_id,
            "invocation_started_at": iso(started),
            "generated_at": iso(started + timedelta(seconds=5)),
        },
        "elapsed_time": 5.0,
        "args": {"which": "build", "select": [], "exclude": ["tag:daily"], "target": "dev"},
        "results": [
            {
                "unique_id": MODEL,
                "status": "success",
                "timing": timing,
                "execution_time": 2.0,
                "adapter_response": {"_message": "OK", "rows_affected": 10},
                "message": None,
                "failures": None,
                "compiled_code": "select 1",
            },
            {
                "unique_id": TEST,
                "status": test_status,
                "timing": timing,
                "execution_time": 0.1,
                "adapter_response": {},
                "message": None,
                "failures": failures,
                "compiled_code": "select * from staging.stg_orders where order_comment is null",
            },
            {
                "unique_id": UNIT,
                "status": "pass",
                "timing": timing,
                "execution_time": 0.1,
                "adapter_response": {},
                "message": None,
                "failures": 0,
                "compiled_code": None,
            },
        ],
    }


def sources_json(invocation_id: str, started: datetime, age_hours: float) -> dict:
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": "1.11.16",
            "invocation_id": invocation_id,
            "invocation_started_at": started.isoformat() + "Z",
            "generated_at": started.isoformat() + "Z",
        },
        "elapsed_time": 0.1,
        "results": [
            {
                "unique_id": SOURCE,
                "status": "warn" if age_hours > 12 else "pass",
                "max_loaded_at": (started - timedelta(hours=age_hours)).isoformat() + "+00:00",
                "snapshotted_at": started.isoformat() + "+00:00",
                "max_loaded_at_time_ago_in_s": age_hours * 3600,
                "criteria": {
                    "warn_after": {"count": 12, "period": "hour"},
                    "error_after": {"count": 48, "period": "hour"},
                },
                "adapter_response": {},
                "timing": [],
                "execution_time": 0.01,
            }
        ],
    }


class Warehouse:
    """raw.orders and its incremental copy staging.stg_orders, built batch by batch."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.batch = -1
        self.builds = 0
        con.execute("create schema raw")
        con.execute("create schema staging")
        con.execute(
            "create table raw.orders (o_orderkey bigint, o_comment varchar, "
            "o_totalprice decimal(15,2), _batch_id integer, _loaded_at timestamp)"
        )
        con.execute(
            "create table staging.stg_orders (order_key bigint, order_comment varchar, "
            "total_price decimal(15,2), _batch_id integer, _loaded_at timestamp)"
        )

    def started(self) -> datetime:
        return T0 + timedelta(hours=4 * self.builds)

    def build(
        self,
        rows: int = 100,
        *,
        null_comments: int = 0,
        meta: dict | None = None,
        stale_hours: float = 0,
        test_status: str = "pass",
    ) -> str:
        """Ingest one batch of `rows` orders, 'build' it, record the build."""
        self.batch += 1
        started = self.started()
        loaded_at = started - timedelta(minutes=2, hours=stale_hours)
        first = self.con.execute("select coalesce(max(o_orderkey), 0) from raw.orders").fetchall()[0][0]
        self.con.execute(
            "insert into raw.orders by name select i as o_orderkey, "
            "case when i - ? <= ? then null else 'comment ' || i end as o_comment, "
            "i % 1000 + 0.5 as o_totalprice, ? as _batch_id, ? as _loaded_at from range(? + 1, ? + 1 + ?) as t(i)",
            [first, null_comments, self.batch, loaded_at, first, first, rows],
        )
        self.con.execute(
            "insert into staging.stg_orders select o_orderkey, o_comment, o_totalprice, _batch_id, "
            "_loaded_at from raw.orders where _batch_id = ?",
            [self.batch],
        )
        failures = self.con.execute(
            "select count(*) from staging.stg_orders where order_comment is null"
        ).fetchall()[0][0]
        invocation = f"inv-{self.builds:03d}"
        self.builds += 1
        record_artifact(
            self.con,
            run_results(invocation, started, test_status=test_status, failures=failures),
            manifest(meta),
            target="dev",
        )
        return invocation

    def count(self, table: str) -> int:
        return self.con.execute(f"select count(*) from {SCHEMA}.{table}").fetchall()[0][0]

    def results(self, invocation: str, status: str | None = None) -> list[tuple]:
        sql = (
            f"select relation, column_name, monitor, metric, status, training_size from {SCHEMA}.anomaly_results "
            "where invocation_id = ?"
        )
        params = [invocation]
        if status:
            sql += " and status = ?"
            params.append(status)
        return self.con.execute(sql + " order by 1, 2, 4", params).fetchall()


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        yield Warehouse(con)
    finally:
        con.close()


def history(w: Warehouse, clean_builds: int = 6) -> list[str]:
    """An initial build plus `clean_builds - 1` batches of 100 rows."""
    return [w.build() for _ in range(clean_builds)]
