"""Where the settings come from (tpch_elt.settings.Settings.from_env): arguments, then the environment, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.settings import DEFAULT_THREADS, ENV_VARS, Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """None of the pipeline's variables set; the working directory is tmp_path."""
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def chosen(settings: Settings) -> tuple[Path, Path, int, str]:
    return settings.data_dir, settings.warehouse_path, settings.threads, settings.target


def test_without_arguments_or_variables_the_defaults_apply(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert chosen(Settings.from_env()) == (
        tmp_path / "data",
        tmp_path / "data" / "warehouse.duckdb",
        DEFAULT_THREADS,
        "prod",
    )


def test_variables_beat_the_defaults(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("TPCH_ELT_DATA_DIR", str(tmp_path / "env-data"))
    env.setenv("TPCH_ELT_WAREHOUSE", str(tmp_path / "env.duckdb"))
    env.setenv("TPCH_ELT_THREADS", "2")
    env.setenv("TPCH_ELT_TARGET", "snowflake")
    assert chosen(Settings.from_env()) == (tmp_path / "env-data", tmp_path / "env.duckdb", 2, "snowflake")


def test_arguments_beat_the_variables(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("TPCH_ELT_DATA_DIR", str(tmp_path / "env-data"))
    env.setenv("TPCH_ELT_WAREHOUSE", str(tmp_path / "env.duckdb"))
    env.setenv("TPCH_ELT_THREADS", "2")
    env.setenv("TPCH_ELT_TARGET", "snowflake")
    settings = Settings.from_env(
        data_dir=tmp_path / "arg-data", warehouse=tmp_path / "arg.duckdb", threads=8, target="prod"
    )
    assert chosen(settings) == (tmp_path / "arg-data", tmp_path / "arg.duckdb", 8, "prod")


@pytest.mark.parametrize("target", ["dev", "staging"])
def test_the_environment_targets_are_refused_for_prods_commands(env: pytest.MonkeyPatch, target: str) -> None:
    env.setenv("TPCH_ELT_TARGET", target)
    with pytest.raises(PipelineError, match=f"dbt target '{target}' builds environments.*--target prod"):
        Settings.from_env()
    assert Settings.from_env(target="snowflake_dev").embedded is False
    assert Settings.from_env(target="prod").embedded is True


def test_the_warehouse_follows_the_data_dir_unless_it_is_named(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("TPCH_ELT_DATA_DIR", str(tmp_path / "env-data"))
    assert Settings.from_env().warehouse_path == tmp_path / "env-data" / "warehouse.duckdb"


def test_relative_paths_are_made_absolute_from_the_working_directory(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("TPCH_ELT_WAREHOUSE", "w/x.duckdb")
    settings = Settings.from_env(data_dir=Path("d"))
    assert (settings.data_dir, settings.warehouse_path) == (tmp_path / "d", tmp_path / "w" / "x.duckdb")


def test_the_callers_default_data_dir_is_used_when_neither_argument_nor_variable_names_one(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings.from_env(default_data_dir=tmp_path / "dag-data").data_dir == tmp_path / "dag-data"


@pytest.mark.parametrize("given", ["argument", "variable"])
def test_the_callers_default_data_dir_yields_to_an_argument_or_a_variable(
    env: pytest.MonkeyPatch, tmp_path: Path, given: str
) -> None:
    named = tmp_path / f"{given}-data"
    if given == "variable":
        env.setenv("TPCH_ELT_DATA_DIR", str(named))
    settings = Settings.from_env(
        data_dir=named if given == "argument" else None, default_data_dir=tmp_path / "dag-data"
    )
    assert settings.data_dir == named


def test_an_empty_variable_counts_as_unset(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS.values():
        env.setenv(name, "")
    assert chosen(Settings.from_env()) == (
        tmp_path / "data",
        tmp_path / "data" / "warehouse.duckdb",
        DEFAULT_THREADS,
        "prod",
    )


@pytest.mark.parametrize("value", ["0", "-2", "x", "2.5"])
def test_a_thread_count_that_is_not_a_whole_number_of_at_least_one_is_refused_naming_the_variable(
    env: pytest.MonkeyPatch, value: str
) -> None:
    env.setenv("TPCH_ELT_THREADS", value)
    with pytest.raises(PipelineError) as refused:
        Settings.from_env()
    assert str(refused.value) == f"TPCH_ELT_THREADS={value!r} is not a whole number >= 1: set it to e.g. 4"


def test_a_thread_argument_overrides_an_invalid_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("TPCH_ELT_THREADS", "x")
    assert Settings.from_env(threads=3).threads == 3


def test_a_thread_argument_below_one_is_refused_not_replaced_by_the_default() -> None:
    with pytest.raises(PipelineError) as refused:
        Settings.from_env(threads=0)
    assert str(refused.value) == "threads must be a whole number >= 1, got 0"
