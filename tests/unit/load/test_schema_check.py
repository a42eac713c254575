"""The schema drift decisions (tpch_elt.load.schema_check) on one-row Parquet files written here.

tests/integration/test_schema_drift.py runs the same policy end to end
through `load` and `ingest`; here each decision is checked on its own:
which changes are breaking, how the one-line error names the file and
the column, and which retypes convert without loss. Markup and control
characters in column names: tests/unit/test_untrusted_text.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.load.rules import columns_sql
from tpch_elt.load.schema_check import (
    FileSchema,
    check_file,
    converts_losslessly,
    describe_extra,
    expected_type,
)
from tpch_elt.tpch import table

LINEITEM = table("lineitem")
REMEDY = "regenerate it with `tpch-elt generate --force` or fix its producer, then retry"


def lineitem_file(tmp_path: Path, change: str = "") -> Path:
    """One TPC-H line item with raw's types, then `change` (e.g. `exclude (l_tax)`) applied to `*`."""
    columns = ", ".join(f"cast(null as {expected_type(c)}) as {c}" for c in LINEITEM.columns)
    path = tmp_path / "lineitem.parquet"
    with duckdb.connect() as con:
        con.execute(f"copy (select * {change} from (select {columns})) to '{path}' (format parquet)")
    return path


def check(path: Path, **options: object) -> FileSchema:
    with duckdb.connect() as con:
        return check_file(con, LINEITEM, path, **options)  # type: ignore[arg-type]


def refusal(path: Path, **options: object) -> str:
    with pytest.raises(PipelineError) as refused:
        check(path, **options)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_file_with_tpch_columns_and_types_passes_with_nothing_extra(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path)
    assert check(path) == FileSchema(path, "lineitem", ())


def test_a_missing_column_is_named_with_how_many_were_found(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "exclude (l_quantity)")
    assert refusal(path) == (
        f"landing file {path}: column l_quantity is missing "
        f"(table lineitem; found 15 of table lineitem's 16 columns); {REMEDY}"
    )


def test_several_missing_columns_are_named_together(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "exclude (l_tax, l_discount)")
    assert refusal(path, kind="batch file", remedy="fix it") == (
        f"batch file {path}: columns l_discount, l_tax are missing "
        "(table lineitem; found 14 of table lineitem's 16 columns); fix it"
    )


def test_a_renamed_column_is_missing_and_its_new_name_is_suggested(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "rename (l_quantity as l_qty)")
    assert refusal(path) == (
        f"landing file {path}: column l_quantity is missing (table lineitem; found l_qty instead: renamed?); {REMEDY}"
    )


def test_a_column_retyped_to_text_is_refused_naming_both_types(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "replace (cast(l_quantity as varchar) as l_quantity)")
    assert refusal(path) == (
        f"landing file {path}: column l_quantity is VARCHAR, expected DECIMAL(15,2) "
        f"(table lineitem; VARCHAR does not convert to it without loss); {REMEDY}"
    )


def test_a_retyped_column_passes_when_types_are_not_checked(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "replace (cast(l_quantity as varchar) as l_quantity)")
    assert check(path, check_types=False).extra == ()


def test_an_integer_key_where_a_bigint_is_expected_is_accepted(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "replace (cast(l_orderkey as integer) as l_orderkey)")
    assert check(path) == FileSchema(path, "lineitem", ())


def test_an_extra_column_is_accepted_and_reported_in_file_order_with_its_type(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, ", 'web' as l_channel, 2::smallint as l_priority")
    schema = check(path)
    assert schema.extra == (("l_channel", "VARCHAR"), ("l_priority", "SMALLINT"))
    assert describe_extra(schema, "raw.lineitem") == (
        f"{path}: new columns l_channel (VARCHAR), l_priority (SMALLINT) kept in raw.lineitem "
        "(earlier rows NULL); staging ignores it until a model selects it"
    )


def test_column_names_are_matched_whatever_their_case(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, "rename (l_quantity as L_QUANTITY)")
    assert check(path).extra == ()


@pytest.mark.parametrize("reserved", ["_batch_id", "_loaded_at", "_reject_reason"])
def test_a_column_the_loader_writes_itself_is_refused(tmp_path: Path, reserved: str) -> None:
    path = lineitem_file(tmp_path, f", 1 as {reserved}")
    assert refusal(path) == (
        f"landing file {path}: column {reserved} is reserved for the loader (table lineitem); "
        "rename or drop it in the file, then retry"
    )


def test_a_field_name_with_markup_inside_a_column_type_is_refused(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, """, {'a<b': 1} as l_meta""")
    message = refusal(path)
    assert message.startswith(
        f"""landing file {path}: column 'l_meta' has type 'STRUCT("a<b" INTEGER)', which holds '<' """
        "(table lineitem); "
    )


def test_a_file_that_is_not_parquet_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "lineitem.parquet"
    path.write_bytes(b"PAR1 truncated")
    message = refusal(path)
    assert message.startswith(f"landing file {path} is corrupt or truncated (")
    assert message.endswith("): delete it and run `tpch-elt generate` again")


@pytest.mark.parametrize(
    ("found", "expected", "lossless"),
    [
        ("BIGINT", "BIGINT", True),
        ("INTEGER", "BIGINT", True),
        ("UINTEGER", "BIGINT", True),
        ("TINYINT", "INTEGER", True),
        ("BIGINT", "INTEGER", False),
        ("UINTEGER", "INTEGER", False),
        ("UBIGINT", "BIGINT", False),
        ("DOUBLE", "BIGINT", False),
        ("decimal(15,2)", "DECIMAL(15,2)", True),
        ("DECIMAL(4,0)", "DECIMAL(15,2)", True),
        ("DECIMAL(13,1)", "DECIMAL(15,2)", True),
        ("DECIMAL(18,2)", "DECIMAL(15,2)", False),
        ("DECIMAL(15,3)", "DECIMAL(15,2)", False),
        ("INTEGER", "DECIMAL(15,2)", True),
        ("BIGINT", "DECIMAL(15,2)", False),
        ("DOUBLE", "DECIMAL(15,2)", False),
        ("VARCHAR", "DECIMAL(15,2)", False),
        ("TIMESTAMP", "DATE", False),
        ("VARCHAR", "VARCHAR", True),
    ],
)
def test_only_retypes_that_keep_every_value_are_lossless(found: str, expected: str, lossless: bool) -> None:
    assert converts_losslessly(found, expected) is lossless


def test_an_extra_column_with_a_non_ascii_capital_keeps_a_name_duckdb_resolves(tmp_path: Path) -> None:
    path = lineitem_file(tmp_path, ", 'x' as \"ÜBER_Note\"")
    schema = check(path)
    assert schema.extra == (("Über_note", "VARCHAR"),)
    with duckdb.connect() as con:  # what load writes raw with: TPC-H's columns, then the extras by name
        rows = con.execute(f"select {columns_sql('lineitem', schema.extra)} from '{path}'").fetchall()
    assert rows[0][-1] == "x"
