"""Benchmark: dbt against the bare engine, on the project's own SQL.

    make bench BENCH=bare                  # SCALE_FACTOR=1
    make bench BENCH=bare SCALE_FACTOR=10  # the scale factor issue 16 sets the ratios at

In a data directory of its own (data/bench/bare-sf<SF>/, generated and
loaded once, then reused), times three full rebuilds of every model, each
in a subprocess on the same warehouse:

1. `dbt run --full-refresh`: every model, dbt's threads, no tests;
2. the bare baseline: the SQL dbt compiled for that run, model by model in
   dependency order, as plain `create or replace table … as` (or `view`)
   in one DuckDB connection, with the profile's settings: what the models
   cost without dbt;
3. `dbt build --full-refresh`: every model and every test.

It prints run/bare (target ≤ 1.15) and build/bare (target ≤ 1.6) and
writes bench/results/bare-sf<SF>.json. Not a test: numbers depend on the
machine.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from tpch_elt.settings import Settings, duckdb_memory_limit  # noqa: E402
from tpch_elt.transform.dbt import common_dbt_args, dbt_executable  # noqa: E402

CLI = str(Path(sys.executable).parent / "tpch-elt")
TARGETS = {"run_to_bare": 1.15, "build_to_bare": 1.6}


def timed(name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `command` to completion: its wall-clock seconds and peak RSS, or exit with its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = round(time.perf_counter() - started, 2)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench step {name!r} failed:\n{output[-4000:]}")
    step = {"name": name, "seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    print(f"  {name:<48} {seconds:>9.2f} s {step['peak_rss_mb']:>9.1f} MB", flush=True)
    return step


def models_in_order(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's models, each after every model it reads."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    graph = {uid: [d for d in node["depends_on"]["nodes"] if d in models] for uid, node in models.items()}
    return [models[uid] for uid in TopologicalSorter(graph).static_order()]


def bare_script(manifest: dict[str, Any], warehouse: Path) -> str:
    """A Python program that rebuilds every model from dbt's compiled SQL in one connection."""
    statements = []
    for node in models_in_order(manifest):
        kind = "view" if node["config"]["materialized"] == "view" else "table"
        schema = node["relation_name"].rsplit(".", 1)[0]
        statements.append(f"create schema if not exists {schema}")
        statements.append(
            f"create or replace {kind} {node['relation_name']} as (\n{node['compiled_code']}\n)"
        )
    return (
        "import duckdb, json, sys\n"
        f"con = duckdb.connect({str(warehouse)!r}, config={{'preserve_insertion_order': True, "
        f"'memory_limit': {duckdb_memory_limit()!r}}})\n"
        f"for statement in json.loads({json.dumps(json.dumps(statements))}):\n"
        "    con.execute(statement)\n"
        "con.close()\n"
    )


def main() -> None:
    scale_factor = os.environ.get("SCALE_FACTOR", "1")
    data_dir = REPO / "data" / "bench" / f"bare-sf{scale_factor}"
    settings = Settings(data_dir=data_dir.resolve())
    env = {**os.environ, **settings.dbt_env(), "NO_COLOR": "1"}
    print(f"dbt vs the bare engine at SF {scale_factor} (data in {data_dir})", flush=True)
    steps = []
    if not (data_dir / "loaded").is_file():
        common = [CLI, "--data-dir", str(data_dir)]
        steps.append(timed("generate", [*common, "generate", "-s", scale_factor], env))
        steps.append(timed("load", [*common, "load", "-s", scale_factor], env))
        (data_dir / "loaded").write_text("raw is loaded; delete this file to generate and load again\n")
    dbt = [dbt_executable(), "--no-use-colors"]
    args = common_dbt_args(settings)
    run = timed("dbt run --full-refresh (every model)", [*dbt, "run", "--full-refresh", *args], env)
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    script = data_dir / "bare.py"
    script.write_text(bare_script(manifest, settings.warehouse_path))
    bare = timed("bare: the compiled SQL, one connection", [sys.executable, str(script)], env)
    build = timed("dbt build --full-refresh (models + tests)", [*dbt, "build", "--full-refresh", *args], env)
    steps += [run, bare, build]

    ratios = {
        "run_to_bare": round(run["seconds"] / bare["seconds"], 3),
        "build_to_bare": round(build["seconds"] / bare["seconds"], 3),
    }
    result = {
        "scale_factor": float(scale_factor),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "models": len(models_in_order(manifest)),
        "threads": settings.threads,
        **ratios,
        "steps": steps,
    }
    out = REPO / "bench" / "results" / f"bare-sf{scale_factor}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"{'':<32} {'measured':>10} {'target':>10}")
    for name, value in ratios.items():
        mark = "met" if value <= TARGETS[name] else "not met"
        print(f"{name.replace('_', ' '):<32} {value:>10.3f} {TARGETS[name]:>10g}  {mark}")
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
