"""Write–audit–publish driven directly against a tiny warehouse (tpch_elt.publish.publication)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.publish import publication as publishing
from tpch_elt.publish import segments
from tpch_elt.publish.publication import last_published_batch, latest, publish
from tpch_elt.publish.segments import KEEP_PUBLICATIONS, published_path, segments_dir
from tpch_elt.settings import Settings


def _warehouse(tmp_path: Path, name: str = "warehouse.duckdb") -> Settings:
    """Two marts: `daily` (rebuilt by the daily sweep) and `hourly` (every increment)."""
    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / name)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema mart")
        con.execute("create table mart.daily as select range as k, range * 2 as v from range(10)")
        con.execute("create table mart.hourly as select range as k from range(5)")
    return settings


def _change(settings: Settings, sql: str) -> None:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(sql)


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        mart: con.execute(f"select * from mart.{mart} order by all").fetchall()
        for mart in ("daily", "hourly")
    }


def test_an_open_reader_keeps_its_snapshot_while_a_carried_over_mart_is_rewritten(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    publish(settings, rebuilt=None)  # 1: both marts written
    catalog = published_path(settings.warehouse_path)
    # What a reader that opened catalog 1 holds: its inode (a connection in
    # this process would also hide the catalog's later versions from it).
    held = tmp_path / "reader-holds-catalog-1.duckdb"
    os.link(catalog, held)
    with duckdb.connect(str(held), read_only=True) as reader:
        seen = _rows(reader)
    for step in range(2, 6):
        if step == 4:  # the daily sweep rewrites `daily`, carried over since publication 1
            _change(settings, "update mart.daily set v = v + 1")
            publish(settings, rebuilt=None)
        else:  # an increment: `daily` is carried over
            _change(settings, f"insert into mart.hourly values ({100 + step})")
            publish(settings, rebuilt={"hourly"})
    assert latest(settings).number == 5
    # every mart still reads the same rows through the reader's catalog
    with duckdb.connect(str(held), read_only=True) as reader:
        assert _rows(reader) == seen
    assert KEEP_PUBLICATIONS - 1 >= 4  # the promise: four publications (and more) later
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert _rows(con)["daily"] == [(k, k * 2 + 1) for k in range(10)]
    # Segments stay only while one of the last KEEP_PUBLICATIONS catalogs names them.
    first_daily = segments_dir(settings.warehouse_path) / "daily" / "000001.parquet"
    assert first_daily.is_file()
    for _ in range(KEEP_PUBLICATIONS):
        publish(settings, rebuilt={"hourly"})
    assert not first_daily.exists()


def test_a_read_write_connection_on_the_catalog_does_not_block_publication(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    publish(settings, rebuilt=None)
    catalog = published_path(settings.warehouse_path)
    notebook = duckdb.connect(str(catalog))  # read-write: DuckDB's default
    try:
        _change(settings, "insert into mart.hourly values (99)")
        publication = publish(settings, rebuilt={"hourly"})
        assert publication.number == 2
        assert latest(settings) == publication
        assert publishing.published_rows(settings) == {"daily": 10, "hourly": 6}
        assert notebook.execute("select count(*) from mart.hourly").fetchall() == [(5,)]
    finally:
        notebook.close()
    with duckdb.connect(str(catalog), read_only=True) as con:  # reconnecting sees the new snapshot
        assert con.execute("select count(*) from mart.hourly").fetchall() == [(6,)]
        assert con.execute("select number from main.publication").fetchall() == [(2,)]


def test_an_unreadable_live_catalog_does_not_stop_the_next_publication(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    publish(settings, rebuilt=None)
    catalog = published_path(settings.warehouse_path)
    catalog.write_bytes(b"not a duckdb file")
    assert publish(settings, rebuilt={"hourly"}).number == 2
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert con.execute("select count(*) from mart.daily").fetchall() == [(10,)]


def test_an_unreadable_publication_record_is_one_line_naming_it(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    publish(settings, rebuilt=None)
    record = segments_dir(settings.warehouse_path) / ".publications" / "000001.json"
    record.write_text("{")
    for attempt in (lambda: latest(settings), lambda: publish(settings, rebuilt=None)):
        with pytest.raises(PipelineError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message
        assert str(record) in message and "delete it" in message


def test_warehouses_that_differ_only_in_suffix_keep_separate_snapshots(tmp_path: Path) -> None:
    duck = _warehouse(tmp_path, "x.duckdb")
    db = _warehouse(tmp_path, "x.db")
    _change(db, "delete from mart.daily where k >= 3")
    assert segments_dir(duck.warehouse_path) != segments_dir(db.warehouse_path)
    assert published_path(duck.warehouse_path) != published_path(db.warehouse_path)
    # the default layout stays: warehouse.published.duckdb over warehouse.published/
    assert segments_dir(tmp_path / "warehouse.duckdb") == tmp_path / "warehouse.published"
    for _ in range(KEEP_PUBLICATIONS + 1):  # enough for either to collect the other's segments
        publish(duck, rebuilt=None)
        publish(db, rebuilt=None)
    for settings, rows in ((duck, 10), (db, 3)):
        with duckdb.connect(str(published_path(settings.warehouse_path)), read_only=True) as con:
            assert con.execute("select count(*) from mart.daily").fetchall() == [(rows,)]


def test_the_last_publication_is_the_highest_number_not_the_latest_timestamp(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        publishing.ensure_publications_table(con)
        # the clock stepped back between publication 1 and 2
        con.execute(
            f"insert into {publishing.PUBLICATIONS} values "
            "('2026-01-01 10:00:05', 1, 'a', 0, 'p', [], [], 0), "
            "('2026-01-01 10:00:00', 2, 'b', 1, 'p', [], [], 0)"
        )
        assert last_published_batch(con) == (True, 1)


def test_segment_folders_are_synced_before_the_catalog_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _warehouse(tmp_path)
    catalog = published_path(settings.warehouse_path)
    store = segments_dir(settings.warehouse_path)
    events: list[tuple[str, Path]] = []
    real_fsync, real_replace = publishing.fsync, os.replace
    for module in (publishing, segments):  # the publication syncs the store, segments their folders
        monkeypatch.setattr(
            module, "fsync", lambda path: (events.append(("fsync", Path(path))), real_fsync(path))
        )
    monkeypatch.setattr(
        segments.os,
        "replace",
        lambda src, dst: (events.append(("replace", Path(dst))), real_replace(src, dst)),
    )
    publish(settings, rebuilt=None)
    renamed = events.index(("replace", catalog))
    synced = {path for kind, path in events[:renamed] if kind == "fsync"}
    assert {store / "daily", store / "hourly", store} <= synced


def test_a_failed_rename_is_one_line_and_readers_keep_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _warehouse(tmp_path)
    first = publish(settings, rebuilt=None)
    catalog = published_path(settings.warehouse_path)
    real_replace = os.replace

    def no_space(src: object, dst: object) -> None:
        if Path(dst) == catalog:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(segments.os, "replace", no_space)
    _change(settings, "insert into mart.hourly values (99)")
    with pytest.raises(PipelineError) as caught:
        publish(settings, rebuilt={"hourly"})
    message = str(caught.value)
    assert "\n" not in message
    assert "No space left on device" in message and str(catalog) in message
    assert "readers still see the previous snapshot" in message
    assert latest(settings) == first
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert con.execute("select count(*) from mart.hourly").fetchall() == [(5,)]

    # A publisher killed between its record and the rename: readers still
    # see (and `latest` still says) the previous catalog; the next one works.
    def killed(src: object, dst: object) -> None:
        if Path(dst) == catalog:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(segments.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        publish(settings, rebuilt={"hourly"})
    assert latest(settings) == first
    monkeypatch.setattr(segments.os, "replace", real_replace)
    after = publish(settings, rebuilt={"hourly"})
    assert latest(settings) == after and after.number > first.number
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert con.execute("select count(*) from mart.hourly").fetchall() == [(6,)]
    record = json.loads(
        (segments_dir(settings.warehouse_path) / ".publications" / f"{after.number:06d}.json").read_text()
    )
    assert record["number"] == after.number
