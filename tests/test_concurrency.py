"""One writer at a time, and a killed writer never costs data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from conftest import BIN_DIR, REPO_ROOT, cli_env, run_cli

pytestmark = pytest.mark.e2e

SF = "0.01"


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN_DIR / "tpch-elt"), *args],
        cwd=REPO_ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


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
def template(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A built warehouse (initial load) and the snapshots an uninterrupted
    pipeline reaches: after load + build, and after ingest + build."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    run_cli(
        "--data-dir",
        str(data_dir),
        "generate",
        "-s",
        SF,
        "--initial-fraction",
        "0.8",
        "--batches",
        "2",
        check=True,
    )
    run_cli("--data-dir", str(data_dir), "load", "-s", SF, check=True)
    run_cli("--data-dir", str(data_dir), "build", check=True)
    after_load = snapshot(data_dir / "warehouse.duckdb")
    twin = tmp_path_factory.mktemp("twin") / "data"
    shutil.copytree(data_dir, twin)
    run_cli("--data-dir", str(twin), "ingest", check=True)
    run_cli("--data-dir", str(twin), "build", check=True)
    return {
        "data_dir": data_dir,
        "after_load": after_load,
        "after_ingest": snapshot(twin / "warehouse.duckdb"),
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


@pytest.mark.parametrize("step", ["load", "ingest", "build"])
def test_sigkill_mid_step_then_rerun_equals_an_uninterrupted_run(
    built: Path, template: dict, step: str
) -> None:
    warehouse = built / "warehouse.duckdb"
    args = {"load": ("load", "-s", SF), "ingest": ("ingest",), "build": ("build",)}[step]
    if step == "build":
        run_cli("--data-dir", str(built), "ingest", check=True)

    victim = start_cli("--data-dir", str(built), *args)
    wait_for_lock(warehouse, step, victim)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL

    # the next run completes; re-running the interrupted step is safe
    if step != "build":
        run_cli("--data-dir", str(built), *args, check=True)
    run_cli("--data-dir", str(built), "build", check=True)
    expected = template["after_load"] if step == "load" else template["after_ingest"]
    assert snapshot(warehouse) == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) - count(distinct o_orderkey) from raw.orders").fetchall() == [
            (0,)
        ], "no duplicate batch after a crash"
