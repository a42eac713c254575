"""Cost per model: DuckDB profiles parsed, captured per model statement, recorded and read back;
the page's cost section and `tpch-elt cost` with untrusted model names."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from dbt.adapters.duckdb.environments.local import DuckDBCursorWrapper
from dbt_common.events.contextvars import log_contextvars
from markupsafe import Markup
from typer.testing import CliRunner

from tpch_elt.cli.commands import app
from tpch_elt.observability import cost, cost_history
from tpch_elt.observability.store import SCHEMA, ensure_schema, insert_rows
from tpch_elt.reports.observability import cost as cost_section
from tpch_elt.settings import Settings

HOSTILE = "mart_<script>alert(1)</script>\x1b[31m"


def _profile(con: duckdb.DuckDBPyConnection, path: Path, sql: str) -> dict:
    con.execute(f"SET enable_profiling = 'json'; SET profiling_output = '{path}'")
    con.execute(sql)
    con.execute("RESET enable_profiling")
    return json.loads(path.read_text())


def test_a_create_table_as_profile_gives_rows_read_and_written(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table src as select range as id, range::varchar as label from range(100000)")
    profile = _profile(con, tmp_path / "p.json", "create table dst as select * from src where id % 4 = 0")
    measured = cost.parse_profile("model.p.dst", profile)
    assert measured.statements == 1
    assert measured.rows_read == 100_000
    assert measured.rows_written == 25_000
    assert measured.seconds > 0
    assert measured.peak_memory > 0
    # rows scanned x the width of the two columns the scan produced (8-byte id + 16-byte strings at least)
    assert measured.bytes_scanned >= 100_000 * 24


def test_rows_written_through_a_cte_count_the_query_not_the_cte(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table src as select range as id from range(1000)")
    profile = _profile(
        con,
        tmp_path / "p.json",
        "create table dst as with a as materialized (select id from src where id < 10) "
        "select a.id from a join a as b using (id)",
    )
    assert cost.parse_profile("model.p.dst", profile).rows_written == 10


def test_an_insert_counts_its_rows_written(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table src as select range as id from range(500); create table dst (id bigint)")
    profile = _profile(con, tmp_path / "p.json", "insert into dst select id from src where id >= 300")
    assert cost.parse_profile("model.p.dst", profile).rows_written == 200


def test_a_file_that_is_no_profile_is_a_problem_and_the_rest_still_counts(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("create table src as select range as id from range(1000)")
    good = _profile(con, tmp_path / "p.json", "create table a as select * from src")
    (tmp_path / cost.profile_name("model.p.a", 1)).write_text(json.dumps(good))
    (tmp_path / cost.profile_name("model.p.a", 2)).write_text(json.dumps(good))
    (tmp_path / cost.profile_name("model.p.b", 3)).write_text("{not json")
    (tmp_path / cost.profile_name("model.p.c", 4)).write_text(json.dumps({"query": {}}))
    (tmp_path / cost.profile_name("model.other.x", 5)).write_text(json.dumps(good))
    costs, problems = cost.read_profiles(tmp_path, ["model.p.a", "model.p.b", "model.p.c"])
    assert set(costs) == {"model.p.a"}
    assert costs["model.p.a"].statements == 2
    assert costs["model.p.a"].rows_written == 2000
    assert len(problems) == 2
    assert cost.read_profiles(tmp_path / "missing", ["model.p.a"]) == ({}, [])


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("create table x as select 1", True),
        ('/* {"app": "dbt"} */\n  create or replace table x as select 1', True),
        ("-- a comment\ninsert into x select 1", True),
        ("  DELETE from x where true; insert into x select 1", True),
        ("select * from information_schema.columns", False),
        ("alter table x rename to y", False),
        ("/* create */ select 1", False),
    ],
)
def test_only_statements_that_write_are_profiled(sql: str, expected: bool) -> None:
    assert cost.writes(sql) is expected


def test_profiled_models_profiles_each_writing_statement_of_a_model_only(tmp_path: Path) -> None:
    original = DuckDBCursorWrapper.execute
    con = duckdb.connect()
    con.execute("create table src as select range as id from range(2000)")
    cursor = DuckDBCursorWrapper(con.cursor())
    directory = tmp_path / "profiles"
    with cost.profiled_models(directory) as profiles:
        assert profiles == directory
        with log_contextvars(node_info={"unique_id": "model.p.m"}):
            cursor.execute("create temp table m__tmp as select * from src where id < 700")
            cursor.execute("select count(*) from information_schema.columns").fetchall()
            cursor.execute("create table m as select * from m__tmp")
        with log_contextvars(node_info={"unique_id": "test.p.not_null"}):
            cursor.execute("create table t as select 1 as x")
        cursor.execute("create table outside as select 1 as x")
    assert DuckDBCursorWrapper.execute is original
    files = sorted(p.name for p in directory.iterdir())
    assert files == [cost.profile_name("model.p.m", 1), cost.profile_name("model.p.m", 2)]
    costs, problems = cost.read_profiles(directory, ["model.p.m"])
    assert problems == []
    assert costs["model.p.m"].statements == 2
    # the temporary table's rows are read into the model once: written once
    assert costs["model.p.m"].rows_written == 700
    assert costs["model.p.m"].rows_read == 2000 + 700
    # the cursor's profiling is off again: a later statement writes no profile
    cursor.execute("create table later as select 1 as x")
    assert len(list(directory.iterdir())) == 2


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", warehouse=tmp_path / "w.duckdb")


def test_recording_never_raises_and_a_missing_table_profile_is_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    directory = tmp_path / "profiles"
    con = duckdb.connect()
    con.execute("create table src as select range as id from range(100)")
    directory.mkdir()
    _profile(con, directory / cost.profile_name("model.p.a", 1), "create table a as select * from src")

    def item(uid: str, materialized: str) -> SimpleNamespace:
        node = SimpleNamespace(
            unique_id=uid, name=uid.rsplit(".", 1)[-1], config=SimpleNamespace(materialized=materialized)
        )
        return SimpleNamespace(node=node, status="success")

    result = SimpleNamespace(
        result=SimpleNamespace(
            results=[item("model.p.a", "table"), item("model.p.b", "incremental"), item("model.p.v", "view")]
        )
    )
    assert cost.record_model_costs(settings, result, "inv-1", directory) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no profile for b" in err and " v" not in err
    assert not directory.exists()
    with duckdb.connect(str(settings.warehouse_path)) as check:
        rows = check.execute(f"select unique_id, source, rows_written from {SCHEMA}.model_costs").fetchall()
    assert rows == [("model.p.a", cost.SOURCE_DUCKDB, 100)]
    # a warehouse that cannot be opened: a warning, no exception
    directory.mkdir()
    broken = Settings(data_dir=tmp_path / "data", warehouse=tmp_path / "not-a-dir" / "x" / "w.duckdb")
    (tmp_path / "not-a-dir").write_text("a file where a folder should be")
    assert cost.record_model_costs(broken, result, "inv-2", directory) == 0
    assert "model costs not recorded" in capsys.readouterr().err


def _at(hour: int) -> datetime:
    return datetime(2026, 1, 1, hour)  # noqa: DTZ001  (naive UTC, as the warehouse stores it)


def _history(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    for n in range(3):
        inv = f"inv-{n}"
        con.execute(
            f"insert into {SCHEMA}.invocations (invocation_id, command, status, started_at, recorded_at) "
            "values (?, 'build', 'success', ?, ?)",
            [inv, _at(n), _at(n)],
        )
        rows = []
        for uid, name, seconds in (("model.p.big", HOSTILE, 2.0 + n), ("model.p.small", "small", 0.5)):
            rows.append(
                (
                    inv,
                    uid,
                    name,
                    cost.SOURCE_DUCKDB,
                    1,
                    seconds,
                    seconds,
                    10,
                    5,
                    0,
                    1000000 * (n + 1),
                    0,
                    1 << 20,
                    None,
                    None,
                    _at(n),
                )
            )
        insert_rows(con, "model_costs", rows)


def test_the_latest_build_reads_back_most_expensive_first_with_its_median() -> None:
    con = duckdb.connect()
    _history(con)
    shown = cost_history.builds(con)
    assert [b.invocation_id for b in shown] == ["inv-0", "inv-1", "inv-2"]
    assert shown[-1].seconds == pytest.approx(4.5)
    models = cost_history.latest_models(con, shown)
    assert [m.unique_id for m in models] == ["model.p.big", "model.p.small"]
    assert models[0].seconds == 4.0 and models[0].median_seconds == 3.0 and models[0].builds == 3
    assert ("model.p.big", HOSTILE, 3_000_000) in cost_history.heaviest_scans(con, shown)


def test_the_page_section_escapes_model_names_and_is_absent_without_costs() -> None:
    con = duckdb.connect()
    ensure_schema(con)
    assert cost_section.section(con) is None
    _history(con)
    html = cost_section.section(con)
    assert isinstance(html, Markup)
    assert 'id="cost"' in html and "<svg" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_cost_command_prints_names_printable_and_writes_only_when_asked(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _history(con)
    runner = CliRunner()
    base = ["--warehouse", str(warehouse), "--data-dir", str(tmp_path), "cost"]
    shown = runner.invoke(app, [*base, "--recommend", "--target-seconds", "0.001"])
    assert shown.exit_code == 0, shown.output
    assert "\x1b[31m" not in shown.output and "\\x1b" in shown.output
    assert "Nothing written" in shown.output
    target = tmp_path / "dbt" / "target"
    target.mkdir(parents=True)
    nodes = {
        "model.p.big": {"fqn": ["p", "mart", "big"]},
        "model.p.small": {"fqn": ["p", "staging", "small"]},
    }
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    out = tmp_path / "warehouses.yml"
    # 3,000,000 bytes in 0.01 s at 200 MB/s per XSMALL: 1.43 XSMALLs, so SMALL
    written = runner.invoke(app, [*base, "--recommend", "--target-seconds", "0.01", "--write", str(out)])
    assert written.exit_code == 0, written.output
    assert "big:\n        +snowflake_warehouse: TPCH_ELT_SMALL" in out.read_text()
    again = runner.invoke(app, [*base, "--recommend", "--write", str(out)])
    assert again.exit_code == 1 and "--force" in again.output


def test_a_build_profiles_into_a_fresh_directory_and_old_leftovers_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    parent = settings.dbt_target_dir / cost.PROFILES_DIR
    old, recent = parent / "old", parent / "recent"
    old.mkdir(parents=True)
    recent.mkdir()
    os.utime(old, (0, 0))
    with cost.build_profiles(settings) as directory:
        assert directory is not None and directory.parent == parent and directory.is_dir()
    assert not old.exists() and recent.exists()
    with pytest.raises(RuntimeError), cost.build_profiles(settings) as failed:
        raise RuntimeError("dbt could not run")
    assert failed is not None and not failed.exists()
    monkeypatch.setenv("TPCH_ELT_OBSERVABILITY", "off")
    with cost.build_profiles(settings) as nothing:
        assert nothing is None
