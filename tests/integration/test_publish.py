"""Write–audit–publish: readers only ever see marts that passed their tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from testkit.cli import REPO_ROOT, cli_env, copy_data_dir, run_cli, start_cli, start_in_repo

from tpch_elt.publish.segments import published_path, segments_dir

SF = "0.01"
MARTS_QUERY = """
    select 'mart_orders', count(*), sum(net_revenue) from mart.mart_orders
    union all select 'mart_customer_summary', count(*), sum(lifetime_value)
    from mart.mart_customer_summary
    order by 1
"""


def marts(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(MARTS_QUERY).fetchall()


def published_files(warehouse: Path) -> dict[str, bytes]:
    """The catalog and every segment readers can reach, byte for byte."""
    files = [published_path(warehouse), *sorted(segments_dir(warehouse).rglob("*.parquet"))]
    return {str(path): path.read_bytes() for path in files}


def publication(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select published_at, invocation_id, batch_id from main.publication").fetchall()


@pytest.fixture
def data_dir(built_template: Path, tmp_path: Path) -> Path:
    """A copy of the shared warehouse after load + first build, two batches to arrive."""
    return copy_data_dir(built_template, tmp_path / "data")


def test_a_passing_build_publishes_exactly_the_warehouse_marts(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    assert snapshot == data_dir / "warehouse.published.duckdb"
    assert marts(snapshot) == marts(warehouse)
    assert publication(snapshot)[0][2] == 0

    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    proc = run_cli("--data-dir", str(data_dir), "build", check=True)
    assert f"mart(s) for readers: {snapshot}" in proc.stdout.replace("\n", "")
    assert publication(snapshot)[0][2] == 1
    assert marts(snapshot) == marts(warehouse)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        published = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'mart'"
            ).fetchall()
        }
        # the increment rebuilt mart_orders and the customer summary; the
        # history-wide (daily) marts were carried over from the last snapshot
        rebuilt, carried = con.execute("select rebuilt, carried_over from main.publication").fetchall()[0]
        segments = dict(
            con.execute("select mart, list(path order by path) from main.segments group by 1").fetchall()
        )
        # money stays DECIMAL in the copy
        money_type = con.execute(
            "select data_type from duckdb_columns() where table_name = 'mart_orders' and column_name = 'net_revenue'"
        ).fetchall()[0][0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        built = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'mart'"
            ).fetchall()
        }
    assert published == built
    assert {"mart_orders", "mart_customer_summary"} <= set(rebuilt)
    assert "mart_sales_trends" in carried
    assert set(rebuilt) | set(carried) == built
    assert money_type.startswith("DECIMAL")
    # publishing follows the delta: mart_orders got one new segment holding
    # only the new batch; the customer summary (re-ranked every build) was
    # rewritten; a carried-over mart kept its segment from publication 1
    assert segments["mart_orders"] == ["mart_orders/000001.parquet", "mart_orders/000002.parquet"]
    newest = segments_dir(warehouse) / "mart_orders" / "000002.parquet"
    with duckdb.connect() as con:
        assert con.execute(f"select distinct _batch_id from read_parquet('{newest}')").fetchall() == [(1,)]
    assert segments["mart_customer_summary"] == ["mart_customer_summary/000002.parquet"]
    assert segments["mart_sales_trends"] == ["mart_sales_trends/000001.parquet"]


def _break_newest_batch(warehouse: Path) -> None:
    """A row that slipped past ingest's checks: an order status TPC-H does not have."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.orders set o_orderstatus = 'X' where o_orderkey = "
            "(select min(o_orderkey) from raw.orders where _batch_id = (select max(_batch_id) from raw.orders))"
        )


