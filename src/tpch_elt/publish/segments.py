"""The segment store behind the published snapshot: immutable Parquet segments, the catalog over them, one record per publication.

`warehouse.published/` holds each mart's segments and, in `.publications/`,
one JSON record per publication of what its catalog names; the catalog
(`warehouse.published.duckdb`) has one view per mart over its segments.
What to publish, and when, is tpch_elt.publish.publication's decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.publish.plan import MART_SCHEMA
from tpch_elt.warehouse.connection import connect
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.sql import quote_ident, quote_literal

PUBLICATION_TABLE = "publication"


SEGMENTS_TABLE = "segments"


BATCH_COLUMN = "_batch_id"


# Segments named by any of this many latest catalogs are kept: a reader
# that opened a catalog reads it through the next KEEP_PUBLICATIONS - 1
# publications (a day of 4-hourly builds), then must reconnect.
KEEP_PUBLICATIONS = 7


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
class Segment:
    mart: str
    path: str  # relative to the segments directory: a copied data directory keeps working
    max_batch_id: int | None
    rows: int


@dataclass(frozen=True)
class Record:
    """One publication and the segments its catalog names, kept in the segment store."""

    publication: Publication
    segments: list[Segment]
    catalog_inode: int | None


def failure_reason(exc: BaseException) -> str:
    """The first line of an error, with the file an OSError was about."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return first_line(exc)


def published_path(warehouse: Path) -> Path:
    """The catalog readers open, beside the warehouse file."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix or '.duckdb'}")


def segments_dir(warehouse: Path) -> Path:
    """The segment store, one per catalog (`x.duckdb` and `x.db` never share one)."""
    catalog = published_path(warehouse)
    if catalog.suffix == ".duckdb":
        return catalog.with_suffix("")  # warehouse.published/ (ends in .published)
    return catalog.with_name(catalog.name + ".segments")  # x.published.db.segments/


def live_record(target: Path, store: Path) -> Record | None:
    records = read_records(store)
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


def legacy_latest(target: Path) -> Publication:
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


def records_dir(store: Path) -> Path:
    return store / RECORDS_DIRNAME


def read_records(store: Path) -> list[Record]:
    """Every publication record in the store, oldest first."""
    folder = records_dir(store)
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
                    Segment(str(mart), str(relative), None if top is None else int(top), int(rows))
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
            records.append(Record(publication, segments, None if inode is None else int(inode)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PipelineError(
                f"publication record {path} is unreadable ({failure_reason(exc)}); delete it and run "
                "`tpch-elt build` again (the next publication rewrites the marts it named)"
            ) from exc
    return sorted(records, key=lambda record: record.publication.number)


def write_record(store: Path, record: Record) -> Path:
    """Write a publication's record atomically and durably; return its path."""
    folder = records_dir(store)
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


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    return [
        column
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? order by column_index",
            [MART_SCHEMA, name],
        ).fetchall()
    ]


def write_mart(
    con: duckdb.DuckDBPyConnection,
    store: Path,
    number: int,
    name: str,
    had: list[Segment],
    key: str | None,
    full_refresh: bool,
) -> tuple[list[Segment], int]:
    """Write the segment(s) that hold `name` after this build; return them and the bytes written."""
    relation = f"{MART_SCHEMA}.{quote_ident(name)}"
    folder = store / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:06d}.parquet"
    appendable = key is not None and had and not full_refresh and BATCH_COLUMN in _columns(con, name)
    if appendable and key is not None:
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
                return [*had, Segment(name, f"{name}/{path.name}", top, rows)], path.stat().st_size
    rows, top = _copy(con, f"select * from {relation}", path)
    return [Segment(name, f"{name}/{path.name}", top, rows)], path.stat().st_size


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


def write_catalog(
    path: Path, store: Path, segments: list[Segment], publication: Publication, *, warehouse: Path
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


def collect_garbage(store: Path, records: list[Record]) -> None:
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
        for old in records_dir(store).glob("*.json"):
            if old.stem.isdigit() and int(old.stem) < oldest_kept:
                old.unlink(missing_ok=True)
