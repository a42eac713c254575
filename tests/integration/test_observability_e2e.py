"""Observability end to end: a warehouse fed batch by batch through the real
CLI, with one fault injected per batch after a clean history. Each detector
must flag exactly its fault, nothing else, and clean runs must pass; alerts
go to a webhook on 127.0.0.1.

Timeline (SF 0.01, half the orders held back as 12 batches):

    initial build, batches 1-5   clean history (5 comparable batch builds)
    batch 6                      60 % fewer orders (and their lines)
    batch 7                      o_comment null on about half the orders
    batch 8                      a column added to raw.orders, and its _loaded_at
                                 a day old (two detectors, each must see only its own)
    batch 9                      an order priority no dbt test accepts
    batch 10                     clean again (catches up after batch 9)
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from subprocess import CompletedProcess

import duckdb
import pytest
from testkit.cli import run_cli

SF = "0.01"
BATCHES = 10
# The measured relations (tables) an arrival of orders and lines changes;
# stg_fct_lineitem and int_order_lineitems are views over two of them.
ORDERS_LINEAGE = {
    "raw.orders",
    "raw.lineitem",
    "staging.stg_fct_orders",
    "intermediate.int_order_lineitems_base",
    "intermediate.int_customer_orders",
    "mart.mart_orders",
}


class Webhook:
    """Slack-like receiver on 127.0.0.1: keeps each message under the current step."""

    def __init__(self) -> None:
        self.step = ""
        self.messages: dict[str, list[str]] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.messages.setdefault(hook.step, []).append(body["text"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Timeline:
    data_dir: Path
    warehouse: Path
    builds: dict[str, CompletedProcess] = field(default_factory=dict)
    observed: dict[str, CompletedProcess] = field(default_factory=dict)
    invocation: dict[str, str] = field(default_factory=dict)  # step -> its build's invocation id
    alerts: dict[str, list[str]] = field(default_factory=dict)
    report: CompletedProcess | None = None

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def flagged(self, step: str, status: str = "fail") -> set[tuple[str, str, str]]:
        return set(
            self.rows(
                "select relation, column_name, metric from observability.anomaly_results "
                "where invocation_id = ? and status = ?",
                [self.invocation[step], status],
            )
        )

    def checks(self, step: str) -> int:
        return self.rows(
            "select count(*) from observability.anomaly_results where invocation_id = ?",
            [self.invocation[step]],
        )[0][0]


def _rewrite(path: Path, select: str) -> None:
    """Replace a batch parquet file by `select` over its original (`src`)."""
    original = path.with_suffix(".orig.parquet")
    shutil.move(path, original)
    with duckdb.connect() as con:
        # hive_partitioning off: the path's `sf=…` folder is not a column of the batch
        con.execute(f"create view src as select * from read_parquet('{original}', hive_partitioning = false)")
        con.execute(f"copy ({select}) to '{path}' (format parquet)")
    original.unlink()


def _execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    data_dir = tmp_path_factory.mktemp("observability") / "data"
    hook = Webhook()
    t = Timeline(data_dir, data_dir / "warehouse.duckdb")
    env = {"TPCH_ELT_SLACK_WEBHOOK_URL": hook.url}

    def cli(*args: str, check: bool = True) -> CompletedProcess:
        return run_cli("--data-dir", str(data_dir), *args, check=check, **env)

    def build(step: str, check: bool = True, ingest: bool = True) -> None:
        if ingest and step != "initial":
            cli("ingest")
        t.builds[step] = cli("build", check=check)
        t.invocation[step] = t.rows(
            "select invocation_id from observability.invocations where command = 'build' "
            "order by started_at desc limit 1"
        )[0][0]

    def observe(step: str) -> None:
        hook.step = step
        t.observed[step] = cli("observe", check=False)

    batches = data_dir / "landing" / f"sf={SF}" / "batches"

    def batch_file(number: int, table: str) -> Path:
        return batches / f"batch_{number:04d}" / f"{table}.parquet"

    try:
        cli("generate", "-s", SF, "--initial-fraction", "0.5", "--batches", str(BATCHES))
        cli("load", "-s", SF)
        build("initial")
        for number in range(1, 6):
            build(f"batch{number}")
        observe("clean")

        # 60 % fewer orders: keep the orders whose key is 0 or 1 mod 5, and their lines.
        _rewrite(batch_file(6, "orders"), "select * from src where o_orderkey % 5 < 2")
        _rewrite(batch_file(6, "lineitem"), "select * from src where l_orderkey % 5 < 2")
        build("fewer_orders")
        observe("fewer_orders")

        _rewrite(
            batch_file(7, "orders"),
            "select * replace (case when o_orderkey % 2 = 0 then null else o_comment end as o_comment) "
            "from src",
        )
        build("null_spike")
        observe("null_spike")

        _execute(t.warehouse, "alter table raw.orders add column o_channel varchar")
        cli("ingest")
        _execute(t.warehouse, "update raw.orders set _loaded_at = _loaded_at - interval 24 hour")
        build("schema_and_stale", ingest=False)
        observe("schema_and_stale")

        _rewrite(
            batch_file(9, "orders"),
            "select * replace (case when o_orderkey = (select min(o_orderkey) from src) "
            "then '6-UNKNOWN' else o_orderpriority end as o_orderpriority) from src",
        )
        build("failing_test", check=False)
        observe("failing_test")
        # Nothing was published, and the next build audits batch 9 again
        # (write–audit–publish): the operator fixes the row where it landed.
        _execute(
            t.warehouse, "update raw.orders set o_orderpriority = '5-LOW' where o_orderpriority = '6-UNKNOWN'"
        )
        _execute(
            t.warehouse,
            "update staging.stg_fct_orders set order_priority = '5-LOW' where order_priority = '6-UNKNOWN'",
        )

        build("clean_again")
        observe("clean_again")
        t.report = cli("report")
    finally:
        t.alerts = hook.messages
        hook.close()
    return t


def test_a_clean_history_records_every_invocation_and_passes(timeline: Timeline) -> None:
    t = timeline
    assert t.observed["clean"].returncode == 0, t.observed["clean"].stderr
    assert " 0 fail" in t.observed["clean"].stdout
    assert t.flagged("batch5") == set() and t.flagged("batch5", "warn") == set()
    assert t.checks("batch5") > 30, "freshness, volume and schema checks ran"
    assert "clean" not in t.alerts, "no incident, no alert"
    counts = dict(t.rows("select command, count(*) from observability.invocations group by 1"))
    assert counts == {"build": 11, "source freshness": 11}
    # Every source and model has a schema snapshot in every build.
    snapshots = t.rows(
        "select count(distinct relation) from observability.schema_snapshots where invocation_id = ?",
        [t.invocation["batch5"]],
    )[0][0]
    assert snapshots >= 8 + 26


def test_every_build_records_the_profiled_cost_of_each_table_model(timeline: Timeline) -> None:
    """DuckDB's profiler, per model statement (tpch_elt.observability.cost), in every build."""
    t = timeline
    for step in ("initial", "batch1", "fewer_orders"):
        inv = t.invocation[step]
        tables = {
            name
            for (name,) in t.rows(
                "select name from observability.model_runs where invocation_id = ? and status = 'success' "
                "and materialized in ('table', 'incremental')",
                [inv],
            )
        }
        costs = {
            row[0]: row[1:]
            for row in t.rows(
                "select name, statements, seconds, rows_read, rows_written, bytes_scanned, peak_memory "
                "from observability.model_costs where invocation_id = ? and source = 'duckdb_profiler'",
                [inv],
            )
        }
        assert tables and set(costs) == tables, step
        assert all(c[0] >= 1 and c[1] > 0 and c[5] > 0 for c in costs.values()), step
        assert sum(c[3] for c in costs.values()) > 0 and sum(c[4] for c in costs.values()) > 0, step
    # An increment writes exactly its batch's new orders into stg_fct_orders (the temporary
    # table of new rows it builds first is read, not counted as written).
    for step, batch in (("batch1", 1), ("fewer_orders", 6)):
        written = t.rows(
            "select rows_written from observability.model_costs where invocation_id = ? and name = 'stg_fct_orders'",
            [t.invocation[step]],
        )[0][0]
        assert written == t.rows("select count(*) from raw.orders where _batch_id = ?", [batch])[0][0]
    # Profiles are removed once recorded; the page shows the section.
    profiles = t.data_dir / "dbt" / "target" / "profiles"
    assert not profiles.exists() or not any(profiles.iterdir())
    assert 'id="cost"' in (t.data_dir / "reports" / "observability.html").read_text()


