"""Arrival batches and generate's own files, on tiny hand-made Parquet files: no generator run."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.extract import generate
from tpch_elt.extract.batches import batch_dir, plan_batches, read_plan
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
