"""Arrival batches and generate's own files, on tiny hand-made Parquet files: no generator run."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.extract import generate
from tpch_elt.extract.batches import BatchPlan, BatchRange, batch_dir, plan_batches, read_plan, validate_split
from tpch_elt.settings import Settings


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """100 orders with two lines each: enough to split."""
    landing = tmp_path / "landing" / "sf=0.01"
    landing.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            f"copy (select range::bigint + 1 as o_orderkey from range(100)) to '{landing / 'orders.parquet'}'"
        )
        con.execute(
            "copy (select o.range::bigint + 1 as l_orderkey, l.range::integer + 1 as l_linenumber "
            f"from range(100) o, range(2) l) to '{landing / 'lineitem.parquet'}'"
        )
    return landing


def _batch_files(landing: Path) -> dict[str, bytes]:
    folder = landing / "batches"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_replan_leaves_the_old_plan_and_its_batches_whole(
    landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new batches are swapped in whole or not at all: when moving them into
    place fails, readers still see the old plan and every one of its batch files."""
    old = plan_batches(landing, 0.01, 0.8, 2)
    before = _batch_files(landing)
    target = str(landing / "batches")

    def refuse(operation):
        def moved(src, dst, *args, **kwargs):
            if str(dst) == target and Path(src).name.startswith(".tmp-batches"):  # the new batches
                raise OSError(28, "No space left on device")
            return operation(src, dst, *args, **kwargs)

        return moved

    monkeypatch.setattr(os, "rename", refuse(os.rename))
    monkeypatch.setattr(os, "replace", refuse(os.replace))
    monkeypatch.setattr(Path, "replace", refuse(Path.replace))
    monkeypatch.setattr(Path, "rename", refuse(Path.rename))
    with pytest.raises(PipelineError, match="cannot write the arrival batches") as refused:
        plan_batches(landing, 0.01, 0.5, 4)
    assert "\n" not in str(refused.value)
    assert read_plan(landing) == old
    assert _batch_files(landing) == before
    assert not list(landing.glob(".tmp-*")), "a scratch folder was left behind"


def test_a_replan_replaces_the_plan_and_batches_together(landing: Path) -> None:
    plan_batches(landing, 0.01, 0.8, 2)
    new = plan_batches(landing, 0.01, 0.5, 4)
    assert read_plan(landing) == new and len(new.batches) == 4
    for batch in new.batches:
        assert (batch_dir(landing, batch.batch_id) / "orders.parquet").is_file()
    assert not batch_dir(landing, 5).exists()
    assert sorted(p.name for p in (landing / "batches").iterdir()) == [
        *(f"batch_{i:04d}" for i in range(1, 5)),
        "plan.json",
    ]
    assert not list(landing.glob(".tmp-*"))


def test_scratch_folders_are_unique_to_each_process(landing: Path) -> None:
    """A fixed scratch name let two generates write into one folder; each gets its own."""
    seen = []
    original = os.mkdir

    def mkdir(path, *args, **kwargs):
        if Path(path).name.startswith(".tmp-batches"):
            seen.append(Path(path).name)
        return original(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "mkdir", mkdir)
        plan_batches(landing, 0.01, 0.8, 2)
        plan_batches(landing, 0.01, 0.5, 2)
    assert len(seen) == 2 and seen[0] != seen[1], seen


def test_an_unreadable_generated_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """generate's row count of a corrupt file is an error naming the file and what to do, not a traceback."""
    settings = Settings(data_dir=tmp_path / "data")

    def corrupt(spec, scale_factor, out_dir):
        path = out_dir / f"{spec.name}.parquet"
        path.write_bytes(b"PAR1 this is not parquet")
        return path

    monkeypatch.setattr(generate, "_generate_table", corrupt)
    with pytest.raises(PipelineError) as refused:
        generate.generate(settings, 0.01)
    message = str(refused.value)
    region = settings.landing_dir(0.01) / "region.parquet"
    assert message.startswith(f"landing file {region} is unreadable (")
    assert "run `tpch-elt generate` again" in message
    assert "\n" not in message


# --- the split: which orders the initial load takes and which each batch brings ------------------


def _keys(path: Path, key: str) -> list[int]:
    with duckdb.connect() as con:
        return [k for (k,) in con.execute(f"select {key} from '{path}' order by all").fetchall()]


def test_the_initial_load_takes_the_lowest_keys_and_the_batches_the_rest_in_order(landing: Path) -> None:
    plan = plan_batches(landing, 0.01, 0.8, 3)
    assert plan == BatchPlan(
        scale_factor=0.01,
        initial_fraction=0.8,
        initial_max_order_key=80,
        initial_orders=80,
        batches=(BatchRange(1, 81, 87, 7), BatchRange(2, 88, 94, 7), BatchRange(3, 95, 100, 6)),
    )
    assert read_plan(landing) == plan


