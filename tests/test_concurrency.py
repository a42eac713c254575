"""One writer at a time, and a killed writer never costs data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli, start_cli, start_in_repo

pytestmark = pytest.mark.e2e

SF = "0.01"


def wait_for_lock(warehouse: Path, purpose: str, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Poll the lock file until `proc` holds it for `purpose`; bounded."""
    lock = warehouse.with_name(warehouse.name + ".lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = lock.read_text() if lock.exists() else ""
        if f"pid {proc.pid}, {purpose}" in content:
            return content
        if proc.poll() is not None:
            raise AssertionError(f"process ended before taking the lock: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{purpose} never took the lock")


def snapshot(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """
            select 'raw.orders', count(*), max(_batch_id) from raw.orders
            union all select 'raw.lineitem', count(*), max(_batch_id) from raw.lineitem
            union all select 'raw._batches', count(*), max(batch_id) from raw._batches
            union all select 'mart.mart_orders', count(*), sum(net_revenue) from mart.mart_orders
            order by 1
            """
        ).fetchall()


@pytest.fixture(scope="module")
def template(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A built warehouse (initial load, two batches pending) and the snapshots an
    uninterrupted pipeline reaches: after load + build, and after ingest + build."""
    after_load = snapshot(built_template / "warehouse.duckdb")
    twin = tmp_path_factory.mktemp("twin") / "data"
    shutil.copytree(built_template, twin)
    run_cli("--data-dir", str(twin), "ingest", check=True)
    run_cli("--data-dir", str(twin), "build", check=True)
    return {
        "data_dir": built_template,
        "after_load": after_load,
        "after_ingest": snapshot(twin / "warehouse.duckdb"),
        "raw_after_load": raw_counts(built_template / "warehouse.duckdb"),
        "raw_after_ingest": raw_counts(twin / "warehouse.duckdb"),
    }


@pytest.fixture
def built(template: dict, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(template["data_dir"], data_dir)
    return data_dir


def test_second_writer_exits_at_once_naming_the_holder(built: Path, template: dict) -> None:
    warehouse = built / "warehouse.duckdb"
    run_cli("--data-dir", str(built), "ingest", check=True)
    first = start_cli("--data-dir", str(built), "build")
    try:
        wait_for_lock(warehouse, "build", first)
        for args in (("build",), ("ingest",), ("load", "-s", SF), ("run", "-s", SF)):
            started = time.monotonic()
            second = run_cli("--data-dir", str(built), *args)
            assert second.returncode == 1, args
            assert f"warehouse busy (pid {first.pid}, build)" in second.stderr, second.stderr
            assert time.monotonic() - started < 30, "the second writer must not wait"
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    # exactly the first writer's work: one batch ingested and built, nothing
    # from the refused ingest, load or run
    assert snapshot(warehouse) == template["after_ingest"]


def raw_counts(warehouse: Path) -> list[tuple]:
    """Every raw table's rows, keys and batches: equal for equal raw data, whenever loaded."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """
            select 'orders', count(*), sum(o_orderkey), max(_batch_id) from raw.orders
            union all select 'lineitem', count(*), sum(l_orderkey * 8 + l_linenumber), max(_batch_id)
                from raw.lineitem
            union all select 'customer', count(*), sum(c_custkey), max(_batch_id) from raw.customer
            union all select 'partsupp', count(*), sum(ps_partkey), max(_batch_id) from raw.partsupp
            union all select '_batches', count(*), sum(batch_id), max(batch_id) from raw._batches
            union all select '_quarantine', count(*), 0, max(batch_id) from raw._quarantine
            order by 1
            """
        ).fetchall()


def batch_log(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select batch_id, kind, loaded_at from raw._batches order by 1").fetchall()


def start_frozen(data_dir: Path, point: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """Start the real CLI through tests/crash_at.py, which freezes it at `point`."""
    marker = data_dir.parent / "frozen.txt"
    proc = start_in_repo(
        [sys.executable, str(Path(__file__).with_name("crash_at.py")), str(marker), point, "--", *args]
    )
    return proc, marker


def wait_until_frozen(marker: Path, proc: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and f"pid {proc.pid} " in marker.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process ended before its crash point: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"never reached the crash point in {marker}")


STEP_ARGS = {"load": ("load", "-s", SF), "ingest": ("ingest",), "build": ("build",)}

# Where the writer dies: right after it took the lock, or mid-work at a
# milestone it reports itself (tests/crash_at.py): inside the load/ingest
# transaction after raw.orders was written, or inside dbt once the staging
# increment is appended and the intermediate layer has not seen it yet.
KILL_POINTS = [
    ("load", "lock"),
    ("load", "rules:lineitem"),
    ("ingest", "lock"),
    ("ingest", "rules:lineitem"),
    ("build", "lock"),
    ("build", "dbt:NodeStart:int_order_lineitems"),
]


@pytest.mark.parametrize(("step", "point"), KILL_POINTS)
def test_sigkill_mid_step_then_rerun_equals_an_uninterrupted_run(
    built: Path, template: dict, step: str, point: str
) -> None:
    warehouse = built / "warehouse.duckdb"
    args = STEP_ARGS[step]
    if step == "build":
        run_cli("--data-dir", str(built), "ingest", check=True)
    raw_before, batches_before = raw_counts(warehouse), batch_log(warehouse)

    if point == "lock":
        victim = start_cli("--data-dir", str(built), *args)
        wait_for_lock(warehouse, step, victim)
    else:
        victim, marker = start_frozen(built, point, "--data-dir", str(built), *args)
        wait_until_frozen(marker, victim)
        assert f"pid {victim.pid}, {step}" in warehouse.with_name(warehouse.name + ".lock").read_text()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL

    # the killed writer left raw exactly as it was: its transaction never happened
    assert raw_counts(warehouse) == raw_before
    assert batch_log(warehouse) == batches_before

    # the next run completes; re-running the interrupted step is safe
    if step != "build":
        run_cli("--data-dir", str(built), *args, check=True)
        expected_raw = template["raw_after_load"] if step == "load" else template["raw_after_ingest"]
        assert raw_counts(warehouse) == expected_raw
    if step == "build" or point == "lock":
        # (mid-transaction load/ingest kills stop at raw: the marts are a
        # function of raw, proven by the build cases and tests/test_incremental.py)
        run_cli("--data-dir", str(built), "build", check=True)
        expected = template["after_load"] if step == "load" else template["after_ingest"]
        assert snapshot(warehouse) == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) - count(distinct o_orderkey) from raw.orders").fetchall() == [
            (0,)
        ], "no duplicate batch after a crash"
        assert con.execute(
            "select count(*) from (select l_orderkey, l_linenumber from raw.lineitem group by all "
            "having count(*) > 1)"
        ).fetchall() == [(0,)]
