"""Service levels through the real CLI: a batch held back past its mart's freshness objective
is breached in `tpch-elt sla` and alerts exactly once; a clean warehouse alerts nothing. (That a
publication which rebuilt the mart meets the objective again: tests/unit/observability/test_sla.py.)"""

from __future__ import annotations

from pathlib import Path

import duckdb
from testkit.cli import copy_data_dir, run_cli


def alerted(warehouse: Path, kind: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select incident_key, status from observability.alerts where kind = ? order by sent_at", [kind]
        ).fetchall()


def test_a_batch_held_back_past_the_objective_alerts_once_and_clean_runs_never(
    built_template: Path, tmp_path: Path
) -> None:
    data_dir = copy_data_dir(built_template, tmp_path / "data")
    warehouse = data_dir / "warehouse.duckdb"
    common = ("--data-dir", str(data_dir))

    # built and published: every objective met, nothing to alert
    clean = run_cli(*common, "sla", check=True)
    assert "mart_orders" in clean.stdout and "breached" not in clean.stdout
    run_cli(*common, "observe", check=True)
    assert alerted(warehouse, "sla") == []

    # a batch lands and is held back (not built) for 6 hours: mart_orders' 5 h objective is breached
    # (the clock moved: the initial load and the batch are 6 hours older)
    run_cli(*common, "ingest", check=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw._batches set loaded_at = loaded_at - interval 6 hour")
    breached = run_cli(*common, "sla")
    assert breached.returncode == 1, breached.stdout + breached.stderr
    row = next(
        line for line in breached.stdout.splitlines() if "mart_orders " in line or "│ mart_orders" in line
    )
    assert "breached" in row and "batch 1 landed 6.0 h ago" in breached.stdout.replace("\n", " ")
    # mart_customer_summary (5 h) too; the insight marts (29 h) are still within theirs
    assert "mart_sales_trends" in breached.stdout
    assert "2 SLA(s) breached: mart_customer_summary, mart_orders" in breached.stderr

    # observe alerts once; the next observe within the suppression interval does not repeat it
    first = run_cli(*common, "observe")
    assert "SLA breached mart_orders" in first.stdout, first.stdout
    run_cli(*common, "observe")
    keys = ("sla:freshness:mart_customer_summary", "sla:freshness:mart_orders")
    assert sorted(alerted(warehouse, "sla")) == sorted(
        [(key, status) for key in keys for status in ("sent", "suppressed")]
    )
