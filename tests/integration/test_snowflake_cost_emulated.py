"""The Snowflake credits-per-model SQL (tpch_elt.observability.snowflake_cost) on the fakesnow emulator.

One `query` step of tests/scripts/snowflake_emulator.py (a couple of
seconds: no load, no dbt). fakesnow has no SNOWFLAKE.ACCOUNT_USAGE and keeps
no query history (it accepts `alter session set query_tag` as a no-op), so
the step creates a table of QUERY_HISTORY's shape (the columns the SQL
reads) with the rows Snowflake would record for two tagged models, a test,
an untagged statement and an old one, and runs the rendered SQL on it: the
Snowflake SQL parses, transpiles and computes credits per model as stated.
What it cannot show: that Snowflake's real view has these values (its
WAREHOUSE_SIZE spellings, EXECUTION_TIME in ms), which the module documents.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit.cli import REPO_ROOT, cli_env

from tpch_elt.observability.snowflake_cost import attribution_sql, parse_rows, query_tag

EMULATOR = REPO_ROOT / "tests" / "scripts" / "snowflake_emulator.py"
HISTORY = "TPCH_ELT.PUBLIC.QUERY_HISTORY"
SHAPE = f"""create or replace table {HISTORY} (
    query_id varchar, query_tag varchar, warehouse_size varchar, execution_time number,
    bytes_scanned number, bytes_written number, rows_inserted number, rows_updated number,
    start_time timestamp_ltz)"""


def _row(query_id: str, tag: str, size: str, ms: int, scanned: int, start: str) -> str:
    quoted = tag.replace("'", "''")
    return f"('{query_id}', '{quoted}', '{size}', {ms}, {scanned}, 10, 5, 1, '{start}')"


@pytest.mark.snowflake
def test_credits_per_model_from_a_query_history_of_snowflakes_shape(tmp_path: Path) -> None:
    inv = "0b7f3c1e-2d4a-4c59-9d0e-1f2a3b4c5d6e"
    orders, customers = "model.tpch_elt.mart_orders", "model.tpch_elt.mart_customer_summary"
    rows = [
        _row("q1", query_tag(inv, orders, "tpch-elt"), "X-Small", 3_600_000, 1000, "2026-06-01 00:00:00"),
        _row("q2", query_tag(inv, orders, "tpch-elt"), "Medium", 1_800_000, 3000, "2026-06-01 00:10:00"),
        _row("q3", query_tag(inv, customers, None), "2X-Large", 36_000, 500, "2026-06-01 00:20:00"),
        _row("q4", query_tag(inv, "test.tpch_elt.unique_x", None), "X-Small", 1000, 1, "2026-06-01 00:20:00"),
        _row("q5", "tpch-elt", "X-Small", 1000, 1, "2026-06-01 00:20:00"),  # the profile's plain tag
        _row("q6", query_tag("other", orders, None), "X-Small", 1000, 1, "2026-06-01 00:20:00"),
        _row("q7", query_tag(inv, orders, None), "X-Small", 9_000_000, 1, "2025-06-01 00:20:00"),  # too old
    ]
    sql = attribution_sql(since=datetime(2026, 1, 1, tzinfo=UTC), invocation_id=inv, relation=HISTORY)
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(EMULATOR),
            "--db-path",
            str(tmp_path / "db"),
            "--report",
            str(report),
            "query",
            # what the project's set_query_tag macro runs: accepted (a no-op) by the emulator
            "alter session set query_tag = " + "'" + query_tag(inv, orders, None).replace("'", "\\'") + "'",
            SHAPE,
            f"insert into {HISTORY} values {', '.join(rows)}",
            sql,
        ],
        cwd=REPO_ROOT,
        env=cli_env(SNOWFLAKE_DATABASE="TPCH_ELT"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.is_file(), proc.stderr[-3000:]
    outcome = json.loads(report.read_text())
    assert outcome["success"] and outcome["network_attempts"] == [], proc.stderr[-3000:]
    costs = {c.unique_id: c for c in parse_rows(outcome["results"][-1])}
    assert set(costs) == {orders, customers}
    # one hour on an XSMALL (1 credit/h) + half an hour on a MEDIUM (4 credits/h)
    assert costs[orders].credits == pytest.approx(3.0)
    assert costs[orders].statements == 2 and costs[orders].seconds == pytest.approx(5400)
    assert costs[orders].bytes_scanned == 4000 and costs[orders].rows_written == 12
    assert costs[orders].warehouse_size == "Medium"
    # 36 s on a 2XLARGE (32 credits/h)
    assert costs[customers].credits == pytest.approx(36 / 3600 * 32)
    assert costs[customers].invocation_id == inv
