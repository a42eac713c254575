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
             old catalog keeps reading its segments.

What a publication writes follows the delta, like the build:
  - marts the build did not rebuild (the daily marts on a 4-hourly
    increment) keep their segments;
  - an incremental mart keyed on a unique key with a `_batch_id` column
    (`mart_orders`) gets one new segment with the rows of the batches the
    build added, unless those rows replace rows of older segments (then,
    and after a full refresh, it is rewritten as one segment);
  - any other rebuilt mart is rewritten as one segment.
Segments no catalog of the last KEEP_PUBLICATIONS publications names are
deleted, so a reader that has not reconnected for that many builds fails
loudly (missing file) rather than reading a mix.

A build that fails publishes nothing: the previous snapshot stays, unchanged
and readable. The next build tests again every batch processed since the
last publication (`tpch_elt.build.plan_build`), so a failed batch is never
published by a later, passing increment. A killed build is the same case.

Snowflake maps this onto zero-copy clones: build in a clone of the
production database, test there, then `alter database … swap with …`
(README, "Write–audit–publish").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.lock import warehouse_lock
from tpch_elt.settings import Settings
from tpch_elt.warehouse import connect, table_exists

MART_SCHEMA = "mart"
PUBLICATION_TABLE = "publication"
SEGMENTS_TABLE = "segments"
BATCH_COLUMN = "_batch_id"
# Segments named by this many latest catalogs are kept (readers that hold
# an older catalog must reconnect).
KEEP_PUBLICATIONS = 3
# In the warehouse: one row per publication (the audit trail, and the
# watermark from which the next build must test again).
PUBLICATIONS = "observability.publications"


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


