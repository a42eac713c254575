"""Write–audit–publish: readers only ever see marts that passed their tests.

dbt builds in place: a model that fails its own tests stays in the
warehouse. So consumers do not read the warehouse. They read the published
snapshot, a small DuckDB catalog beside it (`warehouse.published.duckdb`
for `warehouse.duckdb`) whose schema `mart` holds one view per mart over
immutable Parquet segments in `warehouse.published/`, and a `publication`
table that says which build it came from.

    write    `dbt build` changes staging, intermediate and mart in the
             warehouse, which only tpch-elt (under its writer lock) opens.
    audit    the same invocation runs every test; error-severity failures
             make the build fail.
    publish  only a build that passed publishes. New segments are written
             first (invisible: no catalog names them yet); then a new
             catalog is written beside the old one, synced, and renamed
             over it (`rename(2)` is atomic). A reader sees the old
             snapshot or the new one, never a mix, and a reader holding the
             old catalog keeps reading its segments (see below for how long).

What a publication writes follows the delta, like the build:
  - marts the build did not rebuild (the daily marts on a 4-hourly
    increment) keep their segments;
  - an incremental mart keyed on a unique key with a `_batch_id` column
    (`mart_orders`) gets one new segment with the rows of the batches the
    build added, unless those rows replace rows of older segments (then,
    and after a full refresh, it is rewritten as one segment);
  - any other rebuilt mart is rewritten as one segment.
Each publication also writes a record of what its catalog names (one
JSON file per publication in `warehouse.published/.publications/`, written
and synced before the catalog is renamed into place). Publication reads
these records, never the live catalog, so a reader holding that catalog
(even read-write, a notebook's default) cannot block a build.
A segment is deleted only when none of the last KEEP_PUBLICATIONS
publications names it (and it is older than them): a reader that opened a
catalog keeps reading it through the next KEEP_PUBLICATIONS - 1
publications (longer while its segments are carried over); after that it
may fail loudly (missing file), never read a mix. Reconnecting sees the
newest snapshot.

A build that fails publishes nothing: the previous snapshot stays, unchanged
and readable. The next build tests again every batch processed since the
last publication (`tpch_elt.transform.build.plan_build`), so a failed batch is never
published by a later, passing increment. A killed build is the same case.

Snowflake maps this onto zero-copy clones: build in a clone of the
production database, test there, then `alter database … swap with …`
(README, "Write–audit–publish").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.publish.plan import MART_SCHEMA
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect, table_exists
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.lock import warehouse_lock
from tpch_elt.warehouse.sql import quote_ident, quote_literal
from tpch_elt.warehouse.watermarks import processed

PUBLICATION_TABLE = "publication"
SEGMENTS_TABLE = "segments"
BATCH_COLUMN = "_batch_id"
# Segments named by any of this many latest catalogs are kept: a reader
# that opened a catalog reads it through the next KEEP_PUBLICATIONS - 1
# publications (a day of 4-hourly builds), then must reconnect.
KEEP_PUBLICATIONS = 7
# In the warehouse: one row per publication (the audit trail, and the
# watermark from which the next build must test again).
PUBLICATIONS = "observability.publications"
# In the segment store: one JSON record per publication, what its catalog
# names (a dot: no mart folder can have this name).
RECORDS_DIRNAME = ".publications"


@dataclass(frozen=True)
class Publication:
    path: Path
    number: int
    published_at: datetime
    invocation_id: str | None
    batch_id: int | None
    rebuilt: tuple[str, ...]
    carried_over: tuple[str, ...]
    bytes_written: int = 0


@dataclass(frozen=True)
class _Segment:
    mart: str
    path: str  # relative to the segments directory: a copied data directory keeps working
    max_batch_id: int | None
    rows: int


@dataclass(frozen=True)
class _Record:
    """One publication and the segments its catalog names, kept in the segment store."""

    publication: Publication
    segments: list[_Segment]
    catalog_inode: int | None


def published_path(warehouse: Path) -> Path:
    """The catalog readers open, beside the warehouse file."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix or '.duckdb'}")


def segments_dir(warehouse: Path) -> Path:
    """The segment store, one per catalog (`x.duckdb` and `x.db` never share one)."""
    catalog = published_path(warehouse)
    if catalog.suffix == ".duckdb":
        return catalog.with_suffix("")  # warehouse.published/ (ends in .published)
    return catalog.with_name(catalog.name + ".segments")  # x.published.db.segments/


