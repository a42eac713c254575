"""The `dbt_pipeline` DAG running for real, at SF 0.01 with arrival batches.

1. `airflow dags test dbt_pipeline`: every task in one process, SQLite.
2. Production-like: `airflow/stack.py start` (what `make airflow` runs) with
   a fresh PostgreSQL metadata database, the scheduler and LocalExecutor and
   the api-server; a run triggered through the REST API (v2, JWT from
   /auth/token) must succeed with every dbt test run exactly once.
3. A real browser (Debian's Chromium through Playwright) logs into that UI
   as airflow/airflow and finds the DAG and its task groups; it may reach
   nothing but the Airflow under test.
4. Deadlines, on that scheduler and triggerer: the pipelines of
   airflow/pipelines.yml plus a probe pipeline with a 5 s SLA
   (TPCH_ELT_PIPELINES); a probe run held back past its deadline raises
   exactly one alert, and the REST-triggered run, which finishes within its
   SLA, none.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from testkit.airflow import (
    BATCHES,
    DAG_ID,
    LAYERS,
    PIPELINES_FILE,
    REPO_ROOT,
    SCALE_FACTOR,
    STACK_FILE,
    free_port,
    manifest_nodes,
    models_by_layer,
    quiet_env,
    stack,
)
from testkit.cli import copy_data_dir, run_cli

from tpch_elt.orchestration import PROMOTE_DAG_ID

RUN_TIMEOUT = 1500  # seconds: 60 tasks, each a dbt process, on 2 busy cores
SCREENSHOT = Path("/tmp/airflow_ui.png")
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# A pipeline whose runs the test holds back past a 5 s deadline (never scheduled: no cron runs here).
PROBE = "deadline_probe"
PROBE_PIPELINE = f"""
  - name: {PROBE}
    description: "pytest: a run held back past its deadline"
    schedule: "0 0 1 1 *"
    full_tests: true
    sla: 5s
    owner: pytest
    tags: [pytest]
"""
DONE_LINE = re.compile(r"Done\. PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+ NO-OP=\d+ TOTAL=(\d+)")
MODEL_BUILT = re.compile(r"\d+ of \d+ OK created ")
# The increment's build selects the marts' exposures too: dbt counts them, they do nothing.
EXPOSURE = re.compile(r"\d+ of \d+ NO-OP exposure ")
# Cosmos names a model's `dbt build` task <model>_model_build (TestBehavior.BUILD).
BUILD_SUFFIX = "_model_build"


def copy_data(prepared: Path, tmp: Path) -> Path:
    return copy_data_dir(prepared, tmp / "data")


def cli_build_tests(tmp: Path, exclude: str, select: str = "") -> int:
    """How many data and unit tests `tpch-elt build` runs with this selection (dbt ls)."""
    project = REPO_ROOT / "dbt_project"
    proc = subprocess.run(
        [
            stack().tool("dbt"),
            "ls",
            "--quiet",
            "--output",
            "name",
            "--resource-type",
            "test",
            "unit_test",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project / "profiles"),
            "--target-path",
            str(tmp / "ls"),
            "--log-path",
            str(tmp / "ls"),
            *(["--select", select] if select else []),
            *(["--exclude", exclude] if exclude else []),
        ],
        env=quiet_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def dbt_tests_in_log(task_id: str, log: str) -> int:
    """The number of dbt tests a dbt task's log reports (0 when dbt had nothing to do).

    dbt's closing line counts every node; a build task also built models
    ("OK created" lines) and passed exposures ("NO-OP"), which are not tests.
    """
    totals = DONE_LINE.findall(log)
    if totals:
        return int(totals[-1]) - len(MODEL_BUILT.findall(log)) - len(EXPOSURE.findall(log))
    assert "Nothing to do" in log, f"{task_id}: no dbt summary in its log"
    return 0


def is_test_task(task_id: str) -> bool:
    """The tasks that run dbt tests: each model's build task, a layer's cross-model tests, the source
    tests (the per-model path), the increment's one build."""
    return task_id.endswith((BUILD_SUFFIX, ".cross_model_tests")) or task_id in ("source_tests", "increment")


