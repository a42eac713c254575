"""Opening the DuckDB warehouse, with errors a user can act on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.settings import MEMORY_LIMIT_VAR, duckdb_memory_limit
from tpch_elt.warehouse.sql import quote_literal

_LOCK_PID = re.compile(r"PID (\d+)")


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(
            f"cannot create directory {path.parent} for warehouse {path}: "
            f"{exc.strerror}; choose a writable --warehouse path"
        ) from exc


def held_by_another_process(error: BaseException) -> bool:
    """Whether opening a database failed because another process holds it for writing
    (DuckDB allows one writing process, and no reader beside it)."""
    cause = error.__cause__ if isinstance(error, PipelineError) else error
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file at `path`, closed on exit."""
    if read_only and not path.is_file():
        raise PipelineError(f"warehouse {path} does not exist: run `tpch-elt run` (or `load`) first")
    if not read_only:
        _ensure_parent(path)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if held_by_another_process(exc):
            pid = _LOCK_PID.search(message)
            who = f" (pid {pid.group(1)})" if pid else ""
            raise PipelineError(
                f"warehouse busy{who}: {path} is held by another process; wait for it to finish and retry"
            ) from exc
        first_line = message.splitlines()[0] if message else type(exc).__name__
        raise PipelineError(
            f"cannot open warehouse {path}: {first_line}; choose a writable --warehouse path"
        ) from exc
    try:
        _limit_memory(con)
        yield con
    finally:
        con.close()


def _limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    # The same cap as dbt's connection (profiles.yml): loads, ingests and
    # publications at SF30 stay inside the run's memory budget.
    limit = duckdb_memory_limit()
    try:
        con.execute(f"set memory_limit = {quote_literal(limit)}")
    except duckdb.Error as exc:
        raise PipelineError(
            f"{MEMORY_LIMIT_VAR}={limit!r} is not a DuckDB memory size: set it to e.g. 6GB"
        ) from exc


@contextmanager
def transaction(
    con: duckdb.DuckDBPyConnection, failure: Callable[[str], str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block ends, roll back on any exception.

    `failure` turns a DuckDB error's first line into the one-line message
    of the PipelineError raised instead (it is called after the rollback,
    so it can say what is unchanged); without it the error propagates.
    """
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        if failure is None:
            raise
        raise PipelineError(failure(str(exc).splitlines()[0])) from exc
    except BaseException:
        con.execute("rollback")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])
