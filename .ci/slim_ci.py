"""Slim CI for the dbt project: build and test only what a change touched.

    python .ci/slim_ci.py state --state DIR   (make ci-state STATE=DIR)
    python .ci/slim_ci.py build --state DIR   (make slim-ci STATE=DIR)

`state` builds a tiny warehouse from scratch (tpch-elt generate, load and
build at --scale-factor) and keeps what a pull request compares against:
DIR/manifest.json, dbt's manifest of that build, and DIR/warehouse.duckdb,
the warehouse holding the relations the manifest describes. CI runs it on
every push to main and uploads DIR as an artifact.

`build` runs `dbt build --select state:modified+ --defer --state DIR`:
only the models (and their tests) whose files or configs differ from DIR's
manifest, and everything downstream of them. Every other `ref` is deferred
to the relation DIR's manifest names. On Snowflake that relation lives in
the production database; DuckDB has none, so the build runs on a copy of
DIR/warehouse.duckdb, which holds exactly those relations (same database
name, same schemas). Without a usable DIR (no main build yet, the artifact
expired) it says so and builds and tests everything from scratch instead.

Runs in a scratch data directory (--data-dir, default data/ci): never the
warehouse of `make run`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tpch_elt.settings import Settings
from tpch_elt.transform.dbt import common_dbt_args

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECT_DIR = REPO / "dbt_project"
WAREHOUSE_NAME = "warehouse.duckdb"  # the DuckDB database name ("warehouse") is part of the manifest


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, warehouse=data_dir / WAREHOUSE_NAME, project_dir=PROJECT_DIR)


def _env(data_dir: Path) -> dict[str, str]:
    """This process's environment without any TPCH_ELT_* of the caller's, plus the CLI's dbt environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TPCH_ELT_")}
    env.update(_settings(data_dir).dbt_env())
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, env=env, check=True)


def _fresh_data_dir(data_dir: Path) -> None:
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)


def _full_build(data_dir: Path, scale_factor: str) -> None:
    """generate → load → build everything (models, tests, freshness) from scratch."""
    _fresh_data_dir(data_dir)
    cli = [str(BIN / "tpch-elt"), "--data-dir", str(data_dir)]
    env = _env(data_dir)
    _run([*cli, "generate", "--scale-factor", scale_factor], env)
    _run([*cli, "load", "--scale-factor", scale_factor], env)
    _run([*cli, "build"], env)


def save_state(state: Path, data_dir: Path, scale_factor: str) -> None:
    _full_build(data_dir, scale_factor)
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    # tpch-elt keeps dbt's artifacts per data dir (Settings.dbt_target_dir).
    shutil.copy2(data_dir / "dbt" / "target" / "manifest.json", state / "manifest.json")
    shutil.copy2(data_dir / WAREHOUSE_NAME, state / WAREHOUSE_NAME)
    print(f"State for slim CI in {state}: manifest.json, {WAREHOUSE_NAME}")


def slim_build(state: Path, data_dir: Path, scale_factor: str) -> None:
    missing = [name for name in ("manifest.json", WAREHOUSE_NAME) if not (state / name).is_file()]
    if missing:
        print(
            f"No slim-CI state in {state} (missing {', '.join(missing)}: no build of main to compare "
            "with yet, or its artifact expired): building and testing everything instead.",
            flush=True,
        )
        _full_build(data_dir, scale_factor)
        return
    _fresh_data_dir(data_dir)
    shutil.copy2(state / WAREHOUSE_NAME, data_dir / WAREHOUSE_NAME)
    env = _env(data_dir)
    settings = _settings(data_dir)
    state_args = ["--select", "state:modified+", "--state", str(state.resolve())]
    dbt = str(BIN / "dbt")
    print("Modified models and their descendants:", flush=True)
    _run(
        [
            dbt,
            "--quiet",
            "ls",
            *common_dbt_args(settings, threads=False),
            *state_args,
            "--resource-type",
            "model",
            "--output",
            "name",
        ],
        env,
    )
    _run([dbt, "build", *common_dbt_args(settings), *state_args, "--defer"], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["state", "build"])
    parser.add_argument("--state", type=Path, required=True, help="directory of manifest.json + warehouse")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("CI_DATA_DIR", REPO / "data/ci"))
    )
    parser.add_argument("--scale-factor", default="0.01")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    try:
        if args.mode == "state":
            save_state(args.state.resolve(), data_dir, args.scale_factor)
        else:
            slim_build(args.state.resolve(), data_dir, args.scale_factor)
    except subprocess.CalledProcessError as exc:
        print(f"slim CI: {shlex.join(exc.cmd)} exited {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
