"""Schema drift in landing and batch files: additive changes flow through,
breaking ones stop the step before anything is written (src/tpch_elt/load/schema_check.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from testkit.cli import REPO_ROOT, copy_data_dir, one_line_error, run_cli
from testkit.warehouse import untouched

SF = "0.01"
LOAD_REMEDY = "regenerate it with `tpch-elt generate --force` (or fix the file), then load again"
INGEST_REMEDY = (
    "fix the file or rebuild the batches with `tpch-elt generate --initial-fraction F --batches N --force`, "
    "then run `tpch-elt ingest` again"
)


@pytest.fixture
def data_dir(built_template: Path, tmp_path: Path) -> Path:
    return copy_data_dir(built_template, tmp_path / "data")


def landing(data_dir: Path) -> Path:
    return data_dir / "landing" / f"sf={SF}"


def target_file(data_dir: Path, step: str) -> Path:
    folder = landing(data_dir) if step == "load" else landing(data_dir) / "batches" / "batch_0001"
    return folder / "lineitem.parquet"


def rewrite(path: Path, select: str) -> None:
    """Replace the Parquet file at `path` with `select …` over its rows (`src`)."""
    tmp = path.with_suffix(".tmp.parquet")
    with duckdb.connect() as con:
        con.execute(
            f"copy (with src as (select * from read_parquet('{path}', hive_partitioning = false)) {select}) "
            f"to '{tmp}' (format parquet)"
        )
    tmp.replace(path)


def run_step(data_dir: Path, step: str):
    return run_cli("--data-dir", str(data_dir), *(("load", "-s", SF) if step == "load" else ("ingest",)))


BREAKING = {
    "missing": (
        "select * exclude (l_quantity) from src",
        "column l_quantity is missing (table lineitem; found 15 of table lineitem's 16 columns)",
    ),
    "renamed": (
        "select * rename (l_quantity as l_qty) from src",
        "column l_quantity is missing (table lineitem; found l_qty instead: renamed?)",
    ),
    "retyped": (
        "select * replace (cast(l_quantity as varchar) as l_quantity) from src",
        "column l_quantity is VARCHAR, expected DECIMAL(15,2) "
        "(table lineitem; VARCHAR does not convert to it without loss)",
    ),
    "retyped date": (
        "select * replace (cast(l_shipdate as timestamp) as l_shipdate) from src",
        "column l_shipdate is TIMESTAMP, expected DATE (table lineitem; TIMESTAMP does not convert to it without loss)",
    ),
}


@pytest.mark.parametrize("step", ["load", "ingest"])
@pytest.mark.parametrize("change", list(BREAKING))
def test_breaking_schema_change_stops_the_step_before_anything_is_written(
    data_dir: Path, step: str, change: str
) -> None:
    before = untouched(data_dir / "warehouse.duckdb")
    path = target_file(data_dir, step)
    select, problem = BREAKING[change]
    rewrite(path, select)

    proc = run_step(data_dir, step)

    assert proc.returncode == 1
    kind, remedy = ("landing file", LOAD_REMEDY) if step == "load" else ("batch file", INGEST_REMEDY)
    assert one_line_error(proc.stderr) == f"error: {kind} {path}: {problem}; {remedy}"
    assert untouched(data_dir / "warehouse.duckdb") == before, (
        "raw, batches, quarantine and marts must be untouched"
    )


def test_compatible_retype_is_loaded_as_tpch_types(data_dir: Path) -> None:
    """Narrower integers and decimals that fit convert losslessly: accepted, raw keeps its types."""
    path = target_file(data_dir, "load")
    rewrite(
        path,
        "select * replace (cast(l_linenumber as tinyint) as l_linenumber, "
        "cast(l_quantity as decimal(4, 0)) as l_quantity, cast(l_orderkey as integer) as l_orderkey) from src",
    )
    proc = run_step(data_dir, "load")
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'lineitem'"
            ).fetchall()
        )
        assert con.execute("select count(*) from raw.lineitem where l_quantity is null").fetchall() == [(0,)]
    assert (types["l_linenumber"], types["l_quantity"], types["l_orderkey"]) == (
        "INTEGER",
        "DECIMAL(15,2)",
        "BIGINT",
    )


def test_extra_column_in_a_landing_file_is_kept_in_raw_with_a_warning(data_dir: Path) -> None:
    path = target_file(data_dir, "load")
    rewrite(path, "select *, 'web' as l_channel from src")

    proc = run_step(data_dir, "load")

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        f"warning: {path}: new column l_channel (VARCHAR) kept in raw.lineitem (earlier rows NULL); "
        "staging ignores it until a model selects it"
    )
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), count(l_channel) from raw.lineitem").fetchall()[0][1] > 0
        # staging selects its columns by name: the views over raw still answer
        assert con.execute("select count(*) from staging.stg_dim_customer").fetchall()[0][0] > 0


def test_extra_column_in_a_batch_is_added_to_raw_and_the_increment_still_builds(data_dir: Path) -> None:
    path = target_file(data_dir, "ingest")
    rewrite(path, "select *, 'web' as l_channel from src")
    warehouse = data_dir / "warehouse.duckdb"

    proc = run_step(data_dir, "ingest")

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        f"warning: {path}: new column l_channel (VARCHAR) kept in raw.lineitem (earlier rows NULL); "
        "staging ignores it until a model selects it"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        by_batch = con.execute(
            "select _batch_id, count(*), count(l_channel) from raw.lineitem group by 1 order by 1"
        ).fetchall()
    (initial, rows0, channel0), (batch, rows1, channel1) = by_batch
    assert (initial, batch) == (0, 1)
    assert rows0 > 0 and channel0 == 0, "earlier rows get NULL in the new column"
    assert rows1 > 0 and channel1 == rows1, "the batch keeps its values"

    # the next batch without the column still ingests (the column is NULL there)
    second = run_step(data_dir, "ingest")
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip() == ""

    # the incremental build runs: staging selects its columns by name
    run_cli("--data-dir", str(data_dir), "build", check=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select max(_batch_id) from staging.stg_fct_lineitem").fetchall() == [(2,)]
        assert con.execute(
            "select count(*) from information_schema.columns where column_name = 'l_channel' "
            "and table_schema <> 'raw'"
        ).fetchall() == [(0,)]
        assert con.execute(
            "select (select count(*) from raw.lineitem) - (select count(*) from staging.stg_fct_lineitem)"
        ).fetchall() == [(0,)]


def test_a_column_a_model_starts_selecting_arrives_without_a_full_refresh(
    data_dir: Path, tmp_path: Path
) -> None:
    """on_schema_change: append_new_columns (dbt_project.yml): the incremental
    model gains the column on its next increment, NULL for rows built before."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        REPO_ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    model = project / "models" / "staging" / "stg_fct_orders.sql"
    text = model.read_text()
    mapped = "cast(o_comment as varchar) as order_comment,"
    assert mapped in text
    model.write_text(text.replace(mapped, mapped + "\n        length(o_comment) as order_comment_length,"))

    run_cli("--data-dir", str(data_dir), "ingest", check=True)
    proc = run_cli("--data-dir", str(data_dir), "build", check=True, TPCH_ELT_PROJECT_DIR=str(project))
    assert "full refresh" not in proc.stdout
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = dict(
            con.execute(
                "select _batch_id = 0, count(order_comment_length) from staging.stg_fct_orders group by 1"
            ).fetchall()
        )
        total_new = con.execute("select count(*) from staging.stg_fct_orders where _batch_id = 1").fetchall()[
            0
        ][0]
    assert rows[True] == 0, "rows built before the column existed stay NULL"
    assert rows[False] == total_new > 0, "the new batch carries the new column"


