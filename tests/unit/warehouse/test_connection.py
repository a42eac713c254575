"""Every warehouse connection carries the memory cap dbt's profile sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.settings import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_VAR, Settings
from tpch_elt.warehouse.connection import connect


def _limit(path: Path, *, read_only: bool = False) -> str:
    with connect(path, read_only=read_only) as con:
        row = con.execute("select current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def test_connections_take_the_memory_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.delenv(MEMORY_LIMIT_VAR, raising=False)
    assert _limit(warehouse) == "5.5 GiB"  # DuckDB prints 6GB (10^9) in GiB
    monkeypatch.setenv(MEMORY_LIMIT_VAR, "1GB")
    assert _limit(warehouse, read_only=True) == "953.6 MiB"
    # dbt is handed the same value, so both sides of a run share one cap.
    assert Settings(data_dir=tmp_path).dbt_env()[MEMORY_LIMIT_VAR] == "1GB"
    monkeypatch.delenv(MEMORY_LIMIT_VAR)
    assert Settings(data_dir=tmp_path).dbt_env()[MEMORY_LIMIT_VAR] == DEFAULT_MEMORY_LIMIT


def test_a_memory_limit_duckdb_cannot_read_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_VAR, "lots")
    with pytest.raises(PipelineError) as caught:
        _limit(tmp_path / "w.duckdb")
    assert str(caught.value) == f"{MEMORY_LIMIT_VAR}='lots' is not a DuckDB memory size: set it to e.g. 6GB"
