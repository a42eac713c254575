"""Source freshness on a pipeline that runs for days: the arriving tables must
be fresh; the reference tables age between loads by design."""

from __future__ import annotations

from pathlib import Path

import duckdb
from testkit.cli import copy_data_dir, run_cli

from tpch_elt.publish.segments import published_path

TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")


def test_three_days_after_a_load_only_a_missing_batch_fails_freshness(
    built_template: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    copy_data_dir(built_template, data_dir)
    warehouse = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for table in TABLES:
            con.execute(f"update raw.{table} set _loaded_at = _loaded_at - interval 72 hour")
    before = publication(warehouse)

    # no batch for three days: the arriving tables are stale (error after
    # 48 h), the reference tables are not (they change only with `load`)
    stale = run_cli("--data-dir", str(data_dir), "build")
    assert stale.returncode == 1
    flagged = {table for table in TABLES if f"source tpch.{table} is stale" in stale.stderr}
    assert flagged == {"orders", "lineitem"}, stale.stderr
    # a stale source (error severity) fails the build, so nothing is
    # published, and the output says only that (before: "published", then
    # "not published")
    assert "for readers:" not in stale.stdout, stale.stdout
    assert "not published: readers still see" in stale.stderr.replace("\n", "")
    assert publication(warehouse) == before

    # the 4-hourly run that brings a batch passes, reference data three days
    # old; the batch itself arrived 13 h ago: a warning, which publishes
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    with duckdb.connect(str(warehouse)) as con:
        for table in ("orders", "lineitem"):
            con.execute(
                f"update raw.{table} set _loaded_at = _loaded_at - interval 13 hour where _batch_id = 1"
            )
    fresh = run_cli("--data-dir", str(data_dir), "build", check=True)
    assert "is stale" not in fresh.stderr
    assert "for readers:" in fresh.stdout and "not published" not in fresh.stderr
    assert publication(warehouse)[0] == before[0] + 1 and publication(warehouse)[1] == 1
    warned = [line for line in fresh.stdout.splitlines() if line.startswith("│ source freshness")]
    assert [cell.strip() for cell in warned[0].split("│")[2:4]] == ["6", "2"], fresh.stdout


def publication(warehouse: Path) -> tuple[int, int | None]:
    """(number, batch) of the snapshot readers see."""
    with duckdb.connect(str(published_path(warehouse)), read_only=True) as con:
        return con.execute("select number, batch_id from main.publication").fetchall()[0]
