"""The segment store behind the published snapshot: immutable Parquet segments, the catalog over them, one record per publication.

`warehouse.published/` holds each mart's segments and, in `.publications/`,
one JSON record per publication of what its catalog names; the catalog
(`warehouse.published.duckdb`) has one view per mart over its segments.
What to publish, and when, is tpch_elt.publish.publication's decision.

Environments (tpch_elt.environments) share the store: their catalogs name
its segments too. Each pins what its catalog names (`.pins/<name>.json`),
so garbage collection never deletes a segment a live environment reads,
and each publication keeps the dbt manifest of the code that built it
(`.manifests/<number>.json`): what an environment's build compares with.
`swap_catalog` is the one way a catalog goes live, for a build's
publication and for a promotion or rollback alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

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
# Segments an environment's catalog names, one JSON list per environment.
PINS_DIRNAME = ".pins"
# The dbt manifest of the code each publication was built with.
MANIFESTS_DIRNAME = ".manifests"
# Every promotion and rollback, one JSON object per line; never collected.
HISTORY_FILENAME = ".history.jsonl"


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
    # Set when a promotion or rollback (not a build) made this catalog:
    # kind, environment, by, build, restores (tpch_elt.environments.promotion).
    event: Mapping[str, Any] | None = None


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
    number = _live_number(target, records)
    # The newest record is live unless its publisher died between writing
    # it and renaming the catalog: then the catalog is an older record's.
    record = next((r for r in records if r.publication.number == number), records[-1])
    # where the catalog is now (a data directory may have been moved or copied)
    return dataclasses.replace(record, publication=dataclasses.replace(record.publication, path=target))


def _live_number(target: Path, records: list[Record]) -> int | None:
    """Which record the catalog at `target` is: by its inode, else (a copied file) by its own number."""
    try:
        inode = target.stat().st_ino
    except OSError:
        return None
    matched = [r.publication.number for r in records if r.catalog_inode == inode]
    if matched:
        return matched[-1]
    # A copied or restored data directory: the inode changed. The catalog
    # says its number; a reader holding it read-write may block that.
    with contextlib.suppress(PipelineError, duckdb.Error, IndexError, TypeError, ValueError, OSError):
        with connect(target, read_only=True) as con:
            return int(con.execute(f"select number from main.{PUBLICATION_TABLE}").fetchall()[0][0])
    return None


def settled_records(target: Path, store: Path) -> list[Record]:
    """The store's records without those of swaps that died before their rename (call under the writer lock).

    A swap writes its record, then renames its catalog into place. Killed
    in between, its record names a catalog that never went live: it is
    newer than the live catalog's record (matched by inode), and the next
    swap, holding the lock, must neither build on it nor roll back to it.
    """
    records = read_records(store)
    live = _live_number(target, records)
    if live is None:
        return records
    settled = []
    for record in records:
        if record.publication.number > live:
            with contextlib.suppress(OSError):
                (records_dir(store) / f"{record.publication.number:06d}.json").unlink(missing_ok=True)
                manifest_of(store, record.publication.number).unlink(missing_ok=True)
        else:
            settled.append(record)
    return settled


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
            event = data.get("event")
            if event is not None and not isinstance(event, dict):
                raise ValueError("event is not an object")
            records.append(Record(publication, segments, None if inode is None else int(inode), event))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PipelineError(
                f"publication record {path} is unreadable ({failure_reason(exc)}); delete it and run "
                "`tpch-elt build` again (the next publication rewrites the marts it named)"
            ) from exc
    return sorted(records, key=lambda record: record.publication.number)


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as JSON to `path` atomically and durably (a reader sees the old file or the new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return _replace_durably(partial, path)


def _replace_durably(partial: Path, path: Path) -> Path:
    """Sync `partial`, rename it over `path`, sync the folder: `path` is the old file or the new."""
    fsync(partial)
    os.replace(partial, path)
    fsync(path.parent)
    return path


def write_record(store: Path, record: Record) -> Path:
    """Write a publication's record atomically and durably; return its path."""
    publication = record.publication
    path = write_json(
        records_dir(store) / f"{publication.number:06d}.json",
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
            "event": None if record.event is None else dict(record.event),
        },
    )
    fsync(store)
    return path


def next_number(store: Path, records: Iterable[Record], *, floor: int = 0) -> int:
    """One more than any publication the records, a segment or a manifest file name knows (or `floor`).

    Segment files are named by the number of the publication (or
    environment build) that wrote them, so a number is never reused, even
    after the records were lost.
    """
    numbers = [floor, *(record.publication.number for record in records)]
    for path in [*store.glob("*/*.parquet"), *manifests_dir(store).glob("*.json")]:
        if path.stem.isdigit():
            numbers.append(int(path.stem))
    return max(numbers) + 1