def test_each_batch_file_holds_exactly_its_range_and_every_order_arrives_once(landing: Path) -> None:
    plan = plan_batches(landing, 0.01, 0.8, 3)
    assert plan is not None
    delivered = list(range(1, plan.initial_max_order_key + 1))
    for batch in plan.batches:
        orders = _keys(batch_dir(landing, batch.batch_id) / "orders.parquet", "o_orderkey")
        assert orders == list(range(batch.min_order_key, batch.max_order_key + 1))
        assert len(orders) == batch.orders
        lines = _keys(batch_dir(landing, batch.batch_id) / "lineitem.parquet", "l_orderkey")
        assert lines == sorted(orders * 2)  # an order's lines arrive with it
        delivered += orders
    assert delivered == list(range(1, 101))


def test_sparse_order_keys_are_split_by_rank_not_by_key_value(tmp_path: Path) -> None:
    """TPC-H's order keys have gaps: the split counts orders, not key values."""
    landing = tmp_path / "landing"
    landing.mkdir()
    keys = "[1, 2, 3, 4, 5, 6, 7, 32, 33, 34, 35, 36, 37, 38, 39, 64]"
    with duckdb.connect() as con:
        con.execute(f"copy (select unnest({keys})::bigint as o_orderkey) to '{landing / 'orders.parquet'}'")
        con.execute(
            f"copy (select unnest({keys})::bigint as l_orderkey, 1 as l_linenumber) "
            f"to '{landing / 'lineitem.parquet'}'"
        )
    plan = plan_batches(landing, 0.01, 0.5, 2)
    assert plan is not None
    assert (plan.initial_orders, plan.initial_max_order_key) == (8, 32)
    assert plan.batches == (BatchRange(1, 33, 36, 4), BatchRange(2, 37, 64, 4))


@pytest.mark.parametrize("initial_fraction", [0.29, 0.57, 0.58])
def test_the_initial_load_takes_exactly_the_share_asked_for(landing: Path, initial_fraction: float) -> None:
    """100 x 0.29 is 28.999999999999996 in floating point: still 29 orders."""
    plan = plan_batches(landing, 0.01, initial_fraction, 2)
    assert plan is not None
    assert plan.initial_orders == round(100 * initial_fraction)


def test_the_same_split_is_reused_without_rewriting_its_files(landing: Path) -> None:
    first = plan_batches(landing, 0.01, 0.8, 2)
    written = {p: p.stat().st_ino for p in (landing / "batches").rglob("*")}
    assert plan_batches(landing, 0.01, 0.8, 2) == first
    assert {p: p.stat().st_ino for p in (landing / "batches").rglob("*")} == written


def test_the_same_split_with_a_batch_file_missing_is_written_again(landing: Path) -> None:
    plan_batches(landing, 0.01, 0.8, 2)
    missing = batch_dir(landing, 2) / "lineitem.parquet"
    missing.unlink()
    plan_batches(landing, 0.01, 0.8, 2)
    assert _keys(missing, "l_orderkey") == sorted(list(range(91, 101)) * 2)


def test_no_batches_removes_the_plan_and_its_batches(landing: Path) -> None:
    plan_batches(landing, 0.01, 0.8, 2)
    assert plan_batches(landing, 0.01, 1, 0) is None
    assert read_plan(landing) is None
    assert not (landing / "batches").exists()


@pytest.mark.parametrize(
    ("initial_fraction", "batches"),
    [(0.99, 2), (0.001, 1)],
    ids=["fewer orders left than batches", "no initial order"],
)
def test_a_split_the_orders_cannot_fill_is_refused_leaving_no_batches(
    landing: Path, initial_fraction: float, batches: int
) -> None:
    with pytest.raises(PipelineError) as refused:
        plan_batches(landing, 0.01, initial_fraction, batches)
    assert str(refused.value) == (
        f"cannot split 100 orders into an initial {initial_fraction:g} and {batches} batches: "
        "use a larger scale factor or fewer batches"
    )
    assert not (landing / "batches").exists()
    assert not list(landing.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("initial_fraction", "batches", "message"),
    [
        (0, 2, "--initial-fraction must be in (0, 1], got 0"),
        (1.5, 2, "--initial-fraction must be in (0, 1], got 1.5"),
        (float("nan"), 2, "--initial-fraction must be in (0, 1], got nan"),
        (0.9, -1, "--batches must be 0 or more, got -1"),
        (1, 1, "--batches needs --initial-fraction below 1 (e.g. 0.9) to leave orders to arrive"),
        (0.9, 0, "--initial-fraction below 1 needs --batches of 1 or more to hold the rest"),
    ],
)
def test_an_invalid_split_is_refused_in_one_line_before_anything_is_written(
    landing: Path, initial_fraction: float, batches: int, message: str
) -> None:
    with pytest.raises(PipelineError) as refused:
        validate_split(initial_fraction, batches)
    assert str(refused.value) == message
    with pytest.raises(PipelineError):
        plan_batches(landing, 0.01, initial_fraction, batches)
    assert sorted(p.name for p in landing.iterdir()) == ["lineitem.parquet", "orders.parquet"]


@pytest.mark.parametrize(("initial_fraction", "batches"), [(1, 0), (0.9, 1), (0.01, 10)])
def test_a_valid_split_passes_validation(initial_fraction: float, batches: int) -> None:
    validate_split(initial_fraction, batches)
