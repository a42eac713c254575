"""Source freshness on a pipeline that runs for days: the arriving tables must
be fresh; the reference tables age between loads by design."""

from __future__ import annotations

from pathlib import Path

import duckdb
from testkit.cli import copy_data_dir, run_cli

TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")


def test_three_days_after_a_load_only_a_missing_batch_fails_freshness(
    built_template: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    copy_data_dir(built_template, data_dir)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        for table in TABLES:
            con.execute(f"update raw.{table} set _loaded_at = _loaded_at - interval 72 hour")

    # no batch for three days: the arriving tables are stale (error after
    # 48 h), the reference tables are not (they change only with `load`)
    stale = run_cli("--data-dir", str(data_dir), "build")
    assert stale.returncode == 1
    flagged = {table for table in TABLES if f"source tpch.{table} is stale" in stale.stderr}
    assert flagged == {"orders", "lineitem"}, stale.stderr

    # the 4-hourly run that brings a batch passes, reference data three days old
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    fresh = run_cli("--data-dir", str(data_dir), "build", check=True)
    assert "is stale" not in fresh.stderr
