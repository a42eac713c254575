"""The dbt project on Snowflake, proven without an account.

The whole project through dbt-snowflake against the fakesnow emulator
(`pytest -m snowflake`; fakesnow patches the Snowflake connector in-process
and runs the SQL on DuckDB). Raw TPC-H data at SF 0.01 goes in through the
connector (PUT + COPY INTO, tpch_elt.load.snowflake), then `dbt build` and
`dbt source freshness` run with `--target snowflake`, and every model is
compared with the DuckDB build of the same data. Each dbt step runs in a
subprocess of tests/scripts/snowflake_emulator.py, because fakesnow's patch
only applies inside the process that made it. The static portability checks
are tests/unit/test_snowflake_portability.py.

Emulator limitations, named here and covered by the DuckDB suite instead:

* TEMP_RELATION_LIMITATION: dbt-snowflake creates a temporary table or view
  qualified with database and schema for every incremental run (append:
  view, delete+insert: table) and for every unit test; DuckDB, and so
  fakesnow, allows temporary objects only in its own `temp` catalog. The
  incremental path is covered by tests/integration/test_incremental.py, unit tests by
  every DuckDB build.
* LAST_ALTERED_LIMITATION: fakesnow's INFORMATION_SCHEMA reports every
  table's LAST_ALTERED as to_timestamp(0), so metadata-based freshness (the
  sample share's) sees 1970-01-01: the emulated check proves the metadata
  path is taken, not the age it reports.
* fakesnow's `numeric_agg_implicit_cast` turns SUM/AVG arguments into
  DOUBLE; Snowflake's SUM of a NUMBER is an exact NUMBER. The runner
  switches that transform off (see tests/scripts/snowflake_emulator.py) so exact
  money reconciliation means what it means on Snowflake.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from testkit.cli import E2E_BATCHES, REPO_ROOT, Pipeline, cli_env

from tpch_elt.tpch import TABLES, format_scale_factor

DBT_PROJECT = REPO_ROOT / "dbt_project"
EMULATOR = REPO_ROOT / "tests" / "scripts" / "snowflake_emulator.py"

TEMP_RELATION_LIMITATION = 'TEMPORARY table names can *only* use the "temp" catalog'
LAST_ALTERED_LIMITATION = "1970-01-01 00:00:00"

# --------------------------------------------------------------------------
# The whole project on the fakesnow emulator
# --------------------------------------------------------------------------

EMULATED_DATABASE = "TPCH_ELT"


@dataclass
class Emulator:
    """Runs tests/scripts/snowflake_emulator.py steps against one set of emulated databases."""

    db_path: Path
    work: Path
    data_dir: Path
    scale_factor: float

    def run(self, name: str, *step: str, attach: tuple[str, ...] = (), **env: str) -> dict:
        report = self.work / f"{name}.json"
        report.unlink(missing_ok=True)
        args = [sys.executable, str(EMULATOR), "--db-path", str(self.db_path), "--report", str(report)]
        for database in attach:
            args += ["--attach", database]
        proc = subprocess.run(
            [*args, *step],
            cwd=REPO_ROOT,
            # One dbt thread: fakesnow's shared connection state is not
            # thread-safe. Under load, parallel threads got "Parser Error:
            # syntax error at or near "schemas"" for dbt's `SHOW terse schemas
            # in database TPCH_ELT`, and "Invalid expression / Unexpected
            # token" for `show objects in TPCH_ELT.mart`; alone, each passes.
            env=cli_env(**{"SNOWFLAKE_DATABASE": EMULATED_DATABASE, "TPCH_ELT_THREADS": "1", **env}),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not report.is_file():
            raise AssertionError(
                f"emulator step {name} left no report (exit {proc.returncode})\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        result = json.loads(report.read_text())
        result["output"] = proc.stdout[-6000:] + proc.stderr[-3000:]
        if step[0] != "reach":
            assert result["network_attempts"] == [], (
                f"step {name} tried to reach the network: {result['network_attempts']}"
            )
        return result

    def dbt(self, name: str, command: list[str], *args: str, **kwargs: Any) -> dict:
        target = self.work / f"target-{kwargs.pop('target_dir', 'main')}"
        return self.run(
            name,
            "dbt",
            *command,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT / "profiles"),
            "--target",
            "snowflake",
            "--target-path",
            str(target),
            "--log-path",
            str(self.work / "logs"),
            *args,
            **kwargs,
        )

    def load(self, name: str, *args: str, **env: str) -> dict:
        return self.run(
            name,
            "load",
            "--data-dir",
            str(self.data_dir),
            "-s",
            str(self.scale_factor),
            *args,
            **env,
        )

    def query(self, name: str, *sql: str, attach: tuple[str, ...] = (), **env: str) -> list[list[list[Any]]]:
        return self.run(name, "query", *sql, attach=attach, **env)["results"]

    def models(self) -> list[tuple[str, str]]:
        """(schema, relation) of every model in the last main build's manifest."""
        manifest = json.loads((self.work / "target-main" / "manifest.json").read_text())
        return sorted(
            (node["schema"], node["alias"])
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
        )