def test_a_batch_with_60_percent_fewer_orders_is_a_volume_anomaly_only(timeline: Timeline) -> None:
    t = timeline
    flagged = t.flagged("fewer_orders")
    assert {("raw.orders", "", "rows_added"), ("raw.lineitem", "", "rows_added")} <= flagged
    assert {metric for _, _, metric in flagged} == {"rows_added"}
    assert {relation for relation, _, _ in flagged} <= ORDERS_LINEAGE
    assert t.flagged("fewer_orders", "warn") == set()
    observed = t.observed["fewer_orders"]
    assert observed.returncode == 1
    error = observed.stderr.strip()
    assert len(error.splitlines()) == 1 and "failing anomaly: volume" in error and "rows_added" in error
    (message,) = t.alerts["fewer_orders"]
    assert "raw.orders rows_added" in message and "incident(s)" in message.splitlines()[0]


def test_a_null_spike_flags_that_column_and_its_staging_copy_only(timeline: Timeline) -> None:
    t = timeline
    assert t.flagged("null_spike") == {
        ("raw.orders", "o_comment", "null_percent"),
        ("staging.stg_fct_orders", "order_comment", "null_percent"),
    }
    assert t.flagged("null_spike", "warn") == set()
    assert t.observed["null_spike"].returncode == 1
    assert "o_comment" in " ".join(t.alerts["null_spike"])