def published_path(warehouse: Path) -> Path:
    """The catalog readers open, beside the warehouse file."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix or '.duckdb'}")


def segments_dir(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.stem}.published")


def _quote(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def last_published_batch(con: duckdb.DuckDBPyConnection) -> tuple[bool, int | None]:
    """(anything published yet, newest batch the last publication covered)."""
    if not table_exists(con, "observability", "publications"):
        return False, None
    rows = con.execute(f"select batch_id from {PUBLICATIONS} order by published_at desc limit 1").fetchall()
    if not rows:
        return False, None
    return True, None if rows[0][0] is None else int(rows[0][0])


def latest(settings: Settings) -> Publication | None:
    """What readers see now, read from the catalog itself (None: nothing yet)."""
    path = published_path(settings.warehouse_path)
    if not path.is_file():
        return None
    with connect(path, read_only=True) as con:
        row = con.execute(
            "select number, published_at, invocation_id, batch_id, rebuilt, carried_over, bytes_written "
            f"from main.{PUBLICATION_TABLE}"
        ).fetchall()[0]
    number, published_at, invocation_id, batch_id, rebuilt, carried, written = row
    return Publication(
        path, number, published_at, invocation_id, batch_id, tuple(rebuilt), tuple(carried), written
    )


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


def _previous_segments(target: Path) -> tuple[int, list[_Segment]]:
    if not target.is_file():
        return 0, []
    with connect(target, read_only=True) as con:
        if not table_exists(con, "main", SEGMENTS_TABLE):
            return 0, []  # not a catalog this version wrote: publish everything afresh
        number = con.execute(f"select number from main.{PUBLICATION_TABLE}").fetchall()[0][0]
        rows = con.execute(f"select mart, path, max_batch_id, rows from main.{SEGMENTS_TABLE}").fetchall()
    return int(number), [_Segment(*row) for row in rows]


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
    # A publisher killed half-way leaves its scratch catalog (and segments
    # no catalog names, collected below); we hold the writer lock, so no
    # other publisher is running.
    for stale in target.parent.glob(f"{target.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    published_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    previous_number, previous = _previous_segments(target)
    number = previous_number + 1
    written_bytes = 0
    try:
        with connect(settings.warehouse_path) as con:
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
            if audited_all_batches and table_exists(con, "staging", "stg_fct_orders"):
                batch_id = con.execute(f"select max({BATCH_COLUMN}) from staging.stg_fct_orders").fetchall()[
                    0
                ][0]
            else:
                batch_id = last_published_batch(con)[1]
            segments: list[_Segment] = []
            fresh, carried = [], []
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
            _write_catalog(
                scratch,
                store,
                segments,
                number=number,
                published_at=published_at,
                invocation_id=invocation_id,
                batch_id=batch_id,
                rebuilt=fresh,
                carried=carried,
                bytes_written=written_bytes,
                warehouse=settings.warehouse_path,
            )
            _fsync(scratch)
            os.replace(scratch, target)
            _fsync(target.parent)
            ensure_publications_table(con)
            con.execute(
                f"insert into {PUBLICATIONS} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [published_at, number, invocation_id, batch_id, str(target), fresh, carried, written_bytes],
            )
            _collect_garbage(store, segments, number)
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(
            f"publishing to {target} failed ({first_line}); readers still see the previous snapshot: "
            "fix the cause and run `tpch-elt build` again"
        ) from exc
    finally:
        scratch.unlink(missing_ok=True)
    return Publication(
        target, number, published_at, invocation_id, batch_id, tuple(fresh), tuple(carried), written_bytes
    )


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
    relation = f"{MART_SCHEMA}.{_ident(name)}"
    folder = store / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:06d}.parquet"
    appendable = key is not None and had and not full_refresh and BATCH_COLUMN in _columns(con, name)
    if appendable:
        watermark = max((s.max_batch_id for s in had if s.max_batch_id is not None), default=None)
        if watermark is not None:
            new_rows = f"select * from {relation} where {BATCH_COLUMN} > {int(watermark)}"
            files = "[" + ", ".join(_quote(store / s.path) for s in had) + "]"
            # Do the new rows replace published ones (a late line for an
            # order published earlier)? Then rewrite; otherwise append.
            replaced = con.execute(
                f"select count(*) from ({new_rows}) as n "
                f"where n.{_ident(key)} in (select {_ident(key)} from read_parquet({files}))"
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
    con.execute(f"copy ({query}) to {_quote(partial)} (format parquet, compression zstd)")
    _fsync(partial)
    os.replace(partial, path)
    top = f"max({BATCH_COLUMN})" if _has_batch_column(con, path) else "null"
    rows, batch = con.execute(f"select count(*), {top} from read_parquet({_quote(path)})").fetchall()[0]
    return int(rows), None if batch is None else int(batch)


def _has_batch_column(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    return bool(
        con.execute(
            f"select count(*) from parquet_schema({_quote(path)}) where name = ?", [BATCH_COLUMN]
        ).fetchall()[0][0]
    )


def _write_catalog(
    path: Path,
    store: Path,
    segments: list[_Segment],
    *,
    number: int,
    published_at: datetime,
    invocation_id: str | None,
    batch_id: int | None,
    rebuilt: list[str],
    carried: list[str],
    bytes_written: int,
    warehouse: Path,
) -> None:
    with duckdb.connect(str(path)) as cat:
        cat.execute(f"create schema {MART_SCHEMA}")
        by_mart: dict[str, list[str]] = {}
        for segment in segments:
            by_mart.setdefault(segment.mart, []).append(str(store / segment.path))
        for mart, files in sorted(by_mart.items()):
            listed = "[" + ", ".join(_quote(f) for f in files) + "]"
            cat.execute(
                f"create view {MART_SCHEMA}.{_ident(mart)} as "
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
            [number, published_at, invocation_id, batch_id, rebuilt, carried, bytes_written, str(warehouse)],
        )


def _collect_garbage(store: Path, current: list[_Segment], number: int) -> None:
    """Delete segments that none of the last KEEP_PUBLICATIONS catalogs names."""
    keep = {str(store / s.path) for s in current}
    # Segment files are numbered by the publication that wrote them: keep
    # recent ones even if the current catalog dropped them (readers of the
    # previous catalogs still read them).
    for path in store.glob("*/*.parquet"):
        try:
            written_by = int(path.stem)
        except ValueError:
            continue
        if str(path) not in keep and written_by <= number - KEEP_PUBLICATIONS:
            path.unlink(missing_ok=True)
    for partial in store.glob("*/*.partial"):
        partial.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