def failures(report: dict) -> dict[str, str]:
    return {
        node["unique_id"]: node["message"]
        for node in report["nodes"]
        if node["status"] in ("error", "fail", "runtime error")
    }


@pytest.fixture(scope="module")
def emulator(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    try:
        import dbt.adapters.snowflake  # noqa: F401
        import fakesnow  # noqa: F401
    except ImportError as exc:
        raise AssertionError(
            f"{exc.name} is missing: install the snowflake extra "
            "(pip install -e '.[snowflake]'; `make test` does)"
        ) from exc
    work = tmp_path_factory.mktemp("snowflake")
    return Emulator(work / "databases", work, pipeline.data_dir, pipeline.scale_factor)


@dataclass
class EmulatedBuild:
    load: dict
    build: dict
    freshness: dict


@pytest.fixture(scope="module")
def emulated_build(emulator: Emulator, pipeline: Pipeline) -> EmulatedBuild:
    """RAW loaded through the connector (initial load + every arrival batch,
    i.e. the data the DuckDB pipeline ends with), then one full build."""
    batches = [arg for n in range(1, E2E_BATCHES + 1) for arg in ("--batch", str(n))]
    load = emulator.load("load", *batches)
    build = emulator.dbt("build", ["build"], "--exclude-resource-type", "unit_test")
    freshness = emulator.dbt("freshness", ["source", "freshness"])
    return EmulatedBuild(load, build, freshness)


def _manifest_nodes(emulator: Emulator, resource_type: str) -> set[str]:
    manifest = json.loads((emulator.work / "target-main" / "manifest.json").read_text())
    return {
        unique_id for unique_id, node in manifest["nodes"].items() if node["resource_type"] == resource_type
    }


@pytest.mark.snowflake
def test_emulator_steps_cannot_reach_the_network(emulator: Emulator) -> None:
    # The guard every emulator step runs under (and whose empty
    # "network_attempts" every other step asserts) refuses a real request.
    report = emulator.run("reach", "reach", "example.com", "443")
    assert report["refused"] and report["network_attempts"] == ["('example.com', 443)"]


ENVIRONMENT_STATEMENTS = {
    "clone_environment": 'create or replace database "TPCH_ELT_DEV" clone "TPCH_ELT"',
    "promote_environment": 'alter database "TPCH_ELT" swap with "TPCH_ELT_DEV"',
}


@pytest.mark.snowflake
def test_environment_clone_and_swap_render_for_snowflake_and_reach_the_emulator(emulator: Emulator) -> None:
    """Environments on Snowflake: a zero-copy clone per environment, promotion by swap
    (dbt_project/macros/environments.sql). fakesnow implements CLONE for tables
    only and has no SWAP: the statements are checked as rendered, and the clone
    is sent to it (it accepts the statement)."""
    # the swap as rendered (fakesnow has none to run)
    dry = emulator.dbt(
        "promote-dry", ["run-operation", "promote_environment"], "--args", "{environment: dev, dry_run: true}"
    )
    assert f"dry run: {ENVIRONMENT_STATEMENTS['promote_environment']}" in dry["output"], dry["output"]
    # the clone as run: the statement is logged, then sent
    sent = emulator.dbt("clone-sent", ["run-operation", "clone_environment"], "--args", "{environment: dev}")
    assert ENVIRONMENT_STATEMENTS["clone_environment"] in sent["output"]
    bad = emulator.dbt(
        "clone-bad-name", ["run-operation", "clone_environment"], "--args", "{environment: Dev-1}"
    )
    assert "environment name 'Dev-1' is not valid" in bad["output"]


@pytest.mark.snowflake
def test_raw_is_loaded_through_the_connector(emulated_build: EmulatedBuild, pipeline: Pipeline) -> None:
    loads = emulated_build.load["loads"]
    assert [load["batch_id"] for load in loads] == list(range(E2E_BATCHES + 1))
    loaded = dict.fromkeys(loads[0]["row_counts"], 0)
    for load in loads:
        for table, rows in load["row_counts"].items():
            loaded[table] += rows
    expected = {spec.name: pipeline.scalar(f"select count(*) from raw.{spec.name}") for spec in TABLES}
    assert loaded == expected


@pytest.mark.snowflake
def test_a_failed_snowflake_load_leaves_raw_as_it_was(
    emulator: Emulator, tmp_path: Path, pipeline: Pipeline
) -> None:
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_ATOMIC"}
    emulator.load("atomic-good", **env)
    before = emulator.query(
        "atomic-before",
        "select count(*), max(_loaded_at) from raw.orders",
        "select count(*), max(_loaded_at) from raw.lineitem",
        **env,
    )
    # Readable Parquet with every column, but a quantity no NUMBER(15,2) takes:
    # the COPY of the last table fails after the others were replaced.
    sf = format_scale_factor(pipeline.scale_factor)
    landing = tmp_path / "data" / "landing" / f"sf={sf}"
    landing.mkdir(parents=True)
    source = pipeline.data_dir / "landing" / f"sf={sf}"
    for spec in TABLES:
        if spec.name != "lineitem":
            (landing / f"{spec.name}.parquet").write_bytes((source / f"{spec.name}.parquet").read_bytes())
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * replace ('a lot' as l_quantity) from read_parquet("
            f"'{source / 'lineitem.parquet'}')) to '{landing / 'lineitem.parquet'}'"
        )
    failed = emulator.run("atomic-bad", "load", "--data-dir", str(tmp_path / "data"), "-s", sf, **env)
    assert not failed["success"]
    assert "Snowflake load failed while loading" in failed["exception"]
    assert "lineitem.parquet" in failed["exception"] and "RAW is unchanged" in failed["exception"]
    after = emulator.query(
        "atomic-after",
        "select count(*), max(_loaded_at) from raw.orders",
        "select count(*), max(_loaded_at) from raw.lineitem",
        **env,
    )
    assert after == before


@pytest.mark.snowflake
def test_dbt_build_runs_every_model_and_data_test_on_snowflake(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    build = emulated_build.build
    assert build["success"], (
        "dbt build failed on the emulator:\n"
        + "\n".join(f"{uid}: {message}" for uid, message in failures(build).items())
        + "\n"
        + build["output"]
    )
    statuses = {node["unique_id"]: node["status"] for node in build["nodes"]}
    models = _manifest_nodes(emulator, "model")
    tests = _manifest_nodes(emulator, "test")
    assert models and tests
    assert {uid: statuses.get(uid) for uid in models} == dict.fromkeys(models, "success")
    assert {uid: statuses.get(uid) for uid in tests} == dict.fromkeys(tests, "pass")


@pytest.mark.snowflake
def test_every_model_runs_under_its_json_query_tag(emulated_build: EmulatedBuild, emulator: Emulator) -> None:
    """Cost per model on Snowflake (dbt_project/macros/query_tag.sql): each node's statements
    carry its unique id and the invocation id. The emulator accepts the tag as a no-op (it keeps
    no query history), so the tags are read from dbt's debug log."""
    log = "".join(p.read_text(errors="replace") for p in sorted((emulator.work / "logs").glob("dbt.log*")))
    tags = [json.loads(tag) for tag in re.findall(r"alter session set query_tag = '(\{.*?\})'", log)]
    tagged = {tag["unique_id"] for tag in tags if tag["app"] == "tpch-elt" and tag["invocation_id"]}
    assert _manifest_nodes(emulator, "model") <= tagged


@pytest.mark.snowflake
def test_source_freshness_reads_loaded_at(emulated_build: EmulatedBuild) -> None:
    freshness = emulated_build.freshness
    assert freshness["success"], freshness["output"]
    nodes = freshness["nodes"]
    assert len(nodes) == len(TABLES)
    assert {node["status"] for node in nodes} == {"pass"}
    # orders/lineitem were last loaded with the last batch, the rest initially
    loaded_at = {load["batch_id"]: load["loaded_at"] for load in emulated_build.load["loads"]}
    for node in nodes:
        table = node["unique_id"].rsplit(".", 1)[1]
        expected = loaded_at[E2E_BATCHES] if table in ("orders", "lineitem") else loaded_at[0]
        assert node["max_loaded_at"].startswith(expected), (table, node["max_loaded_at"])


@pytest.mark.snowflake
def test_snowflake_configs_are_applied(emulated_build: EmulatedBuild, emulator: Emulator) -> None:
    run = emulator.work / "target-main" / "run" / "tpch_elt" / "models"
    orders = (run / "staging" / "stg_fct_orders.sql").read_text().lower()
    lines = (run / "intermediate" / "int_order_lineitems_base.sql").read_text().lower()
    summary = (run / "mart" / "core" / "mart_customer_summary.sql").read_text().lower()
    assert "cluster by (date_trunc('year', order_date))" in orders
    assert "cluster by (order_year)" in lines
    assert "create or replace transient table" in lines
    assert "create or replace transient table" in summary
    # layout_order_by renders nothing on Snowflake: only the cluster_by sort
    compiled = (
        (
            emulator.work
            / "target-main"
            / "compiled"
            / "tpch_elt"
            / "models"
            / "staging"
            / "stg_fct_orders.sql"
        )
        .read_text()
        .lower()
    )
    assert "order by" not in compiled


def _fingerprint_sql(schema: str, table: str, columns: list[tuple[str, str]]) -> str:
    """One row that changes if any value of the model changes (portable SQL)."""
    parts = ["count(*)"]
    for column, kind in columns:
        if kind in ("exact", "float"):
            parts.append(f"sum({column})")
        elif kind == "boolean":
            parts.append(f"sum(case when {column} then 1 else 0 end)")
        elif kind in ("date", "string"):
            parts += [f"min({column})", f"max({column})", f"count(distinct {column})"]
    return f"select {', '.join(parts)} from {schema}.{table}"


def _kind(duckdb_type: str) -> str | None:
    if duckdb_type in ("DOUBLE", "FLOAT", "REAL"):
        return "float"
    if duckdb_type.startswith("DECIMAL") or "INT" in duckdb_type:
        return "exact"
    if duckdb_type == "BOOLEAN":
        return "boolean"
    if duckdb_type == "DATE":
        return "date"
    if duckdb_type == "VARCHAR":
        return "string"
    return None  # timestamps: _loaded_at differs by load time


def _same(duckdb_value: Any, emulated_value: Any, kind: str) -> bool:
    if duckdb_value is None or emulated_value is None:
        return duckdb_value is None and emulated_value is None
    if kind == "float":
        return math.isclose(float(duckdb_value), float(emulated_value), rel_tol=1e-9)
    if kind == "exact":
        return Decimal(str(duckdb_value)) == Decimal(str(emulated_value))
    return str(duckdb_value) == str(emulated_value)


@pytest.mark.snowflake
def test_every_model_equals_the_duckdb_build(
    emulated_build: EmulatedBuild, emulator: Emulator, pipeline: Pipeline
) -> None:
    assert emulated_build.build["success"]
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        plans = []
        for schema, table in emulator.models():
            described = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            assert described, f"{schema}.{table} is missing from the DuckDB build"
            columns = [(name, _kind(dtype)) for name, dtype in described if _kind(dtype)]
            sql = _fingerprint_sql(schema, table, columns)
            plans.append((f"{schema}.{table}", columns, sql, con.execute(sql).fetchone()))
    emulated = emulator.query("fingerprints", *(sql for _, _, sql, _ in plans))
    differences = []
    for (model, columns, _, expected), got in zip(plans, emulated, strict=True):
        kinds = ["exact"]
        for _, kind in columns:
            kinds += [kind] if kind in ("exact", "float", "boolean") else [kind] * 3
        labels = ["count(*)"]
        for column, kind in columns:
            labels += (
                [column]
                if kind in ("exact", "float", "boolean")
                else [f"min({column})", f"max({column})", f"count(distinct {column})"]
            )
        row = got[0]
        for label, kind, want, have in zip(labels, kinds, expected, row, strict=True):
            if not _same(want, have, "exact" if label.startswith("count") else kind):
                differences.append(f"{model}.{label}: duckdb {want!r} != snowflake {have!r}")
    assert not differences, "\n".join(differences)


@pytest.mark.snowflake
def test_marts_reconcile_with_raw(emulated_build: EmulatedBuild, emulator: Emulator) -> None:
    raw, mart = emulator.query(
        "reconcile",
        "select count(*), (select sum(l_extendedprice * (1 - l_discount)) from raw.lineitem), "
        "(select count(*) from raw.lineitem) from raw.orders",
        "select count(*), sum(net_revenue), sum(line_count) from mart.mart_orders",
    )
    assert [Decimal(str(v)) for v in mart[0]] == [Decimal(str(v)) for v in raw[0]]


@pytest.mark.snowflake
def test_unit_tests_meet_the_emulator_temp_table_limitation(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    report = emulator.dbt("unit", ["test"], "--select", "test_type:unit")
    if report["success"]:
        return  # fakesnow learned qualified temporary tables
    failed = failures(report)
    assert failed, report["output"]
    other = {uid: msg for uid, msg in failed.items() if TEMP_RELATION_LIMITATION not in msg}
    assert not other, f"unit tests failed for another reason: {other}"
    pytest.xfail(
        f"fakesnow limitation: dbt-snowflake's unit tests create a qualified temporary "
        f"table, fakesnow/DuckDB answers '001003 (42000): Parser Error: "
        f"{TEMP_RELATION_LIMITATION}'; the {len(failed)} unit tests run in every DuckDB build"
    )


@pytest.mark.snowflake
def test_incremental_runs_meet_the_emulator_temp_relation_limitation(
    emulator: Emulator,
) -> None:
    # A database of its own: initial load, first build of the incremental
    # models, one more batch, then the incremental run.
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_INCREMENTAL"}
    emulator.load("inc-load", **env)
    first = emulator.dbt(
        "inc-first", ["run"], "--select", "+config.materialized:incremental", target_dir="incremental", **env
    )
    assert first["success"], first["output"]
    emulator.load("inc-batch", "--append-only", "--batch", "1", **env)
    increment = emulator.dbt(
        "inc-run", ["run"], "--select", "config.materialized:incremental", target_dir="incremental", **env
    )
    if increment["success"]:
        return  # fakesnow learned qualified temporary relations
    failed = failures(increment)
    incremental = {
        "model.tpch_elt.stg_fct_orders",
        "model.tpch_elt.stg_fct_lineitem",
        "model.tpch_elt.int_order_lineitems_base",
        "model.tpch_elt.int_customer_orders",
        "model.tpch_elt.mart_orders",
    }
    assert set(failed) <= incremental and failed, increment["output"]
    other = {uid: msg for uid, msg in failed.items() if TEMP_RELATION_LIMITATION not in msg}
    assert not other, f"incremental models failed for another reason: {other}"
    pytest.xfail(
        "fakesnow limitation: every incremental run of dbt-snowflake creates a temporary "
        "view (append) or table (delete+insert) qualified with database and schema, and "
        f"fakesnow/DuckDB answers '001003 (42000): Parser Error: {TEMP_RELATION_LIMITATION}'; "
        "the incremental path is covered by tests/integration/test_incremental.py on DuckDB"
    )


SHARE_VARS = (
    "{tpch_source_database: SNOWFLAKE_SAMPLE_DATA, tpch_source_schema: TPCH_SF1, "
    "tpch_source_has_load_metadata: false}"
)


@pytest.mark.snowflake
def test_sample_share_path_builds_staging_with_metadata_freshness(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    # SNOWFLAKE_SAMPLE_DATA.TPCH_SF1 as Snowflake shares it: the TPC-H
    # columns only, no _batch_id/_loaded_at.
    statements = [
        "create database if not exists SNOWFLAKE_SAMPLE_DATA",
        "create schema if not exists SNOWFLAKE_SAMPLE_DATA.TPCH_SF1",
    ] + [
        f"create or replace table SNOWFLAKE_SAMPLE_DATA.TPCH_SF1.{spec.name} as "
        f"select {', '.join(spec.columns)} from {EMULATED_DATABASE}.RAW.{spec.name}"
        for spec in TABLES
    ]
    emulator.query("share", *statements)
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_SHARE"}
    share = ("SNOWFLAKE_SAMPLE_DATA",)
    build = emulator.dbt(
        "share-build",
        ["build"],
        "--select",
        "staging",
        "--indirect-selection",
        "cautious",
        "--vars",
        SHARE_VARS,
        target_dir="share",
        attach=share,
        **env,
    )
    assert build["success"], "\n".join(failures(build).values()) + build["output"]
    staged = emulator.query(
        "share-staged",
        "select count(*), min(_batch_id), max(_batch_id), count(_loaded_at) "
        "from TPCH_ELT_SHARE.STAGING.STG_FCT_LINEITEM",
        attach=share,
        **env,
    )
    rows, min_batch, max_batch, loaded = (int(value) for value in staged[0][0])
    assert rows > 0 and (min_batch, max_batch, loaded) == (0, 0, 0)
    freshness = emulator.dbt(
        "share-freshness",
        ["source", "freshness"],
        "--vars",
        SHARE_VARS,
        target_dir="share",
        attach=share,
        **env,
    )
    assert "Pulling freshness from warehouse metadata tables for 8 sources" in (freshness["output"]), (
        freshness["output"]
    )
    # The emulator's LAST_ALTERED is always 1970-01-01 (LAST_ALTERED_LIMITATION):
    # a static source is stale, and on the share staleness only warns.
    assert {node["max_loaded_at"][:19] for node in freshness["nodes"]} == {LAST_ALTERED_LIMITATION}
    assert {node["status"] for node in freshness["nodes"]} == {"warn"}
    assert freshness["success"], freshness["output"]


# --------------------------------------------------------------------------
# The sample-share path's incremental re-run, on DuckDB (the emulator cannot
# run incremental models: TEMP_RELATION_LIMITATION)
# --------------------------------------------------------------------------


def test_static_source_without_load_metadata_reruns_without_duplicates(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # A source shaped like SNOWFLAKE_SAMPLE_DATA.TPCH_SF1: TPC-H columns only.
    warehouse = tmp_path / "share.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"attach '{pipeline.warehouse}' as built (read_only)")
        con.execute("create schema tpch_sf1")
        for spec in TABLES:
            con.execute(
                f"create table tpch_sf1.{spec.name} as "
                f"select {', '.join(spec.columns)} from built.raw.{spec.name}"
            )
    share_vars = "{tpch_source_schema: tpch_sf1, tpch_source_has_load_metadata: false}"
    dbt = Path(sys.executable).parent / "dbt"
    args = [
        str(dbt),
        "run",
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT / "profiles"),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        "--vars",
        share_vars,
        "--select",
        "stg_fct_orders",
        "stg_fct_lineitem",
    ]
    env = cli_env(TPCH_ELT_WAREHOUSE=str(warehouse), TPCH_ELT_THREADS="2")
    counts = []
    for _ in range(2):  # first build, then an incremental re-run
        proc = subprocess.run(
            args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        with duckdb.connect(str(warehouse), read_only=True) as con:
            counts.append(
                con.execute(
                    "select (select count(*) from staging.stg_fct_orders), "
                    "(select count(*) from staging.stg_fct_lineitem), "
                    "(select max(_batch_id) + count(_loaded_at) from staging.stg_fct_orders)"
                ).fetchone()
            )
    expected = (
        pipeline.scalar("select count(*) from raw.orders"),
        pipeline.scalar("select count(*) from raw.lineitem"),
        0,
    )
    assert counts == [expected, expected]