def _reason(exc: BaseException) -> str:
    """The first line of an error, with the file an OSError was about."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return first_line(exc)


def ensure_publications_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists observability")
    con.execute(
        f"""
        create table if not exists {PUBLICATIONS} (
            published_at timestamp not null,
            number integer,
            invocation_id varchar,
            batch_id integer,
            path varchar not null,
            rebuilt varchar[] not null,
            carried_over varchar[] not null,
            bytes_written bigint
        )
        """
    )


def _has_numbers(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether observability.publications has its `number` column (older warehouses lack it)."""
    row = con.execute(
        "select count(*) from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'observability' and table_name = 'publications' and column_name = 'number'"
    ).fetchone()
    return bool(row and row[0])


def last_published_batch(con: duckdb.DuckDBPyConnection) -> tuple[bool, int | None]:
    """(anything published yet, newest batch the last publication covered)."""
    if not table_exists(con, "observability", "publications"):
        return False, None
    # By number: two publications can share a second, and clocks step back.
    order = "number desc nulls last, published_at desc" if _has_numbers(con) else "published_at desc"
    rows = con.execute(f"select batch_id from {PUBLICATIONS} order by {order} limit 1").fetchall()
    if not rows:
        return False, None
    return True, None if rows[0][0] is None else int(rows[0][0])


def latest(settings: Settings) -> Publication | None:
    """What readers see now (None: nothing yet), from the publication records.

    Never opens the live catalog (only one written before the records
    existed), so a reader holding it cannot make this fail or wait.
    """
    target = published_path(settings.warehouse_path)
    if not target.is_file():
        return None
    record = _live_record(target, segments_dir(settings.warehouse_path))
    return _legacy_latest(target) if record is None else record.publication


def published_rows(settings: Settings) -> dict[str, int] | None:
    """Rows per mart readers see, without opening the catalog (None: no record says)."""
    target = published_path(settings.warehouse_path)
    record = _live_record(target, segments_dir(settings.warehouse_path)) if target.is_file() else None
    if record is None:
        return None
    rows: dict[str, int] = {}
    for segment in record.segments:
        rows[segment.mart] = rows.get(segment.mart, 0) + segment.rows
    return rows


def _live_record(target: Path, store: Path) -> _Record | None:
    records = _read_records(store)
    if not records:
        return None
    try:
        inode: int | None = target.stat().st_ino
    except OSError:
        inode = None
    # The newest record is live unless its publisher died between writing
    # it and renaming the catalog: then the catalog is an older record's.
    live = [record for record in records if record.catalog_inode == inode]
    record = (live or records)[-1]
    # where the catalog is now (a data directory may have been moved or copied)
    return dataclasses.replace(record, publication=dataclasses.replace(record.publication, path=target))


def describe(settings: Settings) -> str:
    """One line on what readers see now, without opening the catalog or the warehouse."""
    current = latest(settings)
    if current is None:
        return "published for readers: nothing yet (no build has passed its tests)"
    batch = "" if current.batch_id is None else f", batch {current.batch_id}"
    number = f"publication {current.number}, " if current.number else ""
    return (
        f"published for readers: {number}{current.published_at:%Y-%m-%d %H:%M:%S} UTC{batch} ({current.path})"
    )


def _legacy_latest(target: Path) -> Publication:
    """A catalog written before publication records existed (or by hand)."""
    try:
        with connect(target, read_only=True) as con:
            row = con.execute(
                "select number, published_at, invocation_id, batch_id, rebuilt, carried_over, bytes_written "
                f"from main.{PUBLICATION_TABLE}"
            ).fetchall()[0]
        number, published_at, invocation_id, batch_id, rebuilt, carried, written = row
        return Publication(
            target, number, published_at, invocation_id, batch_id, tuple(rebuilt), tuple(carried), written
        )
    except (PipelineError, duckdb.Error, IndexError, ValueError, TypeError):
        # Held read-write by someone, or not a catalog this version knows:
        # say only what the file system can.
        stamp = datetime.fromtimestamp(target.stat().st_mtime, UTC).replace(tzinfo=None, microsecond=0)
        return Publication(target, 0, stamp, None, None, (), ())


def _records_dir(store: Path) -> Path:
    return store / RECORDS_DIRNAME


