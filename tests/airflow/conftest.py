"""What the Airflow tier shares: one dbt manifest and one prepared warehouse per
run (all xdist workers), and the Airflow environment each module sets and
restores (never left behind for the tests that run after it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.airflow import BATCHES, SCALE_FACTOR, quiet_env, stack
from testkit.shared import build_once, shared_root


@pytest.fixture(scope="module", autouse=True)
def airflow_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """AIRFLOW_HOME of this run for in-process parsing (DagBag); restored after the module."""
    home = shared_root(tmp_path_factory) / "airflow_home"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
        }.items():
            patch.setenv(key, value)
        yield home


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest `airflow/stack.py manifest` writes (dbt parse), once per run."""

    def build(directory: Path) -> None:
        stack().ensure_manifest({**quiet_env(), "TPCH_ELT_DBT_MANIFEST": str(directory / "manifest.json")})

    return build_once(tmp_path_factory, "dbt-manifest", build) / "manifest.json"


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `prepare` leaves on first use: SF 0.01 loaded and built, 3 batches pending."""

    def build(directory: Path) -> None:
        env = {**quiet_env(), "TPCH_ELT_DATA_DIR": str(directory / "data")}
        stack().ensure_warehouse(env, SCALE_FACTOR, BATCHES)

    return build_once(tmp_path_factory, "airflow-data", build) / "data"
