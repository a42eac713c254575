"""Benchmark: `tpch-elt run` end to end, as `make run` does it, and what it leaves on disk.

    make bench BENCH=run                  # SCALE_FACTOR=1
    make bench BENCH=run SCALE_FACTOR=10

Runs the real CLI in a fresh data directory (data/bench/run-sf<SF>/), then
prints and writes bench/results/run-sf<SF>.json: wall-clock seconds, peak
RSS, the seconds of each increment as the run reports them, and the bytes
of the warehouse, the published snapshot and the landing files, each
against the target the project sets for it. Not a test: numbers depend on
the machine.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "tpch-elt")
# Issue 16's targets (seconds, MB) by scale factor; elsewhere only the measurements print.
TARGETS = {
    1.0: {"run_seconds": 120.0, "increment_seconds": 4.0, "warehouse_mb": 600.0},
    30.0: {"peak_rss_mb": 8000.0, "peak_disk_mb": 40000.0},
}
INCREMENT_ROW = re.compile(r"^│\s*(\d+)\s*│[^│]*│[^│]*│[^│]*│[^│]*│\s*([\d.]+)\s*│", re.M)


def folder_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (spill files included)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # a spill file removed while walking
                pass
    return total


def layer_mb(warehouse: Path) -> dict[str, float]:
    """Megabytes each schema (layer) of the warehouse holds: the distinct
    storage blocks its tables use (DuckDB's `pragma_storage_info`), so free
    blocks the file keeps after rebuilds count in no layer."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as w (read_only)")
    block_size = con.execute(
        "select block_size from pragma_database_size() where database_name = 'w'"
    ).fetchone()
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'w'"
    ).fetchall()
    blocks: dict[str, set[int]] = {}
    for schema, table in tables:
        rows = con.execute(
            f'select block_id, additional_block_ids from pragma_storage_info(\'w."{schema}"."{table}"\') '
            "where persistent and block_id >= 0"
        ).fetchall()
        used = blocks.setdefault(schema, set())
        for block, extra in rows:
            used.add(block)
            used.update(extra or [])
    con.close()
    size = block_size[0] if block_size else 262144
    return {schema: round(len(used) * size / 1e6, 1) for schema, used in sorted(blocks.items())}


class PeakDisk(threading.Thread):
    """Samples the data directory every few seconds: the run's peak disk use."""

    def __init__(self, path: Path, every: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.path, self.every, self.peak = path, every, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.peak = max(self.peak, disk_bytes(self.path))


def main() -> None:
    scale_factor = os.environ.get("SCALE_FACTOR", "1")
    data_dir = REPO / "data" / "bench" / f"run-sf{scale_factor}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "DO_NOT_TRACK": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    print(f"`tpch-elt run` benchmark at SF {scale_factor} (data in {data_dir})", flush=True)
    data_dir.mkdir(parents=True)
    sampler = PeakDisk(data_dir)
    sampler.start()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [CLI, "--data-dir", str(data_dir), "run", "--scale-factor", scale_factor],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout or []:  # echoed, so a long run shows its progress
        print(line, end="", flush=True)
        lines.append(line)
    output = "".join(lines)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = round(time.perf_counter() - started, 2)
    sampler.done.set()
    sampler.join()
    log = REPO / "bench" / "results" / f"run-sf{scale_factor}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"tpch-elt run failed:\n{output}")
    increments = [float(s) for _, s in INCREMENT_ROW.findall(output)]
    warehouse = data_dir / "warehouse.duckdb"
    result: dict[str, Any] = {
        "scale_factor": float(scale_factor),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "run_seconds": seconds,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        # The last increment is the daily sweep (every test over all history).
        "increment_seconds": increments[:-1],
        "sweep_seconds": increments[-1] if increments else None,
        "warehouse_mb": folder_mb(warehouse),
        "published_mb": folder_mb(warehouse.with_name("warehouse.published")),
        "landing_mb": folder_mb(data_dir / "landing"),
        "warehouse_layers_mb": layer_mb(warehouse),
        "peak_disk_mb": round(max(sampler.peak, disk_bytes(data_dir)) / 1e6, 1),
    }
    out = REPO / "bench" / "results" / f"run-sf{scale_factor}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    targets = TARGETS.get(float(scale_factor), {})
    worst_increment = max(increments[:-1], default=0.0)
    rows: list[tuple[str, float | None, float | None]] = [
        ("tpch-elt run, end to end (s)", seconds, targets.get("run_seconds")),
        ("slowest 1 % increment in the run (s)", worst_increment, targets.get("increment_seconds")),
        ("daily sweep, the last increment (s)", result["sweep_seconds"], None),
        ("peak RSS (MB)", result["peak_rss_mb"], targets.get("peak_rss_mb")),
        ("warehouse, all layers (MB)", result["warehouse_mb"], targets.get("warehouse_mb")),
        *[(f"  of which {name} (MB)", mb, None) for name, mb in result["warehouse_layers_mb"].items()],
        ("published snapshot (MB)", result["published_mb"], None),
        ("landing files (MB)", result["landing_mb"], None),
        ("peak disk, the whole data dir (MB)", result["peak_disk_mb"], targets.get("peak_disk_mb")),
    ]
    print()
    print(f"{'':<40} {'measured':>10} {'target':>10}")
    for name, value, target in rows:
        mark = "" if target is None else ("  met" if value is not None and value <= target else "  not met")
        target_text = "" if target is None else f"{target:g}"
        print(f"{name:<40} {value!s:>10} {target_text:>10}{mark}")
    print(f"written to {out.relative_to(REPO)} (the run's own output: {log.relative_to(REPO)})")


if __name__ == "__main__":
    main()
