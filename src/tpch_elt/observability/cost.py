"""Cost per model: DuckDB's profiler on every statement a model writes with, recorded per build.

How a profile is captured. `tpch-elt build` runs dbt in this process, and
dbt-duckdb runs each model's SQL on its own DuckDB cursor (one connection
per dbt thread). During the build's `dbt build` only (`profiled_models`),
every statement that a *model* node runs and that writes (`create`,
`insert`, `delete`, `merge`, `update`: the model's `create table as`, an
incremental model's temporary table of new rows and its insert/delete into
the target) is wrapped on that cursor in

    SET enable_profiling = 'json'; SET profiling_output = '<dir>/<unique_id>.<n>.json'
    <the statement>
    RESET enable_profiling; RESET profiling_output

so it leaves one JSON profile, and nothing else (dbt's metadata queries,
tests, hooks) is profiled. The node comes from dbt's own context
(`dbt_common`'s node_info, set on the thread that runs the node). Both
settings are per connection (DuckDB scope LOCAL): threads do not see each
other's. Hooks in dbt_project.yml could not do this: dbt-duckdb runs
metadata SELECTs after a model's main statement (indexes, constraints),
which would overwrite a single per-model profile before any post-hook.

What is recorded (observability.model_costs, one row per invocation and
model, source 'duckdb_profiler'), summed over the model's profiled
statements (statements):

    seconds        the profiler's query.total_time (latency, not dbt's overhead)
    cpu_seconds    query.cpu_time
    rows_read      query.total_rows_scanned (rows table scans read; row-group granular)
    rows_written   rows into the CREATE TABLE AS / INSERT sinks, except into a temporary
                   table (an incremental model's new rows are counted once, when inserted)
    bytes_read     io.total_bytes_read (storage reads; 0 when the blocks were cached)
    bytes_scanned  per table scan, rows scanned x the width of the columns it produced
                   (uncompressed bytes the scans read: the recommender's input)
    bytes_written  io.total_bytes_written (storage writes)
    peak_memory    the largest system.peak_buffer_memory of the statements

Reading is cheap (a few KB of JSON per model) and never fails the build: a
missing or unreadable profile is one warning line on stderr.
Snowflake's credits per model come from its query history instead
(`tpch_elt.observability.snowflake_cost`).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.errors import first_line
from tpch_elt.observability.store import SCHEMA, enabled, ensure_schema, insert_rows, utc_now
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect

SOURCE_DUCKDB = "duckdb_profiler"
SOURCE_SNOWFLAKE = "snowflake_query_history"
# Where a build's profiles go, one directory per build, removed once recorded.
PROFILES_DIR = "profiles"
STALE_SECONDS = 24 * 3600
# Statements that write: a model's build (the rest are dbt's metadata queries).
_WRITES = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(create|insert|delete|merge|update)\b", re.I | re.S
)
# An incremental model's temporary table of new rows: read, but not written to the model.
_TEMPORARY = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*create\s+(?:or\s+replace\s+)?(?:temp|temporary)\s", re.I | re.S
)
_SINKS = ("CREATE_TABLE_AS", "BATCH_CREATE_TABLE_AS", "INSERT", "BATCH_INSERT")
_SCANS = ("TABLE_SCAN",)
# A unique id as a file name: dbt's ids are dotted words; anything else is replaced.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class ModelCost:
    """One model's cost in one build (summed over its profiled statements)."""

    unique_id: str
    statements: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_scanned: int = 0
    bytes_written: int = 0
    peak_memory: int = 0

    def add(self, other: ModelCost) -> None:
        for item in fields(self):
            if item.name in ("unique_id", "peak_memory"):
                continue
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
        self.peak_memory = max(self.peak_memory, other.peak_memory)


