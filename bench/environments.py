"""Benchmark: environments at SCALE_FACTOR: create, build a change, diff, promote, roll back.

    make bench BENCH=environments [SCALE_FACTOR=1]

Prepares prod (generate, load, build) in data/bench/environments-sf<SF>/,
then times each `tpch-elt env` step through the real CLI. Two times per
step: the CLI's wall clock (Python and imports included, about 0.5 s) and
the step's own seconds as the CLI reports them. Parquet bytes are counted
in the segment store before and after each step. Writes
bench/results/environments-sf<SF>.json. Not a test: numbers depend on the machine.

Issue 17's targets at SF1: create ≤ 1 s and 0 bytes of Parquet; diff of
every mart ≤ 60 s; promote and rollback ≤ 1 s, 0 bytes rewritten.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "tpch-elt")
MART = "mart_shipping_modes"
CHANGE = (
    "when return_flag <> 'N' and (is_late or is_returned) then 1",
    "when return_flag <> 'N' and is_returned then 1",
)
TARGETS_SF1 = {"create": 1.0, "diff_all_marts": 60.0, "promote": 1.0, "rollback": 1.0}
# "... (0.08 s)", "..., 0.09 s", "6.5 s" at the end of the CLI's summary line
_SECONDS = re.compile(r"([0-9]+\.[0-9]+) s\)?\s*$")


@dataclass
class Step:
    name: str
    wall_seconds: float
    own_seconds: float | None
    parquet_bytes_written: int


def _parquet_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.glob("*/*.parquet")) if store.is_dir() else 0


def run(name: str, store: Path, *args: str, env: dict[str, str] | None = None) -> Step:
    full_env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(env or {}),
    }
    before = _parquet_bytes(store)
    started = time.perf_counter()
    proc = subprocess.run([CLI, *args], cwd=REPO, env=full_env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"bench step {name!r} failed:\n{proc.stdout}\n{proc.stderr}")
    own = None
    for line in proc.stdout.splitlines() if args[2:3] == ("env",) else []:
        match = _SECONDS.search(line)
        if match and not line.lstrip().startswith(("│", "┃", "|")):
            own = float(match.group(1))
    step = Step(name, round(wall, 3), own, _parquet_bytes(store) - before)
    own_text = f"{own:8.2f} s" if own is not None else "       -  "
    print(f"  {name:<40} {wall:8.2f} s {own_text} {step.parquet_bytes_written:>12,} B", flush=True)
    return step


def _changed_project(directory: Path) -> Path:
    project = directory / "project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(
        REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    model = project / "models" / "mart" / "insights" / f"{MART}.sql"
    model.write_text(model.read_text().replace(*CHANGE))
    return project


def main() -> None:
    scale_factor = os.environ.get("SCALE_FACTOR", "1")
    data_dir = REPO / "data" / "bench" / f"environments-sf{scale_factor}"
    store = data_dir / "warehouse.published"
    common = ("--data-dir", str(data_dir))
    print(f"environments benchmark at SF {scale_factor} (data in {data_dir})")
    if not (data_dir / "warehouse.published.duckdb").is_file():
        print("  preparing prod: generate, load, build (once)", flush=True)
        for args in (("generate", "-s", scale_factor), ("load", "-s", scale_factor), ("build",)):
            run(" ".join(args[:1]), store, *common, *args)
    shutil.rmtree(data_dir / "environments", ignore_errors=True)
    for pin in (store / ".pins").glob("*.json"):
        pin.unlink()
    project = _changed_project(data_dir)
    changed = {"TPCH_ELT_PROJECT_DIR": str(project)}
    print(f"  {'step':<40} {'wall':>10} {'own':>10} {'Parquet written':>14}")
    steps = {
        "create": run("env create dev", store, *common, "env", "create", "dev"),
        "build": run(
            f"env build dev (one changed mart: {MART})", store, *common, "env", "build", "dev", env=changed
        ),
        "diff_one_mart": run("env diff dev (one changed mart)", store, *common, "env", "diff", "dev"),
        "create_all": run("env create every_mart", store, *common, "env", "create", "every_mart"),
        "build_all": run(
            "env build every_mart --select path:models/mart",
            store,
            *common,
            "env",
            "build",
            "every_mart",
            "--select",
            "path:models/mart",
        ),
        "diff_all_marts": run(
            "env diff every_mart (every mart, by key)", store, *common, "env", "diff", "every_mart"
        ),
        "promote": run("env promote dev", store, *common, "env", "promote", "dev"),
        "rollback": run("env rollback", store, *common, "env", "rollback"),
    }
    diff_all = json.loads((data_dir / "environments" / "every_mart" / "diff-prod.json").read_text())
    compared = [m for m in diff_all["marts"] if m["status"] != "unchanged"]
    # prod's warehouse never held what the swaps named: put prod back on its own build
    run("build (prod's full refresh after the swaps)", store, *common, "build")
    result = {
        "scale_factor": float(scale_factor),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "marts_compared_in_diff_all": len(compared),
        "rows_compared_in_diff_all": sum(m["rows_after"] for m in compared),
        "steps": {key: asdict(step) for key, step in steps.items()},
    }
    out = REPO / "bench" / "results" / f"environments-sf{scale_factor}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\ndiff of every mart compared {result['marts_compared_in_diff_all']} marts, "
        f"{result['rows_compared_in_diff_all']:,} rows"
    )
    if float(scale_factor) == 1:
        for key, target in TARGETS_SF1.items():
            step = steps[key]
            own = step.own_seconds if step.own_seconds is not None else step.wall_seconds
            met = own <= target and (key.startswith("diff") or step.parquet_bytes_written == 0)
            print(
                f"{key:<16} own {own:7.2f} s (wall {step.wall_seconds:.2f} s), "
                f"{step.parquet_bytes_written:,} B of Parquet; target {target:g} s: {'met' if met else 'not met'}"
            )
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
