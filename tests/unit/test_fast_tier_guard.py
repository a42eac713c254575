"""The fast tier's guard can fail: what it refuses, it refuses (testkit.tiers)."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import duckdb
import pytest
from testkit.shared import shared_root
from testkit.tiers import FastTierViolation, fast_tier_guard


def test_a_fast_test_cannot_start_a_process() -> None:
    with pytest.raises(FastTierViolation, match=r"starts a process.*move it to tests/integration"):
        subprocess.run(["true"], check=False)
    with pytest.raises(FastTierViolation):
        os.system("true")


def test_a_fast_test_cannot_open_a_built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> None:
    built = shared_root(tmp_path_factory) / "built-template" / "data" / "warehouse.duckdb"
    with pytest.raises(FastTierViolation, match="opens the built warehouse"):
        duckdb.connect(str(built), read_only=True)
    with duckdb.connect() as con:  # its own, in memory: allowed
        assert con.execute("select 42").fetchall() == [(42,)]


@pytest.mark.parametrize("fixture", ["pipeline", "built_template", "prepared_data"])
def test_a_fast_test_cannot_ask_for_a_built_warehouse(request: pytest.FixtureRequest, fixture: str) -> None:
    item = SimpleNamespace(
        nodeid="tests/unit/test_x.py::test_y", fixturenames=[fixture], config=request.config
    )
    with pytest.raises(FastTierViolation, match=f"uses {fixture}: move it to tests/integration"):
        with fast_tier_guard(item):  # type: ignore[arg-type]
            pass
