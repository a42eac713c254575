"""Bad input gets one actionable line, a non-zero exit, and loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli

TINY_SF = "0.01"


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    """A data dir with SF 0.001 landing files loaded into a warehouse."""
    data_dir = tmp_path / "data"
    run_cli("--data-dir", str(data_dir), "generate", "-s", TINY_SF, check=True)
    run_cli("--data-dir", str(data_dir), "load", "-s", TINY_SF, check=True)
    return data_dir


def raw_state(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            """
            select 'orders', count(*), min(_loaded_at), max(_batch_id) from raw.orders
            union all
            select 'lineitem', count(*), min(_loaded_at), max(_batch_id) from raw.lineitem
            union all
            select 'customer', count(*), min(_loaded_at), max(_batch_id) from raw.customer
            order by 1
            """
        ).fetchall()


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_negative_scale_factor_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "d"), "generate", "-s", "-1")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "scale factor must be a positive number" in line
    assert "-1" in line
    assert not (tmp_path / "d").exists(), "nothing may be written for a refused scale factor"


def test_non_numeric_scale_factor_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "d"), "run", "-s", "lots")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "scale factor must be a number (e.g. 1 or 0.1), got 'lots'" in line
    assert not (tmp_path / "d").exists()


def test_unwritable_warehouse_path_names_the_path(loaded: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    bad = blocker / "warehouse.duckdb"
    proc = run_cli("--data-dir", str(loaded), "--warehouse", str(bad), "load", "-s", TINY_SF)
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert str(bad) in line
    assert "choose a writable --warehouse path" in line


def test_truncated_parquet_is_named_and_raw_is_left_intact(loaded: Path) -> None:
    before = raw_state(loaded)
    orders = loaded / "landing" / f"sf={TINY_SF}" / "orders.parquet"
    content = orders.read_bytes()
    orders.write_bytes(content[: len(content) // 2])

    proc = run_cli("--data-dir", str(loaded), "load", "-s", TINY_SF)

    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert str(orders) in line
    assert "corrupt or truncated" in line
    assert "tpch-elt generate" in line
    assert raw_state(loaded) == before, "a failed load must leave raw as it was"


def test_generate_replaces_a_truncated_file_and_reuses_complete_ones(loaded: Path) -> None:
    landing = loaded / "landing" / f"sf={TINY_SF}"
    orders = landing / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[:100])
    customer_mtime = (landing / "customer.parquet").stat().st_mtime_ns

    proc = run_cli("--data-dir", str(loaded), "generate", "-s", TINY_SF, check=True)

    assert "generated: orders\n" in proc.stdout
    assert "reused (complete): region, nation, supplier, customer, part, partsupp, lineitem" in proc.stdout
    assert (landing / "customer.parquet").stat().st_mtime_ns == customer_mtime
    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from '{orders}'").fetchall() == [(15000,)]


def test_missing_landing_file_says_to_generate(loaded: Path) -> None:
    before = raw_state(loaded)
    (loaded / "landing" / f"sf={TINY_SF}" / "lineitem.parquet").unlink()
    proc = run_cli("--data-dir", str(loaded), "load", "-s", TINY_SF)
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "lineitem.parquet is missing" in line
    assert f"tpch-elt generate -s {TINY_SF}" in line
    assert raw_state(loaded) == before


def test_build_before_load_says_what_to_run(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "empty"), "build")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "does not exist" in line and "tpch-elt run" in line


def test_load_records_utc_load_time_and_batch_zero(loaded: Path) -> None:
    state = raw_state(loaded)
    for _table, rows, loaded_at, batch_id in state:
        assert rows > 0
        assert batch_id == 0
        assert abs((datetime.now(UTC).replace(tzinfo=None) - loaded_at).total_seconds()) < 3600
