"""Extract: TPC-H data generated locally with tpchgen-cli into Parquet."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.extract.batches import BATCH_TABLES, plan_batches, remove_scratch, validate_split
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES, TableSpec
from tpch_elt.warehouse.lock import landing_lock, warehouse_lock

# Below this, dbgen's partsupp formula repeats (part, supplier) pairs (seen at
# SF 0.001), so TPC-H's own keys stop being unique.
MIN_SCALE_FACTOR = 0.01

# Called as (table, rows, reused) after each table is ready.
TableDone = Callable[[str, int, bool], None]


@dataclass(frozen=True)
class GeneratedTable:
    name: str
    path: Path
    rows: int
    reused: bool


def validate_scale_factor(scale_factor: float) -> float:
    """A positive, finite scale factor, or a PipelineError saying why not."""
    if not isinstance(scale_factor, (int, float)) or isinstance(scale_factor, bool):
        raise PipelineError(f"scale factor must be a number, got {scale_factor!r}")
    if not math.isfinite(scale_factor) or scale_factor <= 0:
        raise PipelineError(f"scale factor must be a positive number (e.g. 1 or 0.1), got {scale_factor:g}")
    if scale_factor < MIN_SCALE_FACTOR:
        raise PipelineError(
            f"scale factor must be at least {MIN_SCALE_FACTOR:g}, got {scale_factor:g}: "
            "below it TPC-H's generator repeats (part, supplier) pairs in partsupp"
        )
    return float(scale_factor)


def parse_scale_factor(text: str) -> float:
    """The scale factor a user typed, validated; PipelineError if unusable."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise PipelineError(f"scale factor must be a number (e.g. 1 or 0.1), got {text!r}") from None
    return validate_scale_factor(value)


def tpchgen_executable() -> str:
    """The tpchgen-cli installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "tpchgen-cli"
    if beside.exists():
        return str(beside)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise PipelineError(
            "tpchgen-cli not found: install the project (`make run` does) or `pip install tpchgen-cli`"
        )
    return found


def parquet_row_count(path: Path) -> int:
    """Rows in a Parquet file, read from its footer; PipelineError if unreadable."""
    try:
        with duckdb.connect() as con:
            row = con.execute(
                "select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [str(path)]
            ).fetchone()
    except duckdb.Error as exc:
        reason = first_line(exc)
        raise PipelineError(
            f"landing file {path} is unreadable ({reason}): delete it and run `tpch-elt generate` again "
            "(if it was just generated, check that the disk has free space)"
        ) from None
    return int(row[0]) if row else 0


def check_row_count(spec: TableSpec, rows: int, scale_factor: float, path: Path) -> None:
    """Raise unless `rows` is what TPC-H prescribes for this table."""
    expected = spec.expected_rows(scale_factor)
    if expected is not None and rows != expected:
        raise PipelineError(
            f"{path} has {rows:,} rows, TPC-H prescribes {expected:,} for {spec.name} "
            f"at SF {scale_factor:g}: delete the file and run `tpch-elt generate` again"
        )
    if expected is None and rows <= 0:
        raise PipelineError(f"{path} is empty: delete it and run `tpch-elt generate` again")


def _reusable(path: Path, spec: TableSpec, scale_factor: float) -> int | None:
    """Row count of an existing, complete landing file, else None."""
    if not path.is_file():
        return None
    try:
        rows = parquet_row_count(path)
        check_row_count(spec, rows, scale_factor, path)
    except PipelineError:
        return None
    return rows


def _generate_table(spec: TableSpec, scale_factor: float, out_dir: Path) -> Path:
    """Run tpchgen-cli for one table into a scratch dir; move it in atomically.

    The scratch dir's name is unique to this process, so another generate
    never writes into it (the landing lock refuses one anyway).
    """
    scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=out_dir))
    cmd = [
        tpchgen_executable(),
        "parquet",
        "--scale-factor",
        f"{scale_factor:g}",
        "--tables",
        spec.name,
        "--output-dir",
        str(scratch),
        # ZSTD: a fifth smaller than the default Snappy (lineitem at SF1:
        # 183 MB, not 232) in the same time; landing is 13 GB at SF30
        "--compression",
        "ZSTD(1)",
        "--no-progress",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    produced = scratch / f"{spec.name}.parquet"
    if proc.returncode != 0 or not produced.is_file():
        shutil.rmtree(scratch, ignore_errors=True)
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise PipelineError(
            f"tpchgen-cli failed for table {spec.name} at SF {scale_factor:g}"
            + (f": {detail[-1]}" if detail else "")
        )
    final = out_dir / f"{spec.name}.parquet"
    produced.replace(final)  # atomic on one filesystem: never a half file
    shutil.rmtree(scratch, ignore_errors=True)
    return final


def generate(
    settings: Settings,
    scale_factor: float,
    *,
    force: bool = False,
    initial_fraction: float = 1.0,
    batches: int = 0,
    on_table: TableDone | None = None,
) -> list[GeneratedTable]:
    """Write the eight TPC-H tables as Parquet under the landing directory.

    Complete files from an earlier run are reused (their row counts are
    checked against TPC-H's cardinalities); anything missing, truncated or
    of the wrong size is generated again.

    With `batches` > 0 the newest orders (beyond `initial_fraction` of the
    keys) and their lines are also split into numbered arrival batches.
    """
    scale_factor = validate_scale_factor(scale_factor)
    validate_split(initial_fraction, batches)
    out_dir = settings.landing_dir(scale_factor)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(
            f"cannot create landing directory {out_dir}: {exc.strerror}; choose a writable --data-dir"
        ) from exc

    # One generate per landing directory, and none while a step writes (or
    # reads the landing files into) the warehouse: a second exits at once.
    with warehouse_lock(settings.warehouse_path, "generate"), landing_lock(out_dir, "generate"):
        remove_scratch(out_dir)  # left by a killed generate; none is running now
        return _generate_locked(scale_factor, out_dir, force, initial_fraction, batches, on_table)


def _generate_locked(
    scale_factor: float,
    out_dir: Path,
    force: bool,
    initial_fraction: float,
    batches: int,
    on_table: TableDone | None,
) -> list[GeneratedTable]:
    results: list[GeneratedTable] = []
    for spec in TABLES:
        path = out_dir / f"{spec.name}.parquet"
        rows = None if force else _reusable(path, spec, scale_factor)
        reused = rows is not None
        if rows is None:
            path = _generate_table(spec, scale_factor, out_dir)
            rows = parquet_row_count(path)
            check_row_count(spec, rows, scale_factor, path)
        results.append(GeneratedTable(spec.name, path, rows, reused))
        if on_table is not None:
            on_table(spec.name, rows, reused)
    facts_regenerated = any(t.name in BATCH_TABLES and not t.reused for t in results)
    plan_batches(out_dir, scale_factor, initial_fraction, batches, force=facts_regenerated)
    return results
