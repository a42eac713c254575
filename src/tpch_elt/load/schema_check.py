"""Schema drift: a landing or batch file's columns against TPC-H's, before anything is written.

The check reads only the Parquet footer (DuckDB's `describe`), so it costs
milliseconds whatever the file's size, and it runs before the load or
ingest transaction begins. Policy (README, "Failure cases"):

* Additive changes flow through. A column TPC-H does not have is kept in
  raw (`load` creates it, `ingest` adds it with ALTER TABLE ... ADD COLUMN,
  earlier rows NULL) and the CLI warns. Staging models select their columns
  by name, so nothing downstream changes until a developer maps the column.
* Breaking changes stop the step before anything is written: a missing
  column, a renamed one (missing + extra) or one retyped to a type that does
  not convert losslessly to TPC-H's (e.g. VARCHAR quantities, TIMESTAMP dates).
  Widening an integer or narrowing a decimal that still fits is compatible:
  `load` casts to the canonical type, `ingest` inserts into raw's column.
* A column name (or a nested field name in its type) holding a control or
  invisible character, or one of `<`, `>`, `&`, stops the step the same way.
  An extra column becomes a dbt source column, so its name reaches the docs
  page's HTML, Slack alerts and terminals. Brackets, quotes and spaces are
  legal quoted SQL identifiers and stay allowed (every printer escapes them).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.tpch import TableSpec, column_type
from tpch_elt.warehouse.sql import fold_ident, quote_literal

# Columns the loader adds itself: a file may not bring them.
RESERVED_COLUMNS = frozenset({"_batch_id", "_loaded_at", "_reject_reason"})

# Markup in HTML (dbt docs, reports) and Slack; never in a column name.
MARKUP_CHARACTERS = "<>&"
# Unicode categories refused in a column name: controls (ESC, NUL, newline…),
# invisible format characters (bidi overrides, zero-width) and line separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

# Integer types by the largest value they hold, for lossless widening.
_INTEGER_BITS = {
    "TINYINT": 7,
    "UTINYINT": 8,
    "SMALLINT": 15,
    "USMALLINT": 16,
    "INTEGER": 31,
    "UINTEGER": 32,
    "BIGINT": 63,
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def expected_type(column: str) -> str:
    """The DuckDB type raw holds for `column` (tpch.py; VARCHAR for a column TPC-H does not have)."""
    return column_type(column).duckdb


def _integer_digits(found: str) -> int | None:
    bits = _INTEGER_BITS.get(found)
    return None if bits is None else len(str(2**bits))


def converts_losslessly(found: str, expected: str) -> bool:
    """True when every value of DuckDB type `found` fits `expected` exactly."""
    found, expected = found.upper(), expected.upper()
    if found == expected:
        return True
    if expected in _INTEGER_BITS:
        return found in _INTEGER_BITS and _INTEGER_BITS[found] <= _INTEGER_BITS[expected]
    wanted = _DECIMAL.fullmatch(expected)
    if wanted:
        precision, scale = int(wanted.group(1)), int(wanted.group(2))
        got = _DECIMAL.fullmatch(found)
        if got:
            p, s = int(got.group(1)), int(got.group(2))
            return s <= scale and p - s <= precision - scale
        digits = _integer_digits(found)
        return digits is not None and digits <= precision - scale
    return False


@dataclass(frozen=True)
class FileSchema:
    """A checked file: its table and the columns TPC-H does not have."""

    path: Path
    table: str
    extra: tuple[tuple[str, str], ...]  # (column, DuckDB type), file order


def read_parquet_sql(path: Path) -> str:
    """`read_parquet` of one file, without Hive partitions (`sf=…` in the path is no column)."""
    return f"read_parquet({quote_literal(path)}, hive_partitioning = false)"


def unsafe_characters(name: str) -> str | None:
    """What in `name` may not reach HTML, Slack or a terminal (None: nothing)."""
    controls = any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in name)
    markup = ", ".join(repr(ch) for ch in sorted({ch for ch in name if ch in MARKUP_CHARACTERS}))
    found = (["a control or invisible character"] if controls else []) + ([markup] if markup else [])
    return " and ".join(found) or None


def _refuse_unsafe_names(described: list[tuple[str, str]], where: str, table: str) -> None:
    for name, kind in described:
        problem = unsafe_characters(name)
        what = f"column {name!r}"
        if problem is None and (problem := unsafe_characters(kind)) is not None:
            what = f"column {name!r} has type {kind!r}, which"
        if problem is not None:
            raise PipelineError(
                f"{where}: {what} holds {problem} (table {table}); a column name may not hold control "
                "characters or <, >, & (it reaches the docs page, alerts and terminals): "
                "rename the column in the file, then retry"
            )


def _columns_are(names: list[str], what: str) -> str:
    """`column x is <what>` or `columns x, y are <what>`."""
    if len(names) == 1:
        return f"column {names[0]} is {what}"
    return f"columns {', '.join(names)} are {what}"


def check_file(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    path: Path,
    *,
    kind: str = "landing file",
    remedy: str = "regenerate it with `tpch-elt generate --force` or fix its producer, then retry",
    check_types: bool = True,
) -> FileSchema:
    """The file's schema against `spec`; raises PipelineError on a breaking change.

    `kind` and `remedy` word the message: "<kind> <path>: <problem>; <remedy>".
    `check_types=False` checks only that the columns are there.
    """
    try:
        described = con.execute(f"describe select * from {read_parquet_sql(path)}").fetchall()
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise PipelineError(
            f"{kind} {path} is corrupt or truncated ({reason}): delete it and run `tpch-elt generate` again"
        ) from exc
    found = {fold_ident(str(row[0])): str(row[1]) for row in described}
    extra = tuple((name, kind_) for name, kind_ in found.items() if name not in spec.columns)
    where = f"{kind} {path}"
    _refuse_unsafe_names(list(found.items()), where, spec.name)
    reserved = [name for name, _ in extra if name in RESERVED_COLUMNS]
    if reserved:
        raise PipelineError(
            f"{where}: {_columns_are(reserved, 'reserved')} for the loader (table {spec.name}); "
            f"rename or drop it in the file, then retry"
        )
    missing = [column for column in spec.columns if column not in found]
    if missing:
        others = [name for name, _ in extra]
        hint = (
            f"found {', '.join(others)} instead: renamed?"
            if others
            else f"found {len(spec.columns) - len(missing)} of table {spec.name}'s {len(spec.columns)} columns"
        )
        raise PipelineError(
            f"{where}: {_columns_are(missing, 'missing')} (table {spec.name}; {hint}); {remedy}"
        )
    for column in spec.columns if check_types else ():
        wanted = expected_type(column)
        if not converts_losslessly(found[column], wanted):
            raise PipelineError(
                f"{where}: column {column} is {found[column]}, expected {wanted} (table {spec.name}; "
                f"{found[column]} does not convert to it without loss); {remedy}"
            )
    return FileSchema(path, spec.name, extra)


def describe_extra(schema: FileSchema, target: str) -> str:
    """The warning for an additive change: what was kept, where, and what to do."""
    columns = ", ".join(f"{name} ({kind})" for name, kind in schema.extra)
    noun = "column" if len(schema.extra) == 1 else "columns"
    return (
        f"{schema.path}: new {noun} {columns} kept in {target} (earlier rows NULL); "
        f"staging ignores it until a model selects it"
    )
