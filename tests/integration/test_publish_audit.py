"""Write–audit–publish cannot be bypassed by a selection: a build that leaves
out tests of the marts it rebuilt publishes nothing and says which."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from testkit.cli import copy_data_dir, run_cli

from tpch_elt.publish.segments import published_path, segments_dir

SF = "0.01"


def published_files(warehouse: Path) -> dict[str, bytes]:
    """The catalog and every segment readers can reach, byte for byte."""
    files = [published_path(warehouse), *sorted(segments_dir(warehouse).rglob("*.parquet"))]
    return {str(path): path.read_bytes() for path in files}


def orders_with_status(database: Path, status: str) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            "select count(*) from mart.mart_orders where order_status = ?", [status]
        ).fetchall()[0][0]


def _set_status_in_next_batch(data_dir: Path, status: str) -> int:
    """One order of the pending batch 1 gets a status TPC-H does not have (ingest lets it through)."""
    orders = data_dir / "landing" / f"sf={SF}" / "batches" / "batch_0001" / "orders.parquet"
    scratch = orders.with_name("orders.rewritten.parquet")
    with duckdb.connect() as con:
        key = con.execute(f"select min(o_orderkey) from '{orders}'").fetchall()[0][0]
        con.execute(
            f"copy (select * replace (case when o_orderkey = {key} then '{status}' else o_orderstatus end "
            f"as o_orderstatus) from '{orders}') to '{scratch}' (format parquet)"
        )
    scratch.replace(orders)
    return key


def test_a_build_that_excludes_the_marts_tests_publishes_nothing(
    built_template: Path, tmp_path: Path
) -> None:
    data_dir = copy_data_dir(built_template, tmp_path / "data")
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    key = _set_status_in_next_batch(data_dir, "X")
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select o_orderstatus from raw.orders where o_orderkey = ?", [key]).fetchall() == [
            ("X",)
        ], "precondition: the bad order reached raw"
    before = published_files(warehouse)

    # the data tests are left out: the build passes what it ran, but the
    # marts it rebuilt were not audited, so readers keep their snapshot
    skipped = run_cli("--data-dir", str(data_dir), "build", "--exclude", "test_type:data")
    assert skipped.returncode == 0, skipped.stderr
    assert "for readers:" not in skipped.stdout, skipped.stdout
    lines = [line for line in skipped.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("not published: "), skipped.stderr
    message = lines[0]
    assert "the selection (--exclude test_type:data) left out " in message
    assert "; readers still see " in message and ".published.duckdb as published at " in message
    assert message.endswith("run `tpch-elt build` without --select/--exclude to publish")
    left_out = int(message.split(" left out ", 1)[1].split(" ", 1)[0])
    named = message.split("audit the marts it rebuilt: ", 1)[1].split(" and ", 1)[0].split(", ")
    assert published_files(warehouse) == before
    assert orders_with_status(snapshot, "X") == 0
    assert orders_with_status(warehouse, "X") == 1  # the write happened, in the warehouse only

    # the full test set still refuses the batch: the data test fails
    full = run_cli("--data-dir", str(data_dir), "build")
    assert full.returncode == 1
    assert "accepted_values_stg_fct_orders_order_status" in full.stderr
    assert "not published: readers still see " in full.stderr.replace("\n", "")
    assert published_files(warehouse) == before
    assert orders_with_status(snapshot, "X") == 0
    # the tests named as left out are exactly the data tests the full build ran
    run_results = json.loads((data_dir / "dbt" / "target" / "run_results.json").read_text())
    data_tests = {
        r["unique_id"].split(".")[2] for r in run_results["results"] if r["unique_id"].startswith("test.")
    }
    assert left_out == len(data_tests) > len(named) > 0
    assert set(named) <= data_tests, named


def test_no_publish_is_a_documented_build_option() -> None:
    shown = run_cli("build", "--help", check=True).stdout
    assert "--no-publish" in shown and "readers keep the current snapshot" in " ".join(shown.split())