def swap_catalog(
    target: Path,
    store: Path,
    segments: list[Segment],
    publication: Publication,
    *,
    warehouse: Path,
    event: Mapping[str, Any] | None = None,
    manifest: Path | None = None,
) -> Record:
    """Make a catalog naming `segments` live at `target` in one rename; return its record.

    The caller holds the warehouse's writer lock. The catalog is written
    beside the target and synced; the manifest (if any) and the record are
    written and synced; then one `rename(2)` replaces the live catalog, so a
    reader opens the old catalog or the new one, never a mix. Killed at any
    point before the rename, the old catalog stays live (its record says
    so: `live_record` matches records to the catalog's inode).
    """
    with scratch_catalog(target, store, segments, publication, warehouse=warehouse) as scratch:
        if manifest is not None and manifest.is_file():
            save_manifest(store, publication.number, manifest)
        record = Record(publication, segments, scratch.stat().st_ino, event)
        record_file = write_record(store, record)
        try:
            os.replace(scratch, target)
        except OSError:
            with contextlib.suppress(OSError):
                record_file.unlink(missing_ok=True)  # this catalog never went live
            raise
        fsync(target.parent)
    return record


@contextmanager
def scratch_catalog(
    target: Path, store: Path, segments: list[Segment], publication: Publication, *, warehouse: Path
) -> Iterator[Path]:
    """A catalog naming `segments`, written and synced beside `target`, for the caller to rename over it.

    Removed on the way out if it was not renamed. A writer killed half-way
    leaves its scratch catalog; the caller holds the lock that serialises
    writers of `target`, so any other scratch file is stale and goes first.
    """
    scratch = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    for stale in target.parent.glob(f"{target.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    try:
        write_catalog(scratch, store, segments, publication, warehouse=warehouse)
        fsync(scratch)
        yield scratch
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)


def manifests_dir(store: Path) -> Path:
    return store / MANIFESTS_DIRNAME


def manifest_of(store: Path, number: int) -> Path:
    """Where publication `number` keeps the dbt manifest it was built with (the file may not exist)."""
    return manifests_dir(store) / f"{number:06d}.json"


def save_manifest(store: Path, number: int, manifest: Path) -> Path:
    """Keep a copy of `manifest` as publication `number`'s, durably."""
    path = manifest_of(store, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    shutil.copyfile(manifest, partial)
    return _replace_durably(partial, path)


def pins_dir(store: Path) -> Path:
    return store / PINS_DIRNAME


def write_pin(store: Path, name: str, segments: Iterable[Segment]) -> None:
    """Pin the segments environment `name`'s catalog names (before that catalog names them)."""
    write_json(pins_dir(store) / f"{name}.json", sorted({s.path for s in segments}))


def drop_pin(store: Path, name: str) -> None:
    (pins_dir(store) / f"{name}.json").unlink(missing_ok=True)


def pinned(store: Path) -> set[str] | None:
    """Every segment an environment pins (None: a pin is unreadable, so nothing may be collected)."""
    paths: set[str] = set()
    for pin in pins_dir(store).glob("*.json"):
        try:
            listed = json.loads(pin.read_text(encoding="utf-8"))
            if not isinstance(listed, list):
                return None
            paths.update(str(path) for path in listed)
        except (OSError, ValueError):
            return None
    return paths


def append_history(store: Path, entry: Mapping[str, Any]) -> None:
    """Add one promotion or rollback to the store's history, durably."""
    path = store / HISTORY_FILENAME
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(dict(entry), default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def history(store: Path) -> list[dict[str, Any]]:
    """Every promotion and rollback recorded in the store, oldest first (unreadable lines skipped)."""
    path = store / HISTORY_FILENAME
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


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
    """Delete segments none of the last KEEP_PUBLICATIONS publications and no environment names (best effort).

    By what the catalogs name, not by which publication wrote a segment: a
    daily mart written long ago and carried over to the catalog a reader
    holds stays. A segment no record names (a publisher died before its
    catalog was renamed, or a catalog from before the records) is kept
    until it is older than the kept publications.
    """
    newest = max(record.publication.number for record in records)
    oldest_kept = newest - KEEP_PUBLICATIONS + 1
    named = {s.path for r in records if r.publication.number >= oldest_kept for s in r.segments}
    environments = pinned(store)
    if environments is None:
        return  # an environment's pin is unreadable: keep everything until it is mended
    named |= environments
    with contextlib.suppress(OSError):  # what fails to go now goes next time
        for path in store.glob("*/*.parquet"):
            written_by = int(path.stem) if path.stem.isdigit() else None
            if written_by is None or path.parent.name == RECORDS_DIRNAME:
                continue
            if f"{path.parent.name}/{path.name}" not in named and written_by < oldest_kept:
                path.unlink(missing_ok=True)
        for partial in store.glob("*/*.partial"):
            partial.unlink(missing_ok=True)
        for old in [*records_dir(store).glob("*.json"), *manifests_dir(store).glob("*.json")]:
            if old.stem.isdigit() and int(old.stem) < oldest_kept:
                old.unlink(missing_ok=True)
