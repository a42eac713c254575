"""Unit tests for the pure Python pieces: no dbt, no warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.extract.generate import validate_scale_factor
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES, format_scale_factor, table


@pytest.mark.parametrize(
    ("name", "scale_factor", "expected"),
    [
        ("region", 10, 5),
        ("nation", 0.01, 25),
        ("supplier", 1, 10_000),
        ("customer", 0.001, 150),
        ("part", 0.1, 20_000),
        ("partsupp", 3, 2_400_000),
        ("orders", 0.01, 15_000),
        ("lineitem", 1, None),
    ],
)
def test_expected_rows_follow_tpch_cardinalities(
    name: str, scale_factor: float, expected: int | None
) -> None:
    assert table(name).expected_rows(scale_factor) == expected


def test_every_table_is_specified_once_in_dependency_order() -> None:
    assert [t.name for t in TABLES] == [
        "region",
        "nation",
        "supplier",
        "customer",
        "part",
        "partsupp",
        "orders",
        "lineitem",
    ]


@pytest.mark.parametrize(("value", "spelled"), [(1.0, "1"), (0.1, "0.1"), (0.01, "0.01"), (10, "10")])
def test_scale_factor_spelling_in_paths(value: float, spelled: str) -> None:
    assert format_scale_factor(value) == spelled


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 0.001])
def test_invalid_scale_factors_are_rejected_with_a_reason(bad: float) -> None:
    with pytest.raises(PipelineError, match="scale factor"):
        validate_scale_factor(bad)


def test_settings_resolve_every_path_and_default_the_warehouse(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.warehouse_path == (tmp_path / "d" / "warehouse.duckdb").resolve()
    assert settings.landing_dir(0.1) == (tmp_path / "d" / "landing" / "sf=0.1").resolve()
    assert (settings.project_dir / "dbt_project.yml").is_file()
    env = settings.dbt_env()
    assert env["TPCH_ELT_WAREHOUSE"] == str(settings.warehouse_path)
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert env["DO_NOT_TRACK"] == "1"


def test_explicit_warehouse_path_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "elsewhere.duckdb")
    assert settings.warehouse_path == (tmp_path / "elsewhere.duckdb").resolve()