def test_a_failing_test_publishes_nothing_and_says_where_the_failing_rows_are(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    before_marts, before_publication = marts(snapshot), publication(snapshot)
    before_bytes = published_files(warehouse)

    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    _break_newest_batch(warehouse)
    proc = run_cli("--data-dir", str(data_dir), "build")
    assert proc.returncode == 1
    err = proc.stderr.replace("\n", "")
    assert "accepted_values_stg_fct_orders_order_status" in err
    assert f"not published: readers still see {snapshot} as published at" in err
    assert "batch 0" in err
    assert "failing rows: duckdb" in err and "from observability.test_results where invocation_id" in err
    # the failing rows are where the message says
    command = err[err.index("failing rows: duckdb") :].split('-c "', 1)[1].split('"', 1)[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        samples = con.execute(command).fetchall()
    assert any("'X'" in str(sample) or '"X"' in str(sample) for _, sample in samples)
    # readers see exactly what they saw before, byte for byte
    assert published_files(warehouse) == before_bytes
    assert marts(snapshot) == before_marts and publication(snapshot) == before_publication
    # the write did happen, in the warehouse only
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select max(_batch_id) from staging.stg_fct_orders").fetchall() == [(1,)]

    # A later, clean batch does not smuggle the bad one out: the next build
    # audits every batch since the last publication again.
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    proc = run_cli("--data-dir", str(data_dir), "build")
    assert proc.returncode == 1
    assert "covered batches >= 1" in proc.stdout
    assert published_files(warehouse) == before_bytes

    # Fixing the data and rebuilding publishes everything.
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.orders set o_orderstatus = 'O' where o_orderstatus = 'X'")
    run_cli("--data-dir", str(data_dir), "build", "--full-refresh", check=True)
    assert publication(snapshot)[0][2] == 2
    assert marts(snapshot) == marts(warehouse)


def test_a_reader_keeps_a_consistent_snapshot_while_a_build_publishes(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    before = marts(snapshot)
    run_cli("--data-dir", str(data_dir), "ingest", check=True)

    reader = duckdb.connect(str(snapshot), read_only=True)
    try:
        build = start_cli("--data-dir", str(data_dir), "build")
        # While the build writes (and then publishes), the open reader is
        # never blocked and always sees the same, complete snapshot.
        seen = set()
        while build.poll() is None:
            seen.add(tuple(reader.execute(MARTS_QUERY).fetchall()))
            time.sleep(0.2)
        out, err = build.communicate()
        assert build.returncode == 0, out + err
        seen.add(tuple(reader.execute(MARTS_QUERY).fetchall()))
        assert seen == {tuple(before)}
    finally:
        reader.close()
    # a new connection sees the new snapshot, equal to the warehouse's marts
    after = marts(snapshot)
    assert after != before
    assert after == marts(warehouse)


def test_report_reads_the_published_marts_not_the_warehouse(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    published_orders = {name: rows for name, rows, _ in marts(published_path(warehouse))}["mart_orders"]
    # the warehouse's copy drifts (as an unaudited build would leave it)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "delete from mart.mart_orders where order_key in (select order_key from mart.mart_orders limit 10)"
        )
    run_cli("--data-dir", str(data_dir), "report", check=True)
    page = (data_dir / "reports" / "insights.html").read_text()
    assert "from warehouse.published.duckdb" in page
    assert f"{published_orders:,} orders from" in page
    assert f"{published_orders - 10:,} orders from" not in page


def test_a_build_killed_mid_way_leaves_the_snapshot_whole_and_the_rerun_publishes(data_dir: Path) -> None:
    import os
    import signal

    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    before = published_files(warehouse)
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    victim = start_cli("--data-dir", str(data_dir), "build")
    # kill it once dbt has started writing: the incremental staging model
    # holds the new batch (the marts are not published yet)
    deadline = time.monotonic() + 300
    logs = data_dir / "dbt" / "logs" / "dbt.log"
    while "stg_fct_orders" not in (
        logs.read_text(errors="replace").split("Running with dbt")[-1] if logs.is_file() else ""
    ):
        assert victim.poll() is None, f"the build ended before it could be killed: {victim.communicate()}"
        assert time.monotonic() < deadline, "the build never reached stg_fct_orders"
        time.sleep(0.1)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL, f"the build was not killed mid-way: {victim.returncode}"
    # readers still have the old snapshot, whole
    assert published_files(warehouse) == before
    run_cli("--data-dir", str(data_dir), "build", check=True)
    assert publication(snapshot)[0][2] == 1
    assert marts(snapshot) == marts(warehouse)
    assert not list(data_dir.glob("*.tmp-*")), "the rerun left a scratch snapshot behind"


def every_mart(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Each mart's row count and a hash of all its rows."""
    names = [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'mart' order by 1"
        ).fetchall()
    ]
    return {
        name: con.execute(f'select count(*), sum(hash(m)::hugeint) from mart."{name}" as m').fetchall()[0]
        for name in names
    }


# What the Airflow DAG's publish task does after its dbt tasks passed: publish
# in another process without a dbt build (argv: data dir, rebuilt marts or none).
PUBLISH = (
    "import sys; from tpch_elt.publish.publication import publish; from tpch_elt.settings import Settings; "
    "publish(Settings(data_dir=sys.argv[1]), rebuilt=sys.argv[2:] or None)"
)


def publish_in_another_process(data_dir: Path, *rebuilt: str) -> None:
    proc = start_in_repo([sys.executable, "-c", PUBLISH, str(data_dir), *rebuilt])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err


def test_an_open_reader_keeps_its_snapshot_through_four_publications(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    # 2: both pending batches arrive, a 4-hourly increment (the daily marts
    # are carried over from publication 1). The reader opens this catalog:
    # the copied one still names the shared template's segments.
    run_cli("--data-dir", str(data_dir), "ingest", "--all", check=True)
    run_cli("--data-dir", str(data_dir), "build", check=True)
    reader = duckdb.connect(str(snapshot), read_only=True)
    try:
        seen = every_mart(reader)
        assert len(seen) > 5
        # 3, 4: increments' publications (daily marts carried over again)
        publish_in_another_process(data_dir, "mart_customer_summary")
        publish_in_another_process(data_dir, "mart_customer_summary")
        # 5: the daily sweep rewrites the daily marts carried over since publication 1
        run_cli("--data-dir", str(data_dir), "build", "--full-tests", check=True)
        # 6: every mart rewritten
        publish_in_another_process(data_dir)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            assert con.execute("select count(*) from observability.publications").fetchall() == [(6,)]
        # every mart still reads the same rows through the open connection
        assert every_mart(reader) == seen
    finally:
        reader.close()
    # reconnecting sees the newest snapshot, equal to the warehouse's marts
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select number, batch_id from main.publication").fetchall() == [(6, 2)]
        assert every_mart(con) != seen
    assert marts(snapshot) == marts(warehouse)


@contextmanager
def held_read_write(database: Path) -> Iterator[None]:
    """Another process (a notebook, a running build) holding `database` read-write."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(database),
        ],
        cwd=REPO_ROOT,
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready", holder.stderr
        yield
    finally:
        holder.communicate(input="", timeout=60)


def test_a_notebook_holding_the_catalog_read_write_does_not_block_the_next_build(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = published_path(warehouse)
    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    with held_read_write(snapshot):  # duckdb.connect("warehouse.published.duckdb"): read-write
        proc = run_cli("--data-dir", str(data_dir), "build")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "published" in proc.stdout
        # a reader that connects now sees the new publication
        assert publication(snapshot)[0][2] == 1
        assert marts(snapshot) == marts(warehouse)
    assert publication(snapshot)[0][2] == 1


def test_status_and_report_work_while_a_build_holds_the_warehouse(data_dir: Path) -> None:
    warehouse = data_dir / "warehouse.duckdb"
    with held_read_write(warehouse):  # as dbt does for the whole of `tpch-elt build`
        status = run_cli("--data-dir", str(data_dir), "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "batches and watermarks unavailable: warehouse busy" in status.stderr
        assert "published for readers: publication 1, " in status.stdout
        assert "batch 0" in status.stdout

        report = run_cli("--data-dir", str(data_dir), "report")
        assert report.returncode == 0, report.stdout + report.stderr
        assert "observability.html not refreshed" in report.stderr.replace("\n", "")
        reports = data_dir / "reports"
        assert "from warehouse.published.duckdb" in (reports / "insights.html").read_text()
        assert "could not be rendered" in (reports / "observability.html").read_text()
        assert "not refreshed" in (reports / "index.html").read_text()
    # once the build is done, everything is there again
    status = run_cli("--data-dir", str(data_dir), "status", check=True)
    assert "quarantined rows" in status.stdout and "published for readers: publication 1, " in status.stdout
    report = run_cli("--data-dir", str(data_dir), "report", check=True)
    assert "not refreshed" not in report.stderr
    assert "could not be rendered" not in (data_dir / "reports" / "observability.html").read_text()
    assert "not refreshed" not in (data_dir / "reports" / "index.html").read_text()
