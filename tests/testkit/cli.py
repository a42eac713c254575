"""The real `tpch-elt` CLI, run as a user would, and the warehouses it builds for the tests."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from testkit import parse_cache

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO_ROOT / "tests"
BIN_DIR = Path(sys.executable).parent
# Small enough for CI, large enough that every TPC-H query has rows.
E2E_SCALE_FACTOR = 0.01
# `run` holds back the newest orders and applies them as increments; three
# keep CI quick while exercising the incremental path end to end.
E2E_BATCHES = 3
# The split the reliability tests share (built_template): most orders
# loaded, two arrival batches pending.
PENDING_INITIAL_FRACTION = "0.8"
PENDING_BATCHES = "2"


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
    _seed_parse(args)
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


def _option(args: tuple[str, ...], name: str) -> Path | None:
    for option, value in itertools.pairwise(args):
        if option == name:
            return Path(value)
    return None


def _seed_parse(args: tuple[str, ...]) -> None:
    """dbt's parse of the project, made once per run, for the data dir these arguments name."""
    data_dir = _option(args, "--data-dir")
    if data_dir is not None:
        parse_cache.seed(data_dir, _option(args, "--warehouse"))


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start `tpch-elt` in its own process group (os.killpg reaches dbt too)."""
    _seed_parse(args)
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


def start_frozen(data_dir: Path, point: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """Start the real CLI through tests/scripts/crash_at.py, which freezes it at `point`."""
    marker = data_dir.parent / "frozen.txt"
    proc = start_in_repo(
        [sys.executable, str(TESTS_DIR / "scripts" / "crash_at.py"), str(marker), point, "--", *args]
    )
    return proc, marker


def wait_until_frozen(marker: Path, proc: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and f"pid {proc.pid} " in marker.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process ended before its crash point: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"never reached the crash point in {marker}")


def copy_data_dir(source: Path, destination: Path) -> Path:
    """A private copy of a shared data directory (never its lock files)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*.lock"))
    parse_cache.retarget(source, destination)
    return destination


@dataclass(frozen=True)
class Pipeline:
    """A warehouse built by `tpch-elt run` at E2E_SCALE_FACTOR; shared, so read-only."""

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

    def copy_to(self, directory: Path) -> Path:
        """The data directory copied for a test that writes (dbt targets, logs, builds)."""
        return copy_data_dir(self.data_dir, directory / "data")


def one_line_error(stderr: str) -> str:
    """The one `error: ...` line a refused command prints, and nothing else."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]
