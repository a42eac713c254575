"""One writer at a time, and a killed writer never costs data."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from testkit.cli import copy_data_dir, one_line_error, run_cli, start_cli, start_frozen, wait_until_frozen
from testkit.warehouse import models_content, raw_content, raw_exactly

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


@pytest.fixture(scope="module")
def template(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A built warehouse (initial load, two batches pending) and the snapshots an
    uninterrupted pipeline reaches: after load + build, and after ingest + build."""
    twin = copy_data_dir(built_template, tmp_path_factory.mktemp("twin") / "data")
    run_cli("--data-dir", str(twin), "ingest", check=True)
    run_cli("--data-dir", str(twin), "build", check=True)
    return {
        "data_dir": built_template,
        "after_load": models_content(built_template / "warehouse.duckdb"),
        "after_ingest": models_content(twin / "warehouse.duckdb"),
        "raw_after_load": raw_content(built_template / "warehouse.duckdb"),
        "raw_after_ingest": raw_content(twin / "warehouse.duckdb"),
    }


@pytest.fixture
def built(template: dict, tmp_path: Path) -> Path:
    return copy_data_dir(template["data_dir"], tmp_path / "data")


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
    assert models_content(warehouse) == template["after_ingest"]


def batch_ids(warehouse: Path) -> dict[str, int]:
    """The newest arrival batch each incremental model holds."""
    models = (
        "staging.stg_fct_orders",
        "staging.stg_fct_lineitem",
        "intermediate.int_order_lineitems_base",
        "mart.mart_orders",
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            model: con.execute(f"select max(_batch_id) from {model}").fetchall()[0][0] for model in models
        }


STEP_ARGS = {"load": ("load", "-s", SF), "ingest": ("ingest",), "build": ("build",)}

# Where the writer dies: right after it took the lock, or mid-work at a
# milestone it reports itself (tests/scripts/crash_at.py): inside the load/ingest
# transaction after raw.orders was written, or inside dbt once the staging
# increment is appended and the intermediate layer has not seen it yet.
KILL_POINTS = [
    ("load", "lock"),
    ("load", "rules:lineitem"),
    ("ingest", "lock"),
    ("ingest", "rules:lineitem"),
    ("build", "lock"),
    ("build", "dbt:NodeStart:int_order_lineitems_base"),
]


@pytest.mark.parametrize(("step", "point"), KILL_POINTS)
def test_sigkill_mid_step_then_rerun_equals_an_uninterrupted_run(
    built: Path, template: dict, step: str, point: str
) -> None:
    warehouse = built / "warehouse.duckdb"
    args = STEP_ARGS[step]
    if step == "build":
        run_cli("--data-dir", str(built), "ingest", check=True)
    raw_before = raw_exactly(warehouse)

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

    # the killed writer left raw exactly as it was, row for row and load time
    # for load time: its transaction never happened (a reload re-reads the
    # same files, so only the load times tell a half-applied one apart)
    assert raw_exactly(warehouse) == raw_before
    if point.startswith("dbt:"):
        # where it died: staging had appended the new batch, the intermediate layer not
        assert batch_ids(warehouse) == {
            "staging.stg_fct_orders": 1,
            "staging.stg_fct_lineitem": 1,
            "intermediate.int_order_lineitems_base": 0,
            "mart.mart_orders": 0,
        }

    # the next run completes; re-running the interrupted step is safe
    if step != "build":
        run_cli("--data-dir", str(built), *args, check=True)
        expected_raw = template["raw_after_load"] if step == "load" else template["raw_after_ingest"]
        assert raw_content(warehouse) == expected_raw
    if step == "build" or point == "lock":
        # (mid-transaction load/ingest kills stop at raw: the marts are a
        # function of raw, proven by the build cases and tests/test_incremental.py)
        run_cli("--data-dir", str(built), "build", check=True)
        expected = template["after_load"] if step == "load" else template["after_ingest"]
        assert models_content(warehouse) == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) - count(distinct o_orderkey) from raw.orders").fetchall() == [
            (0,)
        ], "no duplicate batch after a crash"
        assert con.execute(
            "select count(*) from (select l_orderkey, l_linenumber from raw.lineitem group by all "
            "having count(*) > 1)"
        ).fetchall() == [(0,)]


@contextmanager
def holding(lock: Path, purpose: str) -> Iterator[None]:
    """Hold a tpch-elt lock file from this process, as another writer would (src/tpch_elt/warehouse/lock.py)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"pid {os.getpid()}, {purpose}")
        held.flush()
        yield


def test_generate_is_refused_while_another_process_writes_the_data_dir(tmp_path: Path) -> None:
    """Two generates in one data directory clobbered each other's scratch folders
    and batch plan; now the second exits at once, naming the holder, and writes nothing."""
    data_dir = tmp_path / "data"
    landing = data_dir / "landing" / f"sf={SF}"
    generate = ("generate", "-s", SF, "--initial-fraction", "0.8", "--batches", "2")
    # another generate into the same landing files, even for another warehouse
    with holding(landing / ".generate.lock", "generate"):
        proc = run_cli("--data-dir", str(data_dir), "--warehouse", str(tmp_path / "other.duckdb"), *generate)
        assert proc.returncode == 1, proc.stdout
        line = one_line_error(proc.stderr)
        assert f"landing directory busy (pid {os.getpid()}, generate): {landing} is being written" in line
    # a step writing (or reading landing files into) the warehouse
    with holding(data_dir / "warehouse.duckdb.lock", "load"):
        proc = run_cli("--data-dir", str(data_dir), *generate)
        assert proc.returncode == 1, proc.stdout
        assert f"warehouse busy (pid {os.getpid()}, load)" in one_line_error(proc.stderr)
    assert not list(landing.rglob("*.parquet")), "a refused generate wrote landing files"

    run_cli("--data-dir", str(data_dir), *generate, check=True)
    assert (landing / "batches" / "plan.json").is_file()
    assert not list(landing.glob(".tmp-*")), "scratch folders left behind"