def test_a_column_added_and_a_stale_loaded_at_are_each_seen_by_their_detector_only(
    timeline: Timeline,
) -> None:
    t = timeline
    assert t.flagged("schema_and_stale") == {
        ("raw.orders", "o_channel", "column_added"),
        ("raw.orders", "", "freshness_lag_seconds"),
    }
    assert t.flagged("schema_and_stale", "warn") == set()
    observed = t.observed["schema_and_stale"]
    assert observed.returncode == 1 and "(+1 more)" in observed.stderr
    assert "column o_channel added" in observed.stdout and "freshness_lag_seconds" in observed.stdout
    # dbt's own freshness check warned too (24 h > 12 h): one grouped alert says all of it.
    (message,) = t.alerts["schema_and_stale"]
    assert "freshness: tpch.orders: last load 24.0 h ago" in message
    assert "raw.orders freshness_lag_seconds" in message and "column o_channel added" in message


def test_a_failing_dbt_test_is_recorded_with_sample_rows_and_alerted(timeline: Timeline) -> None:
    t = timeline
    assert t.builds["failing_test"].returncode == 1
    rows = t.rows(
        "select name, column_name, failures, failing_sample from observability.test_results "
        "where invocation_id = ? and status = 'fail'",
        [t.invocation["failing_test"]],
    )
    assert len(rows) == 1
    name, column, failures, sample = rows[0]
    assert name.startswith("accepted_values_stg_fct_orders_order_priority") and column == "order_priority"
    assert failures == 1 and json.loads(sample)[0]["value_field"] == "6-UNKNOWN"
    assert t.flagged("failing_test") == set() and t.flagged("failing_test", "warn") == set()
    assert t.observed["failing_test"].returncode == 0, (
        "a failing test is the build's exit code, not observe's"
    )
    (message,) = t.alerts["failing_test"]
    assert "accepted_values_stg_fct_orders_order_priority" in message and "1 failing row(s)" in message


def test_a_clean_run_after_the_incidents_passes_and_stays_quiet(timeline: Timeline) -> None:
    t = timeline
    assert t.observed["clean_again"].returncode == 0, t.observed["clean_again"].stderr
    assert t.flagged("clean_again") == set() and t.flagged("clean_again", "warn") == set()
    assert t.checks("clean_again") > 100
    assert "clean_again" not in t.alerts
    # Every fault run was judged against clean runs only: the incidents left the training sets.
    incidents = t.rows("select count(*) from observability.anomaly_results where status = 'fail'")[0][0]
    assert incidents == sum(
        len(t.flagged(step)) for step in ("fewer_orders", "null_spike", "schema_and_stale")
    )


def test_the_report_shows_what_failed_and_why(timeline: Timeline) -> None:
    t = timeline
    page = t.data_dir / "reports" / "observability.html"
    html = page.read_text()
    assert page.stat().st_size < 300_000, "the page should stay small"
    for needle in (
        "6-UNKNOWN",
        "column o_channel added",
        "raw.orders rows_added",
        "raw.orders.o_comment null_percent",
        "raw.orders freshness_lag_seconds",
        "Lineage",
    ):
        assert needle in html, needle
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html), "no network resources"
    assert "observability.html" in t.report.stdout
