"""A build on a large warehouse runs one model at a time unless the user chose the threads."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tpch_elt.settings import Settings
from tpch_elt.transform import build
from tpch_elt.transform.build import sized_threads


def _warehouse(path: Path, lines: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        con.execute(f"create table raw.lineitem as select range as l_orderkey from range({lines})")
    return path


@pytest.mark.parametrize(
    ("lines", "threads", "expected"),
    [(999, None, 4), (1_000, None, 1), (1_000, "4", 4), (1_000, "2", 2)],
)
def test_threads_follow_the_warehouse_size_unless_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: int, threads: str | None, expected: int
) -> None:
    monkeypatch.setattr(build, "ONE_MODEL_AT_A_TIME_LINES", 1_000)
    warehouse = _warehouse(tmp_path / "w.duckdb", lines)
    environ = {"TPCH_ELT_THREADS": threads} if threads else {}
    settings = Settings.from_env(data_dir=tmp_path, warehouse=warehouse, environ=environ)
    assert sized_threads(settings).threads == expected
    # an option chooses as the variable does
    chosen = Settings.from_env(data_dir=tmp_path, warehouse=warehouse, threads=3, environ={})
    assert sized_threads(chosen).threads == 3
