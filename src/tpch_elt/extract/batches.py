"""Arrivals: the newest orders held back as numbered future batches.

`tpch-elt generate --initial-fraction 0.9 --batches 10` keeps the generator's
files untouched and writes, beside them,

    landing/sf=N/batches/plan.json
    landing/sf=N/batches/batch_0001/{orders,lineitem}.parquet
    ...

The plan says which order keys the initial load takes (the lowest
`initial_fraction` of them) and which key range each batch brings (the
rest, in ascending key order, split into `batches` equal parts). Order keys
always increase in TPC-H, so each batch is "the next orders to arrive".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.load.schema_check import read_parquet_sql
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.sql import quote_literal

PLAN_FILE = "plan.json"
BATCH_TABLES = ("orders", "lineitem")
# Scratch folders in a landing directory: `.tmp-<table>-XXXX` (generate) and
# `.tmp-batches-XXXX`; unique per process, removed by the next generate.
SCRATCH_PREFIX = ".tmp-"


@dataclass(frozen=True)
class BatchRange:
    batch_id: int
    min_order_key: int
    max_order_key: int
    orders: int


@dataclass(frozen=True)
class BatchPlan:
    scale_factor: float
    initial_fraction: float
    initial_max_order_key: int
    initial_orders: int
    batches: tuple[BatchRange, ...]

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BatchPlan:
        data = json.loads(text)
        return cls(
            scale_factor=float(data["scale_factor"]),
            initial_fraction=float(data["initial_fraction"]),
            initial_max_order_key=int(data["initial_max_order_key"]),
            initial_orders=int(data["initial_orders"]),
            batches=tuple(BatchRange(**b) for b in data["batches"]),
        )

    def same_split(self, initial_fraction: float, batches: int) -> bool:
        return abs(self.initial_fraction - initial_fraction) < 1e-12 and len(self.batches) == batches

    def same_orders(self, other: BatchPlan) -> bool:
        """True when both plans deliver the same orders in the same batches."""
        return self.initial_max_order_key == other.initial_max_order_key and [
            (b.batch_id, b.min_order_key, b.max_order_key) for b in self.batches
        ] == [(b.batch_id, b.min_order_key, b.max_order_key) for b in other.batches]

    def describe(self) -> str:
        return (
            f"--initial-fraction {self.initial_fraction:g} --batches {len(self.batches)}: "
            f"initial orders up to key {self.initial_max_order_key:,}"
        )


def batches_dir(landing_dir: Path) -> Path:
    return landing_dir / "batches"


def batch_dir(landing_dir: Path, batch_id: int) -> Path:
    return batches_dir(landing_dir) / f"batch_{batch_id:04d}"


def read_plan(landing_dir: Path) -> BatchPlan | None:
    """The batch plan for this landing directory, or None if all is initial."""
    path = batches_dir(landing_dir) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        return BatchPlan.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"batch plan {path} is unreadable ({exc}): delete {path.parent} and run "
            "`tpch-elt generate` with --batches again"
        ) from exc


def validate_split(initial_fraction: float, batches: int) -> None:
    if not 0 < initial_fraction <= 1:
        raise PipelineError(f"--initial-fraction must be in (0, 1], got {initial_fraction:g}")
    if batches < 0:
        raise PipelineError(f"--batches must be 0 or more, got {batches}")
    if batches > 0 and initial_fraction == 1:
        raise PipelineError("--batches needs --initial-fraction below 1 (e.g. 0.9) to leave orders to arrive")
    if batches == 0 and initial_fraction < 1:
        raise PipelineError("--initial-fraction below 1 needs --batches of 1 or more to hold the rest")


def remove_scratch(landing_dir: Path) -> None:
    """Delete the scratch folders a killed generate left; call it holding the landing lock."""
    if landing_dir.is_dir():
        for path in landing_dir.glob(f"{SCRATCH_PREFIX}*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def write_plan(folder: Path, plan: BatchPlan) -> Path:
    """Write `folder/plan.json` atomically: a temp file, fsync, os.replace, fsync the folder."""
    path = folder / PLAN_FILE
    tmp = folder / f".{PLAN_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(plan.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync(folder)
    return path


def _complete(landing_dir: Path, plan: BatchPlan) -> bool:
    return all(
        (batch_dir(landing_dir, b.batch_id) / f"{table}.parquet").is_file()
        for b in plan.batches
        for table in BATCH_TABLES
    )


def plan_batches(
    landing_dir: Path,
    scale_factor: float,
    initial_fraction: float,
    batches: int,
    *,
    force: bool = False,
) -> BatchPlan | None:
    """Write (or reuse) the batch plan and batch files; None when batches=0.

    The batch directory is built aside (a scratch folder unique to this
    process), synced, and swapped in with two renames, so an interrupted
    split never leaves a half-written batch or plan behind: readers see the
    old plan with its batches, or the new one with its batches (or, if the
    process dies between the renames, no plan: `ingest` then says to
    generate again).
    """
    validate_split(initial_fraction, batches)
    target = batches_dir(landing_dir)
    if batches == 0:
        shutil.rmtree(target, ignore_errors=True)
        return None
    existing = read_plan(landing_dir)
    if (
        not force
        and existing is not None
        and existing.same_split(initial_fraction, batches)
        and _complete(landing_dir, existing)
    ):
        return existing

    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}batches-", dir=landing_dir))
    try:
        plan = _split(landing_dir, scratch, scale_factor, initial_fraction, batches)
        for path in scratch.glob("*/*.parquet"):
            fsync(path)
        for folder in scratch.iterdir():
            fsync(folder)
        write_plan(scratch, plan)
        _swap_in(scratch, target)
    except duckdb.Error as exc:
        reason = first_line(exc)
        raise PipelineError(
            f"cannot split {landing_dir / 'orders.parquet'} into arrival batches ({reason}): "
            "run `tpch-elt generate --force` with the same options to regenerate the landing files"
        ) from None
    except OSError as exc:
        raise PipelineError(
            f"cannot write the arrival batches in {landing_dir} ({exc.strerror or exc}): "
            "free disk space or fix the folder's permissions, then run `tpch-elt generate` again"
        ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return plan


def _swap_in(scratch: Path, target: Path) -> None:
    """Replace `target` by `scratch`: the old folder is renamed aside first (and back if
    the new one cannot be moved in), then deleted."""
    aside = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}old-batches-", dir=target.parent))
        os.rename(target, aside / target.name)
    try:
        os.rename(scratch, target)
    except OSError:
        if aside is not None:
            os.rename(aside / target.name, target)  # the old plan and batches back in place
            shutil.rmtree(aside, ignore_errors=True)
        raise
    fsync(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _split(
    landing_dir: Path, scratch: Path, scale_factor: float, initial_fraction: float, batches: int
) -> BatchPlan:
    """Write the batch files into `scratch`; the plan that describes them."""
    orders = landing_dir / "orders.parquet"
    lineitem = landing_dir / "lineitem.parquet"
    with duckdb.connect() as con:
        total = con.execute(f"select count(*) from read_parquet({quote_literal(orders)})").fetchall()[0][0]
        # + 1e-9: 100 x 0.29 is 28.999999999999996 in floating point; 29 orders were asked for.
        initial_orders = math.floor(total * initial_fraction + 1e-9)
        if initial_orders < 1 or total - initial_orders < batches:
            raise PipelineError(
                f"cannot split {total:,} orders into an initial {initial_fraction:g} and "
                f"{batches} batches: use a larger scale factor or fewer batches"
            )
        # Rank orders by key; the initial load takes ranks 1..initial_orders and
        # batch b the b-th equal share of the rest.
        con.execute(
            f"""
            create temp table ranked as
            select
                o_orderkey,
                row_number() over (order by o_orderkey) as key_rank
            from read_parquet({quote_literal(orders)})
            """
        )
        initial_max = con.execute(
            "select max(o_orderkey) from ranked where key_rank <= ?", [initial_orders]
        ).fetchall()[0][0]
        con.execute(
            f"""
            create temp table assignment as
            select
                o_orderkey,
                1 + floor((key_rank - {initial_orders} - 1) * {batches}
                    / ({total} - {initial_orders}))::integer as batch_id
            from ranked
            where key_rank > {initial_orders}
            """
        )
        ranges = con.execute(
            """
            select batch_id, min(o_orderkey), max(o_orderkey), count(*)
            from assignment group by batch_id order by batch_id
            """
        ).fetchall()
        plan = BatchPlan(
            scale_factor=scale_factor,
            initial_fraction=initial_fraction,
            initial_max_order_key=int(initial_max),
            initial_orders=initial_orders,
            batches=tuple(BatchRange(int(b), int(lo), int(hi), int(n)) for b, lo, hi, n in ranges),
        )
        for batch in plan.batches:
            out = scratch / f"batch_{batch.batch_id:04d}"
            out.mkdir()
            for table, key, source in (
                ("orders", "o_orderkey", orders),
                ("lineitem", "l_orderkey", lineitem),
            ):
                con.execute(
                    f"""
                    copy (
                        select * from {read_parquet_sql(source)}
                        where {key} between {batch.min_order_key} and {batch.max_order_key}
                        order by {key}
                    ) to {quote_literal(out / f"{table}.parquet")} (format parquet, compression zstd)
                    """
                )
    return plan
