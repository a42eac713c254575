"""Shared fixtures: the real CLI, run as a user would, on a tiny scale factor."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from browser_support import launch

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
# Small enough for CI, large enough that every TPC-H query has rows.
E2E_SCALE_FACTOR = 0.01
# `run` holds back the newest orders and applies them as increments; three
# keep CI quick while exercising the incremental path end to end.
E2E_BATCHES = 3


def cli_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TPCH_ELT_")}
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "PATH": f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path | None = None, check: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the installed `tpch-elt` exactly as a user would."""
    proc = subprocess.run(
        [str(BIN_DIR / "tpch-elt"), *args],
        cwd=cwd or REPO_ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tpch-elt {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start `tpch-elt` in its own process group (os.killpg reaches dbt too)."""
    return start_in_repo([str(BIN_DIR / "tpch-elt"), *args])


def start_in_repo(command: list[str]) -> subprocess.Popen[str]:
    """Start `command` as a user would from the repository, in its own process group."""
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@dataclass(frozen=True)
class Pipeline:
    """A warehouse built by `tpch-elt run` at E2E_SCALE_FACTOR."""

    data_dir: Path
    warehouse: Path
    scale_factor: float
    stdout: str

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.warehouse), read_only=True)

    def rows(self, sql: str) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql).fetchall()

    def scalar(self, sql: str):
        return self.rows(sql)[0][0]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """One full `tpch-elt run` shared by the end-to-end tests (read-only use)."""
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    proc = run_cli(
        "--data-dir",
        str(data_dir),
        "run",
        "--scale-factor",
        str(E2E_SCALE_FACTOR),
        "--initial-fraction",
        "0.9",
        "--batches",
        str(E2E_BATCHES),
        check=True,
    )
    return Pipeline(data_dir, data_dir / "warehouse.duckdb", E2E_SCALE_FACTOR, proc.stdout)


# The split the reliability tests share (test_concurrency, test_bad_input,
# test_schema_drift): most orders loaded, two arrival batches pending.
PENDING_INITIAL_FRACTION = "0.8"
PENDING_BATCHES = "2"


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir at E2E_SCALE_FACTOR: generated with two pending arrival
    batches, loaded and built once. Tests copy it (shutil.copytree) and never
    change it; a copy ingests from its own landing files."""
    data_dir = tmp_path_factory.mktemp("built-template") / "data"
    sf = f"{E2E_SCALE_FACTOR:g}"
    run_cli(
        "--data-dir",
        str(data_dir),
        "generate",
        "-s",
        sf,
        "--initial-fraction",
        PENDING_INITIAL_FRACTION,
        "--batches",
        PENDING_BATCHES,
        check=True,
    )
    run_cli("--data-dir", str(data_dir), "load", "-s", sf, check=True)
    run_cli("--data-dir", str(data_dir), "build", check=True)
    return data_dir


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session's browser tests (browser_support)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()
