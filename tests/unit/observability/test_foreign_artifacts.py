"""`observe --artifacts DIR` records a dbt run made elsewhere. Its files are
input, not code: a failing test's `compiled_code` is kept as text and never
executed, so a crafted artifact can neither change the warehouse nor read
local files into the observability record or the report."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tpch_elt.observability.alerts import AlertSettings
from tpch_elt.observability.observe import observe
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.observability import render
from tpch_elt.settings import Settings

SECRET = "s3cr3t-token-9f41c2"
DROPS = "test.p.drops_a_table"
READS = "test.p.reads_a_local_file"


def _failing_test(unique_id: str, compiled_code: str) -> dict:
    return {
        "unique_id": unique_id,
        "status": "fail",
        "timing": [],
        "execution_time": 0.1,
        "adapter_response": {},
        "message": "Got 1 result, configured to fail if != 0",
        "failures": 1,
        "compiled_code": compiled_code,
    }


def test_observe_artifacts_records_foreign_failures_without_running_their_sql(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.orders as select 1 as o_orderkey")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)

    # The sampler wraps the SQL as `select ... from (select * from (<sql>) limit N) as failing`:
    # the first test closes those parentheses and appends its own statements.
    drop = (
        "select 1 as x) limit 1) as failing; drop table raw.orders; "
        "select to_json(failing) from (select * from (select 1 as x"
    )
    read = f"select content from read_text('{secret_file}')"
    target = tmp_path / "foreign" / "target"
    target.mkdir(parents=True)
    (target / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {
                    "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                    "dbt_version": "1.11.16",
                    "invocation_id": "foreign-1",
                    "invocation_started_at": "2026-01-01T00:00:00Z",
                    "generated_at": "2026-01-01T00:00:05Z",
                },
                "elapsed_time": 5.0,
                "args": {"which": "build"},
                "results": [_failing_test(DROPS, drop), _failing_test(READS, read)],
            }
        )
    )

    said: list[str] = []
    observe(settings, artifacts_dir=target, alert_settings=AlertSettings(), out=said.append)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        # nothing ran: the table is still there
        assert con.execute("select count(*) from raw.orders").fetchall() == [(1,)]
        # the failures are recorded, with their SQL as text and no sample
        recorded = con.execute(
            f"select unique_id, status, failures, compiled_sql, failing_sample, sample_error "
            f"from {SCHEMA}.test_results where invocation_id = 'foreign-1' order by 1"
        ).fetchall()
        assert [row[:3] for row in recorded] == [(DROPS, "fail", 1), (READS, "fail", 1)]
        assert [row[3] for row in recorded] == [drop, read]
        assert all(row[4] is None and "not sampled" in row[5] for row in recorded), recorded
        assert con.execute(
            f"select status, fail_count from {SCHEMA}.invocations where invocation_id = 'foreign-1'"
        ).fetchall() == [("fail", 2)]
        # the file's content reached no table of the record, nor the report
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = ?", [SCHEMA]
        ).fetchall():
            dump = con.execute(f"select * from {SCHEMA}.{table}").fetchall()
            assert SECRET not in str(dump), table
        page = render(con)
    assert DROPS.rsplit(".", 1)[-1] in page and SECRET not in page
    assert SECRET not in "\n".join(said)