# -- parsing a profile ------------------------------------------------------------------------------


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _operators(profile: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    pending = [op for op in profile.get("operator") or [] if isinstance(op, Mapping)]
    while pending:
        op = pending.pop()
        yield op
        pending.extend(child for child in op.get("children") or [] if isinstance(child, Mapping))


def _output_rows(op: Mapping[str, Any]) -> float:
    """Rows an operator hands on; a CTE operator hands on what its last child (the query) does."""
    while str(op.get("type")) == "CTE" and op.get("children"):
        op = op["children"][-1]
    return _number(op.get("intermediate_rows"))


def parse_profile(unique_id: str, profile: Mapping[str, Any]) -> ModelCost:
    """One statement's DuckDB JSON profile (DuckDB 2: sections query, io, system, operator) as a cost.

    Raises ValueError when it is not such a profile."""
    query, io, system = (profile.get(key) for key in ("query", "io", "system"))
    if not isinstance(query, Mapping) or "total_time" not in query:
        raise ValueError("not a DuckDB JSON profile (no query.total_time)")
    io = io if isinstance(io, Mapping) else {}
    system = system if isinstance(system, Mapping) else {}
    written = scanned = 0.0
    temporary = bool(_TEMPORARY.match(str(query.get("sql") or "")))
    for op in _operators(profile):
        kind = str(op.get("type") or op.get("name") or "")
        if kind in _SINKS and not temporary:
            written += sum(_output_rows(child) for child in op.get("children") or [])
        elif kind in _SCANS:
            rows, size = _number(op.get("intermediate_rows")), _number(op.get("intermediate_size_bytes"))
            if rows > 0:
                scanned += _number(op.get("rows_scanned")) * size / rows
    return ModelCost(
        unique_id=unique_id,
        statements=1,
        seconds=_number(query.get("total_time")),
        cpu_seconds=_number(query.get("cpu_time")),
        rows_read=int(_number(query.get("total_rows_scanned"))),
        rows_written=int(written),
        bytes_read=int(_number(io.get("total_bytes_read"))),
        bytes_scanned=int(scanned),
        bytes_written=int(_number(io.get("total_bytes_written"))),
        peak_memory=int(_number(system.get("peak_buffer_memory"))),
    )


def profile_name(unique_id: str, sequence: int) -> str:
    return f"{_UNSAFE.sub('_', unique_id)}.{sequence}.json"


def read_profiles(directory: Path, unique_ids: Sequence[str]) -> tuple[dict[str, ModelCost], list[str]]:
    """The cost of each model in `unique_ids` from its profiles in `directory`, and what could not be read.

    A model without a profile file (a view, a model that failed) is left out;
    a file that is not a profile is one problem, the rest still counts."""
    costs: dict[str, ModelCost] = {}
    problems: list[str] = []
    wanted = {_UNSAFE.sub("_", uid): uid for uid in unique_ids}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        stem, _, sequence = path.stem.rpartition(".")
        uid = wanted.get(stem)
        if uid is None or not sequence.isdigit():
            continue
        try:
            cost = parse_profile(uid, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            problems.append(f"{path.name}: {first_line(exc)[:200]}")
            continue
        costs.setdefault(uid, ModelCost(uid)).add(cost)
    return costs, problems


# -- capturing the profiles -------------------------------------------------------------------------


def writes(sql: str) -> bool:
    """Whether `sql` starts (after comments) with a statement that writes."""
    return bool(_WRITES.match(sql))


def _current_model() -> str | None:
    from dbt_common.events.contextvars import get_node_info

    uid = str(get_node_info().get("unique_id") or "")
    return uid if uid.startswith("model.") else None


@contextmanager
def profiled_models(directory: Path) -> Iterator[Path | None]:
    """Profile every writing statement of each model that dbt-duckdb runs in this process, into
    `directory` (created, one file per statement); yields it, or None when dbt-duckdb's cursor
    wrapper is not there to profile (another adapter, or a dbt-duckdb that changed it)."""
    try:
        from dbt.adapters.duckdb.environments.local import DuckDBCursorWrapper
    except ImportError:
        yield None
        return
    original = getattr(DuckDBCursorWrapper, "execute", None)
    if original is None:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    counter = _Counter()

    def execute(self: Any, sql: str, bindings: Any = None) -> Any:
        uid = _current_model() if isinstance(sql, str) else None
        if uid is None or not writes(sql):
            return original(self, sql, bindings)
        path = str(directory / profile_name(uid, counter.next())).replace("'", "''")
        cursor = self._cursor
        try:
            cursor.execute(f"SET enable_profiling = 'json'; SET profiling_output = '{path}'")
        except duckdb.Error:  # no profile (reported as missing): the model still runs
            return original(self, sql, bindings)
        try:
            return original(self, sql, bindings)
        finally:
            with suppress(duckdb.Error):
                cursor.execute("RESET enable_profiling; RESET profiling_output")

    setattr(DuckDBCursorWrapper, "execute", execute)  # noqa: B010  (restored below)
    try:
        yield directory
    finally:
        setattr(DuckDBCursorWrapper, "execute", original)  # noqa: B010


class _Counter:
    """Statement numbers shared by dbt's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


@contextmanager
def build_profiles(settings: Settings) -> Iterator[Path | None]:
    """`profiled_models` for one build of the embedded warehouse, into a fresh directory under
    dbt's target directory (None: nothing profiled, e.g. observability switched off).
    `record_model_costs` reads and removes it; a build that raises removes it here."""
    if not settings.embedded or not enabled():
        yield None
        return
    parent = settings.dbt_target_dir / PROFILES_DIR
    _prune(parent)
    directory = parent / uuid.uuid4().hex
    try:
        with profiled_models(directory) as profiles:
            yield profiles
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _prune(parent: Path) -> None:
    """Remove profile directories a build left a day or more ago (one that stopped before recording)."""
    if not parent.is_dir():
        return
    stale = time.time() - STALE_SECONDS
    for child in parent.iterdir():
        with suppress(OSError):
            if child.is_dir() and child.stat().st_mtime < stale:
                shutil.rmtree(child, ignore_errors=True)


# -- recording --------------------------------------------------------------------------------------


def built_models(dbt_result: Any) -> dict[str, tuple[str, str]]:
    """unique_id -> (name, materialization) of each model the invocation built successfully."""
    built = {}
    for item in getattr(getattr(dbt_result, "result", None), "results", None) or []:
        node = item.node
        status = str(getattr(item.status, "value", item.status))
        if node.unique_id.startswith("model.") and status == "success":
            built[node.unique_id] = (node.name, str(getattr(node.config, "materialized", "")))
    return built


def cost_rows(
    invocation_id: str, costs: Mapping[str, ModelCost], names: Mapping[str, str]
) -> list[tuple[Any, ...]]:
    """model_costs rows (source duckdb_profiler) for `costs`."""
    now = utc_now()
    return [
        (
            invocation_id,
            uid,
            names.get(uid) or uid.rsplit(".", 1)[-1],
            SOURCE_DUCKDB,
            c.statements,
            c.seconds,
            c.cpu_seconds,
            c.rows_read,
            c.rows_written,
            c.bytes_read,
            c.bytes_scanned,
            c.bytes_written,
            c.peak_memory,
            None,
            None,
            now,
        )
        for uid, c in sorted(costs.items())
    ]


def record_model_costs(
    settings: Settings, dbt_result: Any, invocation_id: str | None, directory: Path | None
) -> int:
    """Record the build's per-model profiles into observability.model_costs; never raises.

    Returns the models recorded. The profiles directory is removed after."""
    if directory is None:
        return 0
    try:
        if not enabled() or not settings.embedded or not invocation_id:
            return 0
        built = built_models(dbt_result)
        costs, problems = read_profiles(directory, list(built))
        # Views build nothing, so they have no profile; a table without one is a problem.
        missing = [name for uid, (name, kind) in built.items() if uid not in costs and kind != "view"]
        if missing:
            problems.append(f"no profile for {', '.join(missing[:5])}")
        if problems:
            print(f"warning: some model costs not recorded ({'; '.join(problems[:3])})", file=sys.stderr)
        names = {uid: name for uid, (name, _) in built.items()}
        with connect(settings.warehouse_path) as con:
            ensure_schema(con)
            insert_model_costs(con, invocation_id, cost_rows(invocation_id, costs, names))
        return len(costs)
    except Exception as exc:
        print(
            f"warning: model costs not recorded for this build ({first_line(exc)}); the build is unaffected",
            file=sys.stderr,
        )
        return 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def insert_model_costs(
    con: duckdb.DuckDBPyConnection, invocation_id: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` unless this invocation's costs from the same source are there already."""
    if not rows:
        return
    source = rows[0][3]
    found = con.execute(
        f"select count(*) from {SCHEMA}.model_costs where invocation_id = ? and source = ?",
        [invocation_id, source],
    ).fetchall()
    if found[0][0]:
        return
    insert_rows(con, "model_costs", rows)