def test_a_column_named_like_terminal_markup_is_ingested_and_its_warning_printed_as_is(
    data_dir: Path,
) -> None:
    """Brackets are a legal column name: additive drift as any other; the CLI used to
    raise Rich's MarkupError on the warning after the ingest had committed."""
    path = target_file(data_dir, "ingest")
    rewrite(path, "select *, 'web' as \"x[/y]\" from src")

    proc = run_step(data_dir, "ingest")

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (
        f"warning: {path}: new column x[/y] (VARCHAR) kept in raw.lineitem (earlier rows NULL); "
        "staging ignores it until a model selects it"
    )
    assert "Ingested batch 1" in proc.stdout
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute('select count("x[/y]") from raw.lineitem where _batch_id = 1').fetchall()[0][0] > 0


def test_a_column_name_with_markup_or_control_characters_stops_the_ingest(data_dir: Path) -> None:
    """It would become a dbt source column, shown in the docs page's HTML, alerts and terminals."""
    before = untouched(data_dir / "warehouse.duckdb")
    path = target_file(data_dir, "ingest")
    rewrite(path, "select *, 'x' as \"</script><script>alert(1)</script>\", 'y' as \"bell\x07\" from src")

    proc = run_step(data_dir, "ingest")

    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == (
        f"error: batch file {path}: column '</script><script>alert(1)</script>' holds '<', '>' "
        "(table lineitem); a column name may not hold control characters or <, >, & "
        "(it reaches the docs page, alerts and terminals): rename the column in the file, then retry"
    )
    assert untouched(data_dir / "warehouse.duckdb") == before
