"""Benchmark: full refresh vs one 1 % batch processed incrementally.

    make bench                    # SCALE_FACTOR=1
    make bench SCALE_FACTOR=10

Prints a table and writes bench/results/incremental-sf<SF>.json. Every step
runs the real CLI in a subprocess; times are wall-clock seconds, memory is
the step's peak RSS. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "tpch-elt")
# Issue 16's targets at SF1, in seconds: the first full build (models and
# every test) and one 1 % increment through `tpch-elt build`.
TARGETS_SF1 = {"full_refresh_seconds": 30.0, "incremental_batch_seconds": 4.0}


@dataclass
class Step:
    name: str
    seconds: float
    peak_rss_mb: float


def run(name: str, *args: str, env: dict[str, str] | None = None) -> Step:
    full_env = {**os.environ, "DO_NOT_TRACK": "1", "NO_COLOR": "1", **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [CLI, *args], cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench step {name!r} failed:\n{output}")
    step = Step(name, round(seconds, 2), round(usage.ru_maxrss / 1024, 1))
    print(f"  {name:<44} {step.seconds:>8.2f} s {step.peak_rss_mb:>9.1f} MB", flush=True)
    return step


def main() -> None:
    scale_factor = os.environ.get("SCALE_FACTOR", "1")
    data_dir = REPO / "data" / "bench" / f"sf={scale_factor}"
    warehouse = data_dir / "warehouse.duckdb"
    snapshot = data_dir / "before-increment.duckdb"
    common = ("--data-dir", str(data_dir))
    print(f"incremental benchmark at SF {scale_factor} (data in {data_dir})")

    steps: dict[str, Step] = {}
    steps["generate"] = run(
        "generate (99 % initial + one 1 % batch)",
        *common,
        "generate",
        "-s",
        scale_factor,
        "--initial-fraction",
        "0.99",
        "--batches",
        "1",
    )
    steps["load"] = run("load initial 99 %", *common, "load", "-s", scale_factor)
    # The first build is the full refresh: every model built from all of raw
    # and every test over all history. (A second, separate refresh would
    # measure the same work again and double the bench's time at SF10.)
    steps["full_refresh"] = run("full refresh (build --full-refresh)", *common, "build", "--full-refresh")
    shutil.copyfile(warehouse, snapshot)

    steps["ingest"] = run("ingest the 1 % batch", *common, "ingest")
    steps["incremental"] = run("incremental build (batch watermark)", *common, "build")

    shutil.copyfile(snapshot, warehouse)
    run("ingest the 1 % batch again (for anti-join)", *common, "ingest")
    steps["anti_join"] = run(
        "incremental build (whole-table anti-join)",
        *common,
        "build",
        "--vars",
        json.dumps({"lineitem_increment": "anti_join"}),
    )
    snapshot.unlink()

    full = steps["full_refresh"].seconds
    incremental = steps["incremental"].seconds
    result = {
        "scale_factor": float(scale_factor),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "full_refresh_seconds": full,
        "incremental_batch_seconds": incremental,
        "incremental_with_ingest_seconds": round(incremental + steps["ingest"].seconds, 2),
        "incremental_to_full_ratio": round(incremental / full, 4),
        "anti_join_batch_seconds": steps["anti_join"].seconds,
        "anti_join_to_watermark_ratio": round(steps["anti_join"].seconds / incremental, 2),
        "peak_rss_mb": max(s.peak_rss_mb for s in steps.values()),
        "steps": [asdict(s) for s in steps.values()],
    }
    out = REPO / "bench" / "results" / f"incremental-sf{scale_factor}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"full refresh:               {full:8.2f} s")
    print(f"one 1 % batch, incremental: {incremental:8.2f} s  ({100 * incremental / full:.1f} % of full)")
    print(f"  + ingest:                 {steps['ingest'].seconds:8.2f} s")
    print(f"same batch, anti-join:      {steps['anti_join'].seconds:8.2f} s")
    print(f"peak RSS:                   {result['peak_rss_mb']:8.1f} MB")
    if float(scale_factor) == 1:
        print()
        for key, target in TARGETS_SF1.items():
            value = result[key]
            mark = "met" if isinstance(value, float) and value <= target else "not met"
            print(f"{key.replace('_', ' '):<28} {value!s:>8} s  target {target:g} s  {mark}")
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