def recorded_invocations(data_dir: Path) -> set[str]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {
            row[0] for row in con.execute("select invocation_id from observability.invocations").fetchall()
        }


def assert_the_run_was_observed_as_one_build(
    data_dir: Path, known: set[str], run_id: str, tests_ran: int
) -> None:
    """The DAG run is one `build` in the observability history, holding every
    model it built and every test it ran (each dbt task's Cosmos callback),
    with its tables measured; its freshness check is recorded as the CLI's
    is, and `observe` judged both."""
    run = f"airflow {DAG_ID} {run_id}"
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        invocations = dict(
            con.execute(
                "select invocation_id, command from observability.invocations where invocation_id not in "
                f"({', '.join('?' for _ in known)})",
                sorted(known),
            ).fetchall()
        )
        assert sorted(invocations.values()) == ["build", "source freshness"], invocations
        assert invocations[run] == "build"
        (status,) = con.execute(
            "select status from observability.invocations where invocation_id = ?", [run]
        ).fetchone()
        tests, failed = con.execute(
            "select count(*), count(*) filter (where status <> 'pass') from observability.test_results "
            "where invocation_id = ?",
            [run],
        ).fetchone()
        models = con.execute(
            "select count(*) from observability.model_runs where invocation_id = ? and status = 'success'",
            [run],
        ).fetchone()[0]
        built = con.execute(
            "select count(*) from information_schema.tables where table_schema in ('staging', 'intermediate', 'mart')"
        ).fetchone()[0]
        measured = con.execute(
            "select count(*) from observability.table_metrics where invocation_id = ? and resource_type = 'source'",
            [run],
        ).fetchone()[0]
        judged = con.execute(
            f"select count(*) from observability.evaluations where invocation_id in "
            f"({', '.join('?' for _ in invocations)})",
            list(invocations),
        ).fetchone()[0]
    assert status == "success"
    assert (tests, failed) == (tests_ran, 0)
    assert 0 < models <= built
    assert measured == 8, "the run's sources were not measured"
    assert judged == len(invocations), "observe did not judge the run"


def assert_batch_one_reached_the_marts(data_dir: Path, manifest: Path) -> None:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        raw_batch, raw_orders = con.execute("select max(_batch_id), count(*) from raw.orders").fetchone()
        assert raw_batch == 1, "the run did not ingest the next batch"
        mart_batch, mart_orders = con.execute(
            "select max(_batch_id), count(*) from mart.mart_orders"
        ).fetchone()
        assert (mart_batch, mart_orders) == (1, raw_orders)
        relations = {
            (schema, name)
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
    for layer, models in models_by_layer(manifest).items():
        for model in models:
            assert (layer, model) in relations, f"{layer}.{model} was not built"
    assert (data_dir / "reports" / "index.html").is_file(), "the report step did not write the reports"
    # the publish task published what passed: the marts as built, batch 1
    snapshot = data_dir / "warehouse.published.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select batch_id from main.publication").fetchall() == [(1,)]
        assert con.execute("select count(*) from mart.mart_orders").fetchall() == [(raw_orders,)]


