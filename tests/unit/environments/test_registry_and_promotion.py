"""Environments on a tiny warehouse: create, promote, rollback, gc and their refusals (no dbt).

An environment's dbt build is tests/integration/test_environments.py's;
here a build is stood in for by what it leaves behind (a new segment for
one mart, the environment's record), through the same functions.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from testkit.environments import catalog_rows, parquet_files, stand_in_build, tiny_prod

from tpch_elt.environments import promotion, registry
from tpch_elt.errors import PipelineError
from tpch_elt.publish import segments
from tpch_elt.publish.publication import publish, swapped_since_built
from tpch_elt.publish.segments import (
    KEEP_PUBLICATIONS,
    history,
    live_record,
    published_path,
    read_records,
)
from tpch_elt.settings import Settings


def test_create_writes_no_parquet_and_reads_astiny_prod(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path)
    before = parquet_files(settings)
    created = registry.create(settings, "dev")
    assert created.parquet_bytes_written == 0 and parquet_files(settings) == before
    catalog = published_path(settings.warehouse_path)
    assert catalog_rows(created.env.catalog) == catalog_rows(catalog)
    assert catalog_rows(created.env.catalog, "customers") == catalog_rows(catalog, "customers")
    copy = registry.create(settings, "review", source="dev")
    assert copy.env.segments == created.env.segments and copy.env.source == "dev"
    assert [env.name for env in registry.environments(settings)] == ["dev", "review"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("Dev", "not valid"), ("prod", "is not an environment"), ("a-b", "not valid"), ("../x", "not valid")],
)
def test_bad_names_are_refused_in_one_line(tmp_path: Path, name: str, message: str) -> None:
    settings = tiny_prod(tmp_path)
    with pytest.raises(PipelineError, match=message):
        registry.load(settings, name) if name == "prod" else registry.create(settings, name)


def test_creating_an_existing_environment_or_from_an_empty_prod_is_refused(tmp_path: Path) -> None:
    empty = Settings(data_dir=tmp_path / "empty")
    with pytest.raises(PipelineError, match="prod has no published snapshot"):
        registry.create(empty, "dev")
    settings = tiny_prod(tmp_path / "prod")
    registry.create(settings, "dev")
    with pytest.raises(PipelineError, match="exists"):
        registry.create(settings, "dev")


def test_promote_swaps_prods_catalog_writes_no_parquet_and_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_prod(tmp_path)
    registry.create(settings, "dev")
    env = stand_in_build(settings, "dev", "select range as k, range * 3 as v from range(12)")
    before = parquet_files(settings)
    monkeypatch.setenv(registry.USER_VAR, "release-bot")
    swapped = promotion.promote(settings, "dev")
    assert swapped.parquet_bytes_written == 0 and parquet_files(settings) == before
    catalog = published_path(settings.warehouse_path)
    assert catalog_rows(catalog) == catalog_rows(env.catalog) == [(k, k * 3) for k in range(12)]
    assert catalog_rows(catalog, "customers") == [(k,) for k in range(5)]
    live = live_record(catalog, registry.store(settings))
    assert live is not None and live.event is not None
    assert live.event["kind"] == "promote" and live.event["environment"] == "dev"
    assert live.event["build"] == env.build.number and str(live.event["by"]).startswith("release-bot@")
    assert [(e["kind"], e["environment"], e["number"]) for e in history(registry.store(settings))] == [
        ("promote", "dev", live.publication.number)
    ]
    # prod's warehouse does not hold what prod's catalog names: the next build is a full refresh
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert "promoted from environment dev" in (swapped_since_built(settings, con) or "")
    publish(settings, rebuilt=None)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert swapped_since_built(settings, con) is None


def test_promotion_refusals_say_what_to_do(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path)
    with pytest.raises(PipelineError, match="no environment 'dev'"):
        promotion.promote(settings, "dev")
    registry.create(settings, "dev")
    with pytest.raises(PipelineError, match="has no build to promote"):
        promotion.promote(settings, "dev")
    stand_in_build(settings, "dev", "select 1 as k, 1 as v", passed=False)
    with pytest.raises(PipelineError, match=r"failed its audit.*unique_orders_k"):
        promotion.promote(settings, "dev")
    stand_in_build(settings, "dev", "select 1 as k, 1 as v", restricted=("--select mart_x",))
    with pytest.raises(PipelineError, match=r"built with --select mart_x.*without them to promote it"):
        promotion.promote(settings, "dev", force=True)
    stand_in_build(settings, "dev", "select 1 as k, 1 as v")
    publish(settings, rebuilt=None)  # prod moves on
    with pytest.raises(PipelineError, match=r"prod moved since environment 'dev' was built.*--force"):
        promotion.promote(settings, "dev")
    promotion.promote(settings, "dev", force=True)
    assert catalog_rows(published_path(settings.warehouse_path)) == [(1, 1)]
    with pytest.raises(PipelineError, match="rollback applies to prod"):
        promotion.rollback(settings, "dev")


def test_rollback_returns_to_the_previous_catalog_and_does_not_toggle(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path)
    catalog = published_path(settings.warehouse_path)
    original = catalog_rows(catalog)
    registry.create(settings, "dev")
    stand_in_build(settings, "dev", "select 42 as k, 0 as v")
    promotion.promote(settings, "dev")
    before = parquet_files(settings)
    rolled = promotion.rollback(settings)
    assert catalog_rows(catalog) == original and parquet_files(settings) == before
    assert rolled.record.event is not None and rolled.record.event["restores"] == 1
    # the catalog before publication 1's content: none is kept
    with pytest.raises(PipelineError, match="no earlier catalog"):
        promotion.rollback(settings)
    assert [e["kind"] for e in history(registry.store(settings))] == ["promote", "rollback"]


def test_a_swap_that_died_before_its_rename_is_never_built_on_or_rolled_back_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_prod(tmp_path)
    store = registry.store(settings)
    registry.create(settings, "dev")
    stand_in_build(settings, "dev", "select 7 as k, 7 as v")
    catalog = published_path(settings.warehouse_path)

    # a promotion killed after writing its record, before its rename
    real_replace = segments.os.replace

    def killed(src: Path, dst: Path) -> None:
        if Path(dst) == catalog:  # stands in for SIGKILL at that instant (the integration test sends one)
            raise KeyboardInterrupt
        real_replace(src, dst)

    with monkeypatch.context() as patched:
        patched.setattr(segments.os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            promotion.promote(settings, "dev")
    assert len(read_records(store)) == 2  # the dead promotion's record is there
    live = live_record(catalog, store)
    assert live is not None and live.event is None and live.publication.number == 1
    publish(settings, rebuilt={"customers"})  # carries `orders` from publication 1, not from the dead record
    assert catalog_rows(catalog) == [(k, k * 2) for k in range(10)]
    promotion.rollback(settings)
    assert catalog_rows(catalog) == [(k, k * 2) for k in range(10)]


def test_gc_keeps_what_environments_and_prods_last_catalogs_name(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path)
    store = registry.store(settings)
    registry.create(settings, "dev")
    env = stand_in_build(settings, "dev", "select 5 as k, 5 as v")
    assert env.build is not None
    env_segment = store / "orders" / f"{env.build.number:06d}.parquet"
    first = store / "orders" / "000001.parquet"
    for _ in range(KEEP_PUBLICATIONS + 1):
        publish(settings, rebuilt=None)  # every mart rewritten each time
    # dev's catalog names its own `orders` and prod's first `customers`: both
    # stay, whatever prod collected; prod's first `orders` goes (nothing names it)
    carried = store / "customers" / "000001.parquet"
    assert env_segment.is_file() and carried.is_file()
    assert not first.exists()
    assert catalog_rows(env.catalog) == [(5, 5)] and catalog_rows(env.catalog, "customers") == [
        (k,) for k in range(5)
    ]
    collected = registry.gc(settings, timedelta(days=1))
    assert collected.dropped == () and env_segment.is_file()
    collected = registry.gc(settings, timedelta(0))
    assert collected.dropped == ("dev",) and collected.files == 2
    assert not env_segment.exists() and not carried.exists()
    live = live_record(published_path(settings.warehouse_path), store)
    assert live is not None and all((store / s.path).is_file() for s in live.segments)


def test_an_unreadable_pin_stops_collection_rather_than_deleting_an_environments_segments(
    tmp_path: Path,
) -> None:
    settings = tiny_prod(tmp_path)
    store = registry.store(settings)
    registry.create(settings, "dev")
    stand_in_build(settings, "dev", "select 5 as k, 5 as v")
    (store / ".pins" / "other.json").write_text("{not json")
    files = set(parquet_files(settings))
    for _ in range(KEEP_PUBLICATIONS + 1):
        publish(settings, rebuilt=None)
    assert files <= set(parquet_files(settings))


def test_an_unreadable_environment_file_is_one_line_naming_it(tmp_path: Path) -> None:
    settings = tiny_prod(tmp_path)
    created = registry.create(settings, "dev")
    (created.env.directory / "environment.json").write_text(json.dumps({"name": "dev"}))
    with pytest.raises(PipelineError, match=r"environment file .*environment.json is unreadable"):
        registry.load(settings, "dev")
