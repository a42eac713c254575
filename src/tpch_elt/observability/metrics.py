"""Table and column metrics of the tables a build changed, and schema snapshots of all of them.

Cost. Nothing runs inside dbt (no hooks). Only tables that can have
changed are measured: sources and the models that ran as tables. Each costs
a whole-table count (row count, newest `_batch_id` and `_loaded_at`: two
columns) and, if anything changed, one aggregate over the rows in scope.
For a table with `_batch_id` the scope is the batches that are new since
the table was last measured (a range filter DuckDB answers from the new row
groups), like the batch-scoped dbt tests; without new batches there is no
second query. Row counts and freshness are whole-table. Views are
snapshotted, not measured: they show their sources' data, measured already.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from tpch_elt.observability.artifacts import Manifest, manifest_rows
from tpch_elt.observability.sla import slo_rows
from tpch_elt.observability.store import SCHEMA, insert_rows, relation_sql
from tpch_elt.warehouse.sql import quote_ident

# Load metadata columns: covered by the volume and freshness metrics.
BATCH_COLUMN = "_batch_id"
LOADED_AT_COLUMN = "_loaded_at"
METADATA_COLUMNS = (BATCH_COLUMN, LOADED_AT_COLUMN)
MEASURED_MATERIALIZATIONS = ("table", "incremental", "seed", "snapshot")
# Distinct counts (HyperLogLog, `approx_count_distinct`: about 2 % error) are
# skipped when more rows than this are in scope: over every column of a
# multi-million-row table they would cost more than the build. New batches
# stay far below it; a table's first measurement at SF >= 1 does not.
DISTINCT_MAX_ROWS = 1_000_000

_NUMERIC_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "DECIMAL",
    "NUMERIC",
    "DOUBLE",
    "FLOAT",
    "REAL",
)
_STRING_PREFIXES = ("VARCHAR", "CHAR", "TEXT", "STRING")


@dataclass
class _Measured:
    table_rows: list[tuple[Any, ...]] = field(default_factory=list)
    column_rows: list[tuple[Any, ...]] = field(default_factory=list)
    snapshot_rows: list[tuple[Any, ...]] = field(default_factory=list)


def record_measurements(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    ran: set[str],
    started_at: datetime,
    invocation_id: str,
) -> int:
    """Measure the sources and the models in `ran`, snapshot schemas and the manifest; tables measured."""
    measured = _measure(con, manifest, ran, started_at, invocation_id)
    insert_rows(con, "table_metrics", measured.table_rows)
    insert_rows(con, "column_metrics", measured.column_rows)
    insert_rows(con, "schema_snapshots", measured.snapshot_rows)
    insert_rows(con, "manifest_nodes", manifest_rows(invocation_id, manifest))
    insert_rows(con, "slos", slo_rows(invocation_id, manifest.nodes))
    return len(measured.table_rows)


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    position: int

    @property
    def kind(self) -> str:
        upper = self.data_type.upper()
        if upper.startswith(_NUMERIC_PREFIXES):
            return "numeric"
        if upper.startswith(_STRING_PREFIXES):
            return "string"
        return "other"


def warehouse_columns(con: duckdb.DuckDBPyConnection, schemas: Iterable[str]) -> dict[str, list[Column]]:
    """Columns of every table and view in `schemas`, by `schema.name`."""
    wanted = sorted(set(schemas))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = con.execute(
        "select table_schema, table_name, column_name, data_type, ordinal_position "
        "from information_schema.columns "
        f"where table_catalog = current_database() and table_schema in ({marks}) "
        "order by 1, 2, 5",
        wanted,
    ).fetchall()
    out: dict[str, list[Column]] = {}
    for schema, table, column, data_type, position in rows:
        out.setdefault(f"{schema}.{table}", []).append(Column(column, str(data_type), int(position)))
    return out


@dataclass(frozen=True)
class _Previous:
    row_count: int | None
    max_batch_id: int | None
    max_loaded_at: datetime | None


def _previous_measurements(con: duckdb.DuckDBPyConnection, before: datetime) -> dict[str, _Previous]:
    rows = con.execute(
        f"""
        select relation, row_count, max_batch_id, max_loaded_at
        from {SCHEMA}.table_metrics
        where measured_at < ?
        qualify row_number() over (partition by relation order by measured_at desc) = 1
        """,
        [before],
    ).fetchall()
    return {relation: _Previous(count, batch, loaded) for relation, count, batch, loaded in rows}


def whole_table_query(relation: str, columns: Sequence[Column]) -> tuple[str, list[str]]:
    """Row count, newest batch and newest load time: cheap (two columns, or metadata)."""
    names = {c.name for c in columns}
    exprs, keys = ["count(*)"], ["row_count"]
    if BATCH_COLUMN in names:
        exprs.append(f"max({BATCH_COLUMN})")
        keys.append("max_batch_id")
    if LOADED_AT_COLUMN in names:
        exprs.append(f"max({LOADED_AT_COLUMN})")
        keys.append("max_loaded_at")
    return f"select {', '.join(exprs)} from {relation_sql(relation)}", keys


def scoped_query(
    relation: str, columns: Sequence[Column], since_batch: int | None, *, distinct: bool = True
) -> tuple[str, list[str]]:
    """One aggregate over the rows in scope: every column metric of every column.

    `since_batch` None: the whole table; otherwise rows of batches above it
    (a plain range filter, so DuckDB skips the older row groups).
    `distinct` False leaves out the HyperLogLog distinct counts, the only
    aggregate whose cost grows with the number of columns times rows.
    """
    names = {c.name for c in columns}
    exprs, keys = ["count(*)"], ["scope_rows"]
    if BATCH_COLUMN in names:
        exprs.append(f"count(distinct {BATCH_COLUMN})")
        keys.append("new_batches")
    for index, column in enumerate(c for c in columns if c.name not in METADATA_COLUMNS):
        q = quote_ident(column.name)
        exprs.append(f"count({q})")
        keys.append(f"{index}:non_null")
        if distinct:
            exprs.append(f"approx_count_distinct({q})")
            keys.append(f"{index}:distinct")
        if column.kind == "numeric":
            exprs += [f"cast(min({q}) as double)", f"cast(max({q}) as double)", f"cast(avg({q}) as double)"]
            keys += [f"{index}:min", f"{index}:max", f"{index}:avg"]
        elif column.kind == "string":
            exprs += [f"min(length({q}))", f"max(length({q}))"]
            keys += [f"{index}:min_length", f"{index}:max_length"]
    where = "" if since_batch is None else f" where {BATCH_COLUMN} > {int(since_batch)}"
    return f"select {', '.join(exprs)} from {relation_sql(relation)}{where}", keys


def _scope(
    resource_type: str,
    has_batch: bool,
    previous: _Previous | None,
    row_count: int,
    max_batch: int | None,
    max_loaded: datetime | None,
) -> tuple[str, int | None]:
    """What changed since the table was last measured: ('full' | 'batch' | 'none', since_batch)."""
    if previous is None or previous.row_count is None:
        return "full", None
    if has_batch and max_batch is not None and previous.max_batch_id is not None:
        if max_batch > previous.max_batch_id:
            return "batch", previous.max_batch_id
        if (
            max_batch < previous.max_batch_id
            or row_count != previous.row_count
            or max_loaded != previous.max_loaded_at
        ):
            return "full", None  # rebuilt or reloaded, not appended to
        return "none", None
    if resource_type == "source":
        return ("full", None) if row_count != previous.row_count else ("none", None)
    return "full", None  # a model without batches that ran: rebuilt


def _measure(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    ran: set[str],
    started_at: datetime,
    invocation_id: str,
) -> _Measured:
    relations = manifest.relations()
    columns = warehouse_columns(con, {r.relation.split(".", 1)[0] for r in relations})
    previous = _previous_measurements(con, started_at)
    out = _Measured()
    for rel in relations:
        cols = columns.get(rel.relation)
        if not cols:
            continue  # not built (yet), or disabled
        out.snapshot_rows += [
            (invocation_id, rel.relation, rel.unique_id, c.name, c.data_type, c.position) for c in cols
        ]
        changed = rel.resource_type == "source" or (
            rel.unique_id in ran and rel.materialized in MEASURED_MATERIALIZATIONS
        )
        if not changed:
            continue
        sql, keys = whole_table_query(rel.relation, cols)
        whole = dict(zip(keys, con.execute(sql).fetchall()[0], strict=True))
        row_count = int(whole["row_count"])
        max_batch = whole.get("max_batch_id")
        max_loaded = whole.get("max_loaded_at")
        has_batch = "max_batch_id" in whole
        prev = previous.get(rel.relation)
        scope, since = _scope(
            rel.resource_type,
            has_batch,
            prev,
            row_count,
            None if max_batch is None else int(max_batch),
            max_loaded,
        )
        values: dict[str, Any] = {"scope_rows": 0}
        if scope != "none":
            # Rows the aggregate will read (for append-only tables; a bound otherwise).
            expected = row_count if scope == "full" or prev is None else row_count - (prev.row_count or 0)
            sql, keys = scoped_query(rel.relation, cols, since, distinct=expected <= DISTINCT_MAX_ROWS)
            values = dict(zip(keys, con.execute(sql).fetchall()[0], strict=True))
        scope_rows = int(values["scope_rows"])
        if has_batch and scope in ("batch", "none"):
            rows_added: int | None = scope_rows
            new_batches: int | None = int(values.get("new_batches") or 0)
        else:
            rows_added = None if prev is None or prev.row_count is None else row_count - prev.row_count
            new_batches = None
        lag = (started_at - max_loaded).total_seconds() if isinstance(max_loaded, datetime) else None
        out.table_rows.append(
            (
                invocation_id,
                rel.relation,
                rel.unique_id,
                rel.resource_type,
                started_at,
                row_count,
                rows_added,
                new_batches,
                None if max_batch is None else int(max_batch),
                max_loaded,
                lag,
                scope,
                scope_rows,
            )
        )
        if scope_rows == 0:
            continue
        for index, column in enumerate(c for c in cols if c.name not in METADATA_COLUMNS):
            non_null = int(values[f"{index}:non_null"])
            distinct = values.get(f"{index}:distinct")
            out.column_rows.append(
                (
                    invocation_id,
                    rel.relation,
                    column.name,
                    column.data_type,
                    scope,
                    scope_rows,
                    scope_rows - non_null,
                    100.0 * (scope_rows - non_null) / scope_rows,
                    None if distinct is None else int(distinct),
                    values.get(f"{index}:min"),
                    values.get(f"{index}:max"),
                    values.get(f"{index}:avg"),
                    values.get(f"{index}:min_length"),
                    values.get(f"{index}:max_length"),
                )
            )
    return out