def test_airflow_dags_test_runs_the_pipeline_end_to_end(
    tmp_path: Path, prepared_data: Path, dbt_manifest: Path
) -> None:
    data_dir = copy_data(prepared_data, tmp_path)
    native = stack().Native(home=tmp_path / "home", port=free_port(), data_dir=data_dir)
    env = {**stack().native_env(native, base=quiet_env()), "TPCH_ELT_DBT_MANIFEST": str(dbt_manifest)}
    stack().prepare(env, scale_factor=SCALE_FACTOR, batches=BATCHES)
    known = recorded_invocations(data_dir)
    started = time.perf_counter()
    proc = subprocess.run(
        [stack().tool("airflow", env), "dags", "test", DAG_ID],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = proc.stdout + proc.stderr
    print(f"airflow dags test {DAG_ID}: {time.perf_counter() - started:.0f} s")
    assert proc.returncode == 0, output[-4000:]
    assert re.search(r"DagRun Finished: dag_id=dbt_pipeline.*state=success", output), output[-4000:]
    # Airflow 3.3.2's `dags test` fails on a DAG with a deadline (apache/airflow#73428): left out, said so
    assert "the pipelines' deadlines are left out" in output
    assert_batch_one_reached_the_marts(data_dir, dbt_manifest)
    # An incremental run, planned as `tpch-elt build` plans it: one dbt task
    # builds the orders/line-item lineage, the row-level tests read the new
    # batch only, and the history-wide models and tests wait for the daily
    # sweep; the per-model path is skipped.
    import sqlite3

    from tpch_elt.transform.build import INCREMENTAL_SELECT, INCREMENTAL_SKIPS

    with sqlite3.connect(tmp_path / "home" / "airflow.db") as db:
        (rendered,) = db.execute(
            "select rendered_fields from rendered_task_instance_fields where task_id = ?", ("increment",)
        ).fetchone()
        states = dict(db.execute("select task_id, state from task_instance").fetchall())
    fields = json.loads(rendered)
    assert fields["env"]["TPCH_ELT_TESTS_FROM_BATCH"] == "1"
    assert fields["select"] == " ".join(INCREMENTAL_SELECT)
    assert fields["exclude"] == " ".join(INCREMENTAL_SKIPS)
    per_model = {task_id for task_id in states if task_id.endswith(BUILD_SUFFIX) or task_id == "source_tests"}
    assert per_model and {states[task_id] for task_id in per_model} == {"skipped"}, states
    assert {states[task_id] for task_id in ("increment", "publish", "observe", "report")} == {"success"}
    # The same tests as the CLI's incremental build, each exactly once. `dags
    # test` runs the tasks one after the other; each ends with this marker.
    ran, previous = 0, ""
    for segment in re.split(r"(\[DAG TEST\] end task task_id=\S+)", output)[:-1]:
        if segment.startswith("[DAG TEST] end task task_id="):
            task_id = segment.rsplit("=", 1)[1]
            if is_test_task(task_id):
                ran += dbt_tests_in_log(task_id, previous)
        previous = segment
    assert ran == cli_build_tests(tmp_path, " ".join(INCREMENTAL_SKIPS), " ".join(INCREMENTAL_SELECT)) > 0
    with sqlite3.connect(tmp_path / "home" / "airflow.db") as db:
        ((run_id,),) = db.execute("select run_id from dag_run").fetchall()
    assert_the_run_was_observed_as_one_build(data_dir, known, run_id, ran)


# --- production-like: PostgreSQL, scheduler, LocalExecutor, api-server ------------------------


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    data_dir: Path
    database: str


def _postgres(sql: str, database: str = "postgres") -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(dbname=database, connect_timeout=5, **POSTGRES)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


@pytest.fixture(scope="module")
def airflow_server(
    tmp_path_factory: pytest.TempPathFactory, prepared_data: Path, dbt_manifest: Path
) -> Iterator[Server]:
    try:
        _postgres("select 1")
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres ({str(exc).strip()}): "
            "start it (`.ci/run` does: pg_ctlcluster ... main start)"
        )
    database = f"tpch_elt_airflow_{uuid.uuid4().hex[:10]}"
    _postgres(f"create database {database}")
    tmp = tmp_path_factory.mktemp("airflow_server")
    data_dir = copy_data(prepared_data, tmp)
    home = tmp / "home"
    port = free_port()
    pipelines = tmp / "pipelines.yml"
    pipelines.write_text(PIPELINES_FILE.read_text() + PROBE_PIPELINE, encoding="utf-8")
    env = {
        **quiet_env(),
        "TPCH_ELT_DBT_MANIFEST": str(dbt_manifest),
        "TPCH_ELT_PIPELINES": str(pipelines),
        # Runs come from the REST API only: no cron run competes with the one under test.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    native = ["--home", str(home), "--port", str(port)]
    try:
        proc = subprocess.run(
            [
                sys.executable,
                str(STACK_FILE),
                "start",
                *native,
                "--db-url",
                f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
                "--data-dir",
                str(data_dir),
                "--scale-factor",
                SCALE_FACTOR,
                "--batches",
                str(BATCHES),
                "--timeout",
                "300",
            ],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, (
            f"airflow/stack.py start failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        assert f"http://localhost:{port}" in proc.stdout
        yield Server(f"http://127.0.0.1:{port}", home, data_dir, database)
    finally:
        subprocess.run(
            [sys.executable, str(STACK_FILE), "stop", *native],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=120,
            check=False,
        )
        _postgres(f"drop database if exists {database} with (force)")


def _api(server: Server, method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{server.url}/api/v2{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _task_log(server: Server, run_id: str, task_id: str) -> str:
    logs = sorted(
        (server.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}").glob(
            "attempt=*.log"
        )
    )
    return logs[-1].read_text(errors="replace") if logs else ""


def test_run_triggered_through_the_rest_api_succeeds_on_postgres(
    airflow_server: Server, dbt_manifest: Path
) -> None:
    server = airflow_server
    known = recorded_invocations(server.data_dir)
    token = stack().token(server.url, "airflow", "airflow")
    dag = _api(server, "GET", f"/dags/{DAG_ID}", token)
    assert dag["is_paused"] is False and dag["has_import_errors"] is False
    # The daily sweep, asked for: every model and every test over all history.
    run = _api(
        server,
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        token,
        {"logical_date": None, "conf": {"full_tests": True}, "note": "pytest"},
    )
    run_id = run["dag_run_id"]
    # Its deadline (airflow/pipelines.yml: sla 2h), created with the run: 2 hours after it was queued.
    assert _deadlines(server, DAG_ID, run_id) == [(timedelta(hours=2), False)]
    started = time.monotonic()
    while True:
        state = _api(server, "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}", token)["state"]
        if state in ("success", "failed") or time.monotonic() - started > RUN_TIMEOUT:
            break
        time.sleep(5)
    print(
        f"REST-triggered run on PostgreSQL + LocalExecutor: {state} after {time.monotonic() - started:.0f} s"
    )
    instances = _api(server, "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=200", token)[
        "task_instances"
    ]
    # The sweep takes the per-model path: the increment's one task is the branch not taken.
    states = {ti["task_id"]: ti["state"] for ti in instances}
    branch_not_taken = states.pop("increment", None)
    unfinished = {task_id: ti_state for task_id, ti_state in states.items() if ti_state != "success"}
    details = "\n".join(
        f"--- {task_id} ({ti_state}):\n{_task_log(server, run_id, task_id)[-1500:]}"
        for task_id, ti_state in list(unfinished.items())[:3]
    )
    assert state == "success", f"run {run_id} is {state}; not successful: {unfinished}\n{details}"
    assert not unfinished
    assert branch_not_taken == "skipped"
    # The metadata lives in the PostgreSQL database made for this test.
    assert _postgres(f"select state from dag_run where run_id = '{run_id}'", server.database) == [
        ("success",)
    ]
    assert_batch_one_reached_the_marts(server.data_dir, dbt_manifest)
    # Every dbt test of the project ran exactly once: in its model's build
    # task, a layer's cross-model task, or the source tests.
    nodes, unit_tests = manifest_nodes(dbt_manifest)
    expected = sum(1 for node in nodes.values() if node["resource_type"] == "test") + len(unit_tests)
    ran = sum(
        dbt_tests_in_log(ti["task_id"], _task_log(server, run_id, ti["task_id"]))
        for ti in instances
        if is_test_task(ti["task_id"]) and ti["state"] == "success"
    )
    assert ran == expected == cli_build_tests(server.home, "")
    # the sweep excludes nothing, and says nothing about an empty exclusion
    log = _task_log(server, run_id, "mart.mart_orders_model_build")
    assert "--select" in log and "--exclude" not in log, log[-2000:]
    assert_the_run_was_observed_as_one_build(server.data_dir, known, run_id, ran)
    # Finished within its SLA: Airflow dropped the deadline, so no alert will ever come for it.
    assert _deadlines(server, DAG_ID, run_id) == []
    assert [e for e in _deadline_alerts(server) if e.get("pipeline") == DAG_ID] == []


def _batch_landed(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """`python airflow/stack.py batch-landed --url <server> ARGS`, as whatever lands a batch runs it."""
    return subprocess.run(
        [sys.executable, str(STACK_FILE), "batch-landed", "--url", server.url, *args],
        env=quiet_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _deadlines(server: Server, dag_id: str, run_id: str) -> list[tuple]:
    """(deadline - queued_at, missed) of each deadline Airflow keeps for the run."""
    return _postgres(
        "select d.deadline_time - r.queued_at, d.missed from deadline as d join dag_run as r "
        f"on r.id = d.dagrun_id where r.dag_id = '{dag_id}' and r.run_id = '{run_id}'",
        server.database,
    )


def _deadline_alerts(server: Server) -> list[dict]:
    """What tpch_elt.observability.sla.alert_missed_deadline recorded, one JSON line per decision."""
    journal = server.data_dir / "observability" / "deadline_alerts.jsonl"
    if not journal.is_file():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


def test_a_run_held_back_past_its_deadline_raises_exactly_one_alert(airflow_server: Server) -> None:
    """The probe's 5 s deadline passes while its run waits (its DAG paused, as behind a full queue):
    the scheduler marks the miss, the triggerer runs the callback, the alert goes out once."""
    server = airflow_server
    token = stack().token(server.url, "airflow", "airflow")
    started = time.monotonic()
    _api(server, "PATCH", f"/dags/{PROBE}", token, {"is_paused": True})
    run_id = _api(
        server, "POST", f"/dags/{PROBE}/dagRuns", token, {"logical_date": None, "note": "pytest: late"}
    )["dag_run_id"]
    try:
        assert _deadlines(server, PROBE, run_id) == [(timedelta(seconds=5), False)]
        alerts: list[dict] = []
        while time.monotonic() - started < 90 and not alerts:
            time.sleep(1)
            alerts = [e for e in _deadline_alerts(server) if e.get("pipeline") == PROBE]
        waited = time.monotonic() - started
        assert alerts, f"no deadline alert for {PROBE} {run_id} after {waited:.0f} s:\n" + _tail(
            server.home / "run" / "triggerer.log"
        )
        time.sleep(3)  # the scheduler's next loops must not alert it again
        alerts = [e for e in _deadline_alerts(server) if e.get("pipeline") == PROBE]
        assert [(e["run_id"], e["status"]) for e in alerts] == [(run_id, "sent")], alerts
        assert alerts[0]["incident_key"] == f"sla:deadline:{PROBE}"
        assert _deadlines(server, PROBE, run_id) == [(timedelta(seconds=5), True)]
        assert _api(server, "GET", f"/dags/{PROBE}/dagRuns/{run_id}", token)["state"] == "queued"
        print(f"deadline alert {waited:.1f} s after the probe run was queued (SLA 5 s)")
    finally:
        request = urllib.request.Request(
            f"{server.url}/api/v2/dags/{PROBE}/dagRuns/{run_id}",
            headers={"Authorization": f"Bearer {token}"},
            method="DELETE",
        )
        urllib.request.urlopen(request, timeout=30).close()


def test_a_landed_batch_is_announced_as_an_event_on_the_asset_the_increment_runs_on(
    airflow_server: Server,
) -> None:
    """`python airflow/stack.py batch-landed`: the REST API's asset event, which dbt_pipeline is scheduled on.

    The DAG is paused meanwhile: Airflow records the event but queues no run
    (a run would ingest a batch the other tests expect pending).
    """
    from tpch_elt.orchestration import BATCH_LANDED_ASSET

    server = airflow_server
    token = stack().token(server.url, "airflow", "airflow")
    (asset,) = [
        a
        for a in _api(server, "GET", f"/assets?name_pattern={BATCH_LANDED_ASSET}", token)["assets"]
        if a["name"] == BATCH_LANDED_ASSET
    ]
    assert [dag["dag_id"] for dag in asset["scheduled_dags"]] == [DAG_ID]
    _api(server, "PATCH", f"/dags/{DAG_ID}", token, {"is_paused": True})
    try:
        proc = _batch_landed(server, "--batch", "7")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        event_id = int(re.search(r"asset event (\d+) on " + BATCH_LANDED_ASSET, proc.stdout).group(1))
        events = _api(server, "GET", f"/assets/events?asset_id={asset['id']}", token)["asset_events"]
        (event,) = [e for e in events if e["id"] == event_id]
        assert event["extra"] == {"batch_id": 7, "from_rest_api": True}
        # a wrong password is one line, no traceback
        refused = _batch_landed(server, "--login", "airflow:x")
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"error: Airflow at {server.url} refused the asset event: HTTP 401 Unauthorized"
        ]
    finally:
        _api(server, "PATCH", f"/dags/{DAG_ID}", token, {"is_paused": False})


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def test_the_api_refuses_requests_without_a_valid_token(airflow_server: Server) -> None:
    """No login, no API: 401 without a token, refused with a forged one, no token for a wrong password."""
    for headers, refusals in (({}, {401}), ({"Authorization": "Bearer not-a-token"}, {401, 403})):
        request = urllib.request.Request(f"{airflow_server.url}/api/v2/dags", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code in refusals, (headers, refused.value.code)
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack().token(airflow_server.url, "airflow", "not-the-password")
    assert refused.value.code == 401
    # the same request with the right login's token is answered
    token = stack().token(airflow_server.url, "airflow", "airflow")
    assert DAG_ID in {dag["dag_id"] for dag in _api(airflow_server, "GET", "/dags", token)["dags"]}


def test_browser_logs_in_and_finds_the_pipeline_and_its_task_groups(airflow_server: Server, browser) -> None:
    from playwright.sync_api import expect

    server = airflow_server
    elsewhere: list[str] = []

    def only_the_airflow_under_test(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.set_default_timeout(60_000)
        page.route("**/*", only_the_airflow_under_test)
        page.goto(f"{server.url}/")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        # A wrong password is refused...
        page.get_by_label("Username").fill("airflow")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert "/auth/login" in page.url
        # ...airflow / airflow gets in.
        page.get_by_label("Password").fill("airflow")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        page.goto(f"{server.url}/dags")
        link = page.get_by_role("link", name=DAG_ID).first
        expect(link).to_be_visible()
        link.click()
        page.wait_for_url(f"**/dags/{DAG_ID}**")
        for name in (
            "ingest",
            "source_freshness",
            "source_tests",
            "plan_build",
            *LAYERS,
            "publish",
            "report",
        ):
            expect(page.get_by_text(name, exact=True).first).to_be_visible()
        # Open the staging group: one build task per model, and the layer's cross-model tests.
        page.locator('[aria-label="Toggle group"][data-group-id="staging"]').click()
        expect(page.get_by_text("stg_dim_customer_model_build", exact=True).first).to_be_visible()
        expect(page.get_by_text("cross_model_tests", exact=True).first).to_be_visible()
        page.screenshot(path=str(SCREENSHOT))
    finally:
        page.close()
    assert elsewhere == [], f"the UI tried to reach beyond this machine: {elsewhere}"


def _wait_for_state(
    server: Server, token: str, dag_id: str, run_id: str, task_id: str, wanted: set[str]
) -> str:
    started = time.monotonic()
    while time.monotonic() - started < 300:
        instance = _api(server, "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", token)
        if instance["state"] in wanted:
            return str(instance["state"])
        if instance["state"] in ("failed", "upstream_failed"):
            break
        time.sleep(2)
    logs = sorted(
        (server.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").glob("task_id=*/attempt=*.log")
    )
    raise AssertionError(
        f"{dag_id}.{task_id} never reached {wanted}: {instance['state']}\n"
        + "\n".join(f"--- {log}:\n{log.read_text(errors='replace')[-1500:]}" for log in logs)
    )


def _wait_until_the_pause_is_reported(server: Server, dag_id: str, run_id: str, task_id: str) -> None:
    """Wait for the scheduler to receive the executor's event of the process that paused the task.

    Airflow 3.3 with the LocalExecutor: a response that lands before that
    event (within about half a second of the pause; no person is that
    quick, this test is) re-queues the task, and the late "success" event
    of the pausing process then fails it ("finished with state success,
    but the task instance's state attribute is queued").
    """
    event = (
        "Received executor event with state success for task instance "
        f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}'"
    )
    log = server.home / "run" / "scheduler.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.is_file() and event in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"the scheduler never reported the pause of {dag_id}.{task_id} in {log}")


def test_an_environment_is_promoted_through_the_ui_only_after_its_diff_is_approved(
    airflow_server: Server,
) -> None:
    """`promote_environment`: review (the diff) → approve (Human-in-the-loop) → promote, recorded with the approver."""
    from tpch_elt.publish.segments import live_record

    server = airflow_server
    project = server.home.parent / "changed_project"
    shutil.copytree(
        REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    model = project / "models" / "mart" / "insights" / "mart_shipping_modes.sql"
    model.write_text(model.read_text().replace("(is_late or is_returned)", "is_returned"))
    data = ("--data-dir", str(server.data_dir))
    run_cli(*data, "env", "create", "dev", check=True)
    run_cli(*data, "env", "build", "dev", check=True, TPCH_ELT_PROJECT_DIR=str(project))
    catalog = server.data_dir / "warehouse.published.duckdb"
    store = server.data_dir / "warehouse.published"
    before = live_record(catalog, store)
    token = stack().token(server.url, "airflow", "airflow")
    run = _api(
        server,
        "POST",
        f"/dags/{PROMOTE_DAG_ID}/dagRuns",
        token,
        {"logical_date": None, "conf": {"environment": "dev"}, "note": "pytest"},
    )
    run_id = run["dag_run_id"]
    _wait_for_state(server, token, PROMOTE_DAG_ID, run_id, "approve", {"awaiting_input", "deferred"})
    _wait_until_the_pause_is_reported(server, PROMOTE_DAG_ID, run_id, "approve")
    # waiting for a person: nothing promoted yet, and the diff is what the approver reads
    assert live_record(catalog, store) == before
    detail = _api(
        server, "GET", f"/dags/{PROMOTE_DAG_ID}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails", token
    )
    assert "mart\\_shipping\\_modes" in detail["body"] and "dissatisfied\\_line\\_count" in detail["body"]
    _api(
        server,
        "PATCH",
        f"/dags/{PROMOTE_DAG_ID}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        token,
        {"chosen_options": ["Approve"]},
    )
    _wait_for_state(server, token, PROMOTE_DAG_ID, run_id, "promote", {"success"})
    live = live_record(catalog, store)
    assert live is not None and live.event is not None
    assert live.event["kind"] == "promote" and live.event["environment"] == "dev"
    assert live.event["by"] == "airflow (Airflow)"