def _read_records(store: Path) -> list[_Record]:
    """Every publication record in the store, oldest first."""
    folder = _records_dir(store)
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            segments = []
            for mart, relative, top, rows in data["segments"]:
                parts = PurePosixPath(relative).parts
                if len(parts) != 2 or parts[0] != mart or parts[1] in ("..", ".") or mart in ("..", "."):
                    raise ValueError(f"segment path {relative!r} is not <mart>/<file>")
                segments.append(
                    _Segment(str(mart), str(relative), None if top is None else int(top), int(rows))
                )
            publication = Publication(
                Path(data["catalog"]),
                int(data["number"]),
                datetime.fromisoformat(data["published_at"]),
                data["invocation_id"],
                None if data["batch_id"] is None else int(data["batch_id"]),
                tuple(data["rebuilt"]),
                tuple(data["carried_over"]),
                int(data["bytes_written"]),
            )
            inode = data.get("catalog_inode")
            records.append(_Record(publication, segments, None if inode is None else int(inode)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PipelineError(
                f"publication record {path} is unreadable ({_reason(exc)}); delete it and run "
                "`tpch-elt build` again (the next publication rewrites the marts it named)"
            ) from exc
    return sorted(records, key=lambda record: record.publication.number)


def _write_record(store: Path, record: _Record) -> Path:
    """Write a publication's record atomically and durably; return its path."""
    folder = _records_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    publication = record.publication
    path = folder / f"{publication.number:06d}.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps(
            {
                "number": publication.number,
                "catalog": str(publication.path),
                "catalog_inode": record.catalog_inode,
                "published_at": publication.published_at.isoformat(),
                "invocation_id": publication.invocation_id,
                "batch_id": publication.batch_id,
                "rebuilt": list(publication.rebuilt),
                "carried_over": list(publication.carried_over),
                "bytes_written": publication.bytes_written,
                "segments": [[s.mart, s.path, s.max_batch_id, s.rows] for s in record.segments],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    fsync(partial)
    os.replace(partial, path)
    fsync(folder)
    fsync(store)
    return path


def _next_number(con: duckdb.DuckDBPyConnection, store: Path, records: list[_Record]) -> int:
    """One more than any publication the warehouse, the records or a segment file name knows.

    Segment files are named by their publication's number, so a number is
    never reused, even after the warehouse or the records were lost.
    """
    numbers = [record.publication.number for record in records]
    if table_exists(con, "observability", "publications") and _has_numbers(con):
        numbers.append(
            int(con.execute(f"select coalesce(max(number), 0) from {PUBLICATIONS}").fetchall()[0][0])
        )
    for path in store.glob("*/*.parquet"):
        if path.stem.isdigit():
            numbers.append(int(path.stem))
    return max(numbers, default=0) + 1


def publish(
    settings: Settings,
    *,
    rebuilt: Iterable[str] | None,
    invocation_id: str | None = None,
    audited_all_batches: bool = True,
    full_refresh: bool = False,
    keys: Mapping[str, str] | None = None,
) -> Publication:
    """Publish the warehouse's marts atomically (call only after a passing build).

    `rebuilt`: the marts this build (re)built and tested; the others are
    carried over from the previous snapshot. None: every mart was rebuilt.
    `audited_all_batches`: the build selected every model, so its tests
    covered every batch processed so far; a partial build (`--select`)
    keeps the previous publication's batch watermark, so the next full
    build audits those batches again. `keys`: incremental marts and their
    unique key (they may be published as a new segment). `full_refresh`:
    the build rebuilt incremental marts from scratch (rewrite them).
    """
    with warehouse_lock(settings.warehouse_path, "publish"):
        return _publish(
            settings,
            None if rebuilt is None else set(rebuilt),
            invocation_id,
            audited_all_batches,
            full_refresh,
            dict(keys or {}),
        )


def _publish(
    settings: Settings,
    rebuilt: set[str] | None,
    invocation_id: str | None,
    audited_all_batches: bool,
    full_refresh: bool,
    keys: dict[str, str],
) -> Publication:
    target = published_path(settings.warehouse_path)
    store = segments_dir(settings.warehouse_path)
    scratch = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    published_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    live: Publication | None = None  # set once readers see the new catalog
    try:
        # A publisher killed half-way leaves its scratch catalog (and segments
        # no catalog names, collected below); we hold the writer lock, so no
        # other publisher is running.
        for stale in target.parent.glob(f"{target.name}.tmp-*"):
            stale.unlink(missing_ok=True)
        records = _read_records(store)
        # What the previous publication's catalog names: from its record,
        # never from the live catalog (a reader may hold that open).
        previous = records[-1].segments if records else []
        with connect(settings.warehouse_path) as con:
            number = _next_number(con, store, records)
            marts = [
                name
                for (name,) in con.execute(
                    "select table_name from duckdb_tables() where database_name = current_database() "
                    "and schema_name = ? order by 1",
                    [MART_SCHEMA],
                ).fetchall()
            ]
            if not marts:
                raise PipelineError(
                    f"warehouse {settings.warehouse_path} has no marts to publish: run `tpch-elt build` first"
                )
            built = processed(con) if audited_all_batches else None
            if built is not None:
                batch_id = built.max_batch
            else:
                batch_id = last_published_batch(con)[1]
            segments: list[_Segment] = []
            fresh, carried = [], []
            written_bytes = 0
            store.mkdir(parents=True, exist_ok=True)
            for name in marts:
                had = [s for s in previous if s.mart == name and (store / s.path).is_file()]
                if rebuilt is not None and name not in rebuilt and had:
                    carried.append(name)
                    segments += had
                    continue
                fresh.append(name)
                new, size = _write_mart(con, store, number, name, had, keys.get(name), full_refresh)
                segments += new
                written_bytes += size
            # The new segments' names are durable before any catalog names them.
            fsync(store)
            fsync(store.parent)
            publication = Publication(
                target,
                number,
                published_at,
                invocation_id,
                batch_id,
                tuple(fresh),
                tuple(carried),
                written_bytes,
            )
            _write_catalog(scratch, store, segments, publication, warehouse=settings.warehouse_path)
            fsync(scratch)
            record = _Record(publication, segments, scratch.stat().st_ino)
            record_file = _write_record(store, record)
            try:
                os.replace(scratch, target)
            except OSError:
                with contextlib.suppress(OSError):
                    record_file.unlink(missing_ok=True)  # this catalog never went live
                raise
            live = publication
            fsync(target.parent)
            ensure_publications_table(con)
            con.execute(
                f"insert into {PUBLICATIONS} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [published_at, number, invocation_id, batch_id, str(target), fresh, carried, written_bytes],
            )
    except (duckdb.Error, OSError) as exc:
        if live is None:
            raise PipelineError(
                f"publishing to {target} failed ({_reason(exc)}); readers still see the previous snapshot: "
                "fix the cause (disk space, permissions) and run `tpch-elt build` again"
            ) from exc
        raise PipelineError(
            f"publication {live.number} is live at {target}, but a later step failed ({_reason(exc)}), "
            f"so {PUBLICATIONS} in {settings.warehouse_path} may not record it: fix the cause and run "
            "`tpch-elt build` again (it audits those batches again)"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)
    _collect_garbage(store, [*records, record])
    return publication


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    return [
        column
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? order by column_index",
            [MART_SCHEMA, name],
        ).fetchall()
    ]


def _write_mart(
    con: duckdb.DuckDBPyConnection,
    store: Path,
    number: int,
    name: str,
    had: list[_Segment],
    key: str | None,
    full_refresh: bool,
) -> tuple[list[_Segment], int]:
    """Write the segment(s) that hold `name` after this build; return them and the bytes written."""
    relation = f"{MART_SCHEMA}.{quote_ident(name)}"
    folder = store / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:06d}.parquet"
    appendable = key is not None and had and not full_refresh and BATCH_COLUMN in _columns(con, name)
    if appendable:
        watermark = max((s.max_batch_id for s in had if s.max_batch_id is not None), default=None)
        if watermark is not None:
            new_rows = f"select * from {relation} where {BATCH_COLUMN} > {int(watermark)}"
            files = "[" + ", ".join(quote_literal(store / s.path) for s in had) + "]"
            # Do the new rows replace published ones (a late line for an
            # order published earlier)? Then rewrite; otherwise append.
            replaced = con.execute(
                f"select count(*) from ({new_rows}) as n "
                f"where n.{quote_ident(key)} in (select {quote_ident(key)} from read_parquet({files}))"
            ).fetchall()[0][0]
            published_rows = sum(s.rows for s in had)
            still = con.execute(
                f"select count(*) from {relation} where {BATCH_COLUMN} <= {int(watermark)}"
            ).fetchall()[0][0]
            if not replaced and still == published_rows:
                rows, top = _copy(con, new_rows, path)
                if rows == 0:
                    path.unlink(missing_ok=True)
                    return had, 0
                return [*had, _Segment(name, f"{name}/{path.name}", top, rows)], path.stat().st_size
    rows, top = _copy(con, f"select * from {relation}", path)
    return [_Segment(name, f"{name}/{path.name}", top, rows)], path.stat().st_size


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> tuple[int, int | None]:
    partial = path.with_name(path.name + ".partial")
    con.execute(f"copy ({query}) to {quote_literal(partial)} (format parquet, compression zstd)")
    fsync(partial)
    os.replace(partial, path)
    fsync(path.parent)  # the rename is durable before a catalog names the segment
    top = f"max({BATCH_COLUMN})" if _has_batch_column(con, path) else "null"
    count = f"select count(*), {top} from read_parquet({quote_literal(path)})"
    rows, batch = con.execute(count).fetchall()[0]
    return int(rows), None if batch is None else int(batch)


def _has_batch_column(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    return bool(
        con.execute(
            f"select count(*) from parquet_schema({quote_literal(path)}) where name = ?", [BATCH_COLUMN]
        ).fetchall()[0][0]
    )


def _write_catalog(
    path: Path, store: Path, segments: list[_Segment], publication: Publication, *, warehouse: Path
) -> None:
    with duckdb.connect(str(path)) as cat:
        cat.execute(f"create schema {MART_SCHEMA}")
        by_mart: dict[str, list[str]] = {}
        for segment in segments:
            by_mart.setdefault(segment.mart, []).append(str(store / segment.path))
        for mart, files in sorted(by_mart.items()):
            listed = "[" + ", ".join(quote_literal(f) for f in files) + "]"
            cat.execute(
                f"create view {MART_SCHEMA}.{quote_ident(mart)} as "
                f"select * from read_parquet({listed}, union_by_name = true)"
            )
        cat.execute(
            f"create table main.{SEGMENTS_TABLE} (mart varchar, path varchar, max_batch_id integer, rows bigint)"
        )
        cat.executemany(
            f"insert into main.{SEGMENTS_TABLE} values (?, ?, ?, ?)",
            [(s.mart, s.path, s.max_batch_id, s.rows) for s in segments],
        )
        cat.execute(
            f"create table main.{PUBLICATION_TABLE} as select "
            "?::integer as number, ?::timestamp as published_at, ?::varchar as invocation_id, "
            "?::integer as batch_id, ?::varchar[] as rebuilt, ?::varchar[] as carried_over, "
            "?::bigint as bytes_written, ?::varchar as warehouse",
            [
                publication.number,
                publication.published_at,
                publication.invocation_id,
                publication.batch_id,
                list(publication.rebuilt),
                list(publication.carried_over),
                publication.bytes_written,
                str(warehouse),
            ],
        )


def _collect_garbage(store: Path, records: list[_Record]) -> None:
    """Delete segments none of the last KEEP_PUBLICATIONS publications names (best effort).

    By what the catalogs name, not by which publication wrote a segment: a
    daily mart written long ago and carried over to the catalog a reader
    holds stays. A segment no record names (a publisher died before its
    catalog was renamed, or a catalog from before the records) is kept
    until it is older than the kept publications.
    """
    newest = max(record.publication.number for record in records)
    oldest_kept = newest - KEEP_PUBLICATIONS + 1
    named = {s.path for r in records if r.publication.number >= oldest_kept for s in r.segments}
    with contextlib.suppress(OSError):  # what fails to go now goes next time
        for path in store.glob("*/*.parquet"):
            written_by = int(path.stem) if path.stem.isdigit() else None
            if written_by is None or path.parent.name == RECORDS_DIRNAME:
                continue
            if f"{path.parent.name}/{path.name}" not in named and written_by < oldest_kept:
                path.unlink(missing_ok=True)
        for partial in store.glob("*/*.partial"):
            partial.unlink(missing_ok=True)
        for old in _records_dir(store).glob("*.json"):
            if old.stem.isdigit() and int(old.stem) < oldest_kept:
                old.unlink(missing_ok=True)
