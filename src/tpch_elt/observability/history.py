"""History: every dbt invocation, recorded in the warehouse itself.

After each dbt invocation of `tpch-elt build` (and on `tpch-elt observe
--artifacts DIR` for runs made elsewhere; the Airflow DAG records each of
its runs as one build, see record_run_part and close_run), one call records
into the `observability` schema, append-only and idempotent per dbt
`invocation_id` (recording the same invocation again changes nothing):

    invocations        one row per dbt invocation (command, selectors, times, status)
    model_runs         one row per model/seed/snapshot result (status, duration, rows)
    test_results       one row per data/unit test result, with the compiled SQL and,
                       for failing tests, up to SAMPLE_ROWS failing rows as JSON
    source_freshness   one row per source of a `dbt source freshness`
    table_metrics      per run, per source and per changed model table: row count,
                       rows added, new batches, freshness lag of `_loaded_at`
    column_metrics     per run and measured table, per column: null %, approximate
                       distinct count, min/max/avg (numbers), min/max length (strings)
    schema_snapshots   columns and types of every source and model, per build
    manifest_nodes     sources, models and exposures with lineage, docs and test
                       coverage, per build (the report reads them)

Detection (`tpch_elt.observability.detect`) and alerting (`tpch_elt.observability.alerts`) read this
history and append `anomaly_results`, `evaluations` and `alerts`.

Cost. Nothing runs inside dbt (no hooks). dbt's results come from the
in-memory result of the invocation, converted by dbt's own artifact classes
into exactly what it writes to `target/` (so a concurrent dbt process that
rewrites `target/run_results.json` cannot mix its run into ours); the
manifest is read from `target/manifest.json`. Only tables that can have
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

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError, first_line
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect, transaction
from tpch_elt.warehouse.sql import quote_ident

SCHEMA = "observability"
# Failing rows kept per failing test, and the cap on their JSON text.
SAMPLE_ROWS = 20
SAMPLE_MAX_CHARS = 16_000
COMPILED_SQL_MAX_CHARS = 20_000
# Recorded instead of a sample for a failure read from foreign artifacts.
NOT_SAMPLED = "not sampled: recorded from an artifacts directory, whose SQL is never run"
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
INSERT_CHUNK = 200
# Set to off/0/false to skip recording (e.g. to time dbt alone).
SWITCH_ENV = "TPCH_ELT_OBSERVABILITY"

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

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""
    create table if not exists {SCHEMA}.invocations (
        invocation_id varchar primary key,
        command varchar not null,
        target varchar,
        selectors json,
        started_at timestamp,
        ended_at timestamp,
        elapsed_seconds double,
        status varchar not null,
        result_count integer,
        error_count integer,
        fail_count integer,
        warn_count integer,
        dbt_version varchar,
        recorded_at timestamp not null,
        record_seconds double
    )
    """,
    f"""
    create table if not exists {SCHEMA}.model_runs (
        invocation_id varchar not null,
        unique_id varchar not null,
        name varchar,
        resource_type varchar,
        relation varchar,
        materialized varchar,
        status varchar,
        started_at timestamp,
        ended_at timestamp,
        execution_seconds double,
        rows_affected bigint,
        message varchar,
        primary key (invocation_id, unique_id)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.test_results (
        invocation_id varchar not null,
        unique_id varchar not null,
        name varchar,
        resource_type varchar,
        test_type varchar,
        attached_node varchar,
        column_name varchar,
        severity varchar,
        status varchar,
        failures bigint,
        message varchar,
        execution_seconds double,
        compiled_sql varchar,
        failing_sample json,
        sample_error varchar,
        primary key (invocation_id, unique_id)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.source_freshness (
        invocation_id varchar not null,
        unique_id varchar not null,
        source_name varchar,
        table_name varchar,
        relation varchar,
        status varchar,
        max_loaded_at timestamp,
        snapshotted_at timestamp,
        age_seconds double,
        warn_after_seconds double,
        error_after_seconds double,
        message varchar,
        primary key (invocation_id, unique_id)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.table_metrics (
        invocation_id varchar not null,
        relation varchar not null,
        unique_id varchar,
        resource_type varchar,
        measured_at timestamp not null,
        row_count bigint,
        rows_added bigint,
        new_batches integer,
        max_batch_id bigint,
        max_loaded_at timestamp,
        freshness_lag_seconds double,
        scope varchar not null,
        scope_rows bigint,
        primary key (invocation_id, relation)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.column_metrics (
        invocation_id varchar not null,
        relation varchar not null,
        column_name varchar not null,
        data_type varchar,
        scope varchar not null,
        scope_rows bigint,
        null_count bigint,
        null_percent double,
        distinct_count bigint,
        min_value double,
        max_value double,
        avg_value double,
        min_length bigint,
        max_length bigint,
        primary key (invocation_id, relation, column_name)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.schema_snapshots (
        invocation_id varchar not null,
        relation varchar not null,
        unique_id varchar,
        column_name varchar not null,
        data_type varchar,
        ordinal_position integer,
        primary key (invocation_id, relation, column_name)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.manifest_nodes (
        invocation_id varchar not null,
        unique_id varchar not null,
        resource_type varchar,
        name varchar,
        relation varchar,
        layer varchar,
        materialized varchar,
        description varchar,
        columns json,
        documented_columns json,
        tested_columns json,
        test_count integer,
        unit_test_count integer,
        depends_on json,
        anomaly_config json,
        primary key (invocation_id, unique_id)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.anomaly_results (
        invocation_id varchar not null,
        relation varchar not null,
        column_name varchar not null,
        monitor varchar not null,
        metric varchar not null,
        status varchar not null,
        value double,
        expected_low double,
        expected_high double,
        training_mean double,
        training_stddev double,
        score double,
        training_size integer,
        sensitivity double,
        direction varchar,
        detail varchar,
        evaluated_at timestamp not null,
        primary key (invocation_id, relation, column_name, metric)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.evaluations (
        invocation_id varchar primary key,
        evaluated_at timestamp not null,
        results integer,
        warnings integer,
        failures integer
    )
    """,
    f"""
    create table if not exists {SCHEMA}.alerts (
        sent_at timestamp not null,
        incident_key varchar not null,
        invocation_id varchar,
        kind varchar,
        severity varchar,
        summary varchar,
        status varchar not null,
        channels varchar,
        error varchar
    )
    """,
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the observability schema and tables when missing."""
    for statement in DDL:
        con.execute(statement)


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "on").strip().lower() not in ("0", "off", "false", "no")


# -- artifacts -----------------------------------------------------------------


def artifact_from_result(dbt_result: Any) -> dict[str, Any]:
    """The run_results.json / sources.json dict of an in-process dbt invocation.

    Built with dbt's own artifact classes from the runner's result, so it is
    exactly what dbt writes to `target/`, minus the race with any other dbt
    process writing there at the same time.
    """
    result = getattr(dbt_result, "result", None)
    if result is None:
        raise PipelineError("dbt returned no result to record")
    from dbt.artifacts.schemas.freshness import FreshnessExecutionResultArtifact, FreshnessResult
    from dbt.artifacts.schemas.run import RunExecutionResult, RunResultsArtifact

    if isinstance(result, RunExecutionResult):
        artifact = RunResultsArtifact.from_execution_results(
            results=result.results,
            elapsed_time=result.elapsed_time,
            generated_at=result.generated_at,
            args=result.args,
        )
    elif isinstance(result, FreshnessResult):
        artifact = FreshnessExecutionResultArtifact.from_result(result)
    else:
        raise PipelineError(f"cannot record a dbt result of type {type(result).__name__}")
    return artifact.to_dict(omit_none=False)


def read_json(path: Path, attempts: int = 3) -> dict[str, Any]:
    """Read a dbt artifact; retries briefly if a concurrent dbt is rewriting it."""
    for attempt in range(attempts):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PipelineError(
                f"dbt artifact {path} is missing: run `tpch-elt build` (or dbt) first"
            ) from None
        except json.JSONDecodeError as exc:
            if attempt == attempts - 1:
                raise PipelineError(
                    f"dbt artifact {path} is not valid JSON ({exc.msg}): another dbt run may be "
                    "writing it; retry when it has finished"
                ) from exc
            time.sleep(0.2)
    raise AssertionError("unreachable")


def artifacts_in(directory: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """run_results.json and sources.json found in a dbt target directory, and its manifest."""
    if not directory.is_dir():
        raise PipelineError(f"dbt artifacts directory {directory} does not exist: pass dbt's target path")
    found = [
        read_json(directory / name)
        for name in ("run_results.json", "sources.json")
        if (directory / name).is_file()
    ]
    if not found:
        raise PipelineError(
            f"{directory} has neither run_results.json nor sources.json: pass the target "
            "directory of a finished dbt invocation"
        )
    manifest_path = directory / "manifest.json"
    return found, (read_json(manifest_path) if manifest_path.is_file() else None)


# -- small helpers ---------------------------------------------------------------


def _ts(value: Any) -> datetime | None:
    """ISO text or datetime -> naive UTC datetime (the warehouse's convention)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def relation_sql(relation: str) -> str:
    schema, _, name = relation.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _status(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _timing(result: Mapping[str, Any], name: str = "execute") -> tuple[datetime | None, datetime | None]:
    for entry in result.get("timing") or []:
        if entry.get("name") == name:
            return _ts(entry.get("started_at")), _ts(entry.get("completed_at"))
    return None, None


def _period_seconds(threshold: Mapping[str, Any] | None) -> float | None:
    if not threshold or not threshold.get("count") or not threshold.get("period"):
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}.get(str(threshold["period"]))
    return float(threshold["count"]) * unit if unit else None


# -- the manifest ------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A source or model table in the warehouse, as the manifest names it."""

    unique_id: str
    resource_type: str
    relation: str  # schema.name
    materialized: str | None


class Manifest:
    """The parts of dbt's manifest.json (v12) observability needs."""

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self.data = data or {}
        self.nodes: Mapping[str, Any] = self.data.get("nodes") or {}
        self.sources: Mapping[str, Any] = self.data.get("sources") or {}
        self.exposures: Mapping[str, Any] = self.data.get("exposures") or {}
        self.unit_tests: Mapping[str, Any] = self.data.get("unit_tests") or {}

    def node(self, unique_id: str) -> Mapping[str, Any]:
        return (
            self.nodes.get(unique_id) or self.sources.get(unique_id) or self.unit_tests.get(unique_id) or {}
        )

    def relations(self) -> list[Relation]:
        out = []
        for uid, source in self.sources.items():
            if (source.get("config") or {}).get("enabled", True):
                name = source.get("identifier") or source.get("name")
                out.append(Relation(uid, "source", f"{source['schema']}.{name}", None))
        for uid, node in self.nodes.items():
            config = node.get("config") or {}
            if node.get("resource_type") in ("model", "seed", "snapshot") and config.get("enabled", True):
                name = node.get("alias") or node.get("name")
                out.append(
                    Relation(
                        uid, node["resource_type"], f"{node['schema']}.{name}", config.get("materialized")
                    )
                )
        return out


def _meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Effective meta of a node or source: source-level < config < own."""
    merged: dict[str, Any] = {}
    for part in (
        resource.get("source_meta"),
        (resource.get("config") or {}).get("meta"),
        resource.get("meta"),
    ):
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def _column_meta(column: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in ((column.get("config") or {}).get("meta"), column.get("meta")):
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def anomaly_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The raw anomaly settings of a node: {'defaults', 'own', 'columns'}."""
    meta = _meta(resource)
    columns = {
        name: _column_meta(column).get("anomaly")
        for name, column in (resource.get("columns") or {}).items()
        if _column_meta(column).get("anomaly") is not None
    }
    return {
        "defaults": meta.get("anomaly_defaults") or {},
        "own": meta.get("anomaly") if meta.get("anomaly") is not None else {},
        "columns": columns,
    }


def _layer(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resource_type")
    if kind in ("source", "exposure"):
        return str(kind)
    fqn = resource.get("fqn") or []
    return str(fqn[1]) if len(fqn) > 2 else str(kind or "other")


# -- recording -----------------------------------------------------------------------


@dataclass
class RecordOutcome:
    invocation_id: str
    command: str
    recorded: bool  # False: this invocation was already recorded
    seconds: float = 0.0
    tables_measured: int = 0
    failing_samples: int = 0


@dataclass
class _Measured:
    table_rows: list[tuple] = field(default_factory=list)
    column_rows: list[tuple] = field(default_factory=list)
    snapshot_rows: list[tuple] = field(default_factory=list)


def is_recorded(con: duckdb.DuckDBPyConnection, invocation_id: str) -> bool:
    rows = con.execute(
        f"select count(*) from {SCHEMA}.invocations where invocation_id = ?", [invocation_id]
    ).fetchall()
    return bool(rows[0][0])


def record_artifact(
    con: duckdb.DuckDBPyConnection,
    artifact: Mapping[str, Any],
    manifest_data: Mapping[str, Any] | None,
    *,
    target: str | None = None,
    tests_from_batch: str | None = None,
    clock_start: float | None = None,
    sample_failures: bool = True,
) -> RecordOutcome:
    """Record one dbt invocation (a run_results or sources artifact); idempotent.

    `sample_failures`: run a failing test's compiled SQL to keep a sample of
    its failing rows. Only for invocations this pipeline ran itself: the SQL
    of an artifact handed in from elsewhere (`observe --artifacts`) is
    stored as text and never executed (it could write or read anything).

    Everything for the invocation is written in one transaction, the
    `invocations` row last: a crash leaves no partial invocation, and a
    second call for the same invocation_id changes nothing. `clock_start`
    (a perf_counter value) is when the caller began recording, so that the
    stored record_seconds covers reading the artifacts too.
    """
    started = time.perf_counter() if clock_start is None else clock_start
    metadata = artifact.get("metadata") or {}
    invocation_id = str(metadata.get("invocation_id") or "")
    if not invocation_id:
        raise PipelineError("dbt artifact has no metadata.invocation_id: it is not a dbt run result")
    is_freshness = "sources" in str(metadata.get("dbt_schema_version", ""))
    args = artifact.get("args") or {}
    command = "source freshness" if is_freshness else str(args.get("which") or "unknown")
    ensure_schema(con)
    if is_recorded(con, invocation_id):
        return RecordOutcome(invocation_id, command, recorded=False)
    manifest = Manifest(manifest_data)
    results = list(artifact.get("results") or [])
    started_at = _ts(metadata.get("invocation_started_at")) or _ts(metadata.get("generated_at"))
    ended_at = _ts(metadata.get("generated_at"))
    outcome = RecordOutcome(invocation_id, command, recorded=True)

    con.execute("begin transaction")
    try:
        if is_freshness:
            _record_freshness(con, invocation_id, results, manifest)
        else:
            outcome.failing_samples = _record_run_results(
                con, invocation_id, results, manifest, sample_failures=sample_failures
            )
            if command in ("build", "run") and manifest.data and started_at is not None:
                ran = {r["unique_id"] for r in results if _status(r.get("status")) == "success"}
                outcome.tables_measured = _record_measurements(con, manifest, ran, started_at, invocation_id)
        statuses = [_status(r.get("status")) for r in results]
        errors = sum(s in ("error", "runtime error") for s in statuses)
        fails = sum(s == "fail" for s in statuses)
        warns = sum(s == "warn" for s in statuses)
        status = "error" if errors else "fail" if fails else "warn" if warns else "success"
        selectors = {
            key: args.get(key)
            for key in ("select", "exclude", "selector", "full_refresh", "vars", "threads")
            if key in args
        }
        selectors["tests_from_batch"] = tests_from_batch or None
        if args.get("invocation_command"):
            selectors["invocation_command"] = args["invocation_command"]
        outcome.seconds = time.perf_counter() - started
        con.execute(
            f"insert into {SCHEMA}.invocations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                invocation_id,
                command,
                target or args.get("target"),
                json.dumps(selectors, default=str),
                started_at,
                ended_at,
                artifact.get("elapsed_time"),
                status,
                len(results),
                errors,
                fails,
                warns,
                metadata.get("dbt_version"),
                utc_now(),
                outcome.seconds,
            ],
        )
        con.execute("commit")
    except duckdb.ConstraintException:
        # A concurrent recorder of the same invocation won: nothing to add.
        con.execute("rollback")
        return RecordOutcome(invocation_id, command, recorded=False)
    except BaseException:
        con.execute("rollback")
        raise
    return outcome


def _record_measurements(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    ran: set[str],
    started_at: datetime,
    invocation_id: str,
) -> int:
    """Measure the sources and the models in `ran`, snapshot schemas and the manifest; tables measured."""
    measured = _measure(con, manifest, ran, started_at, invocation_id)
    _insert(con, "table_metrics", measured.table_rows)
    _insert(con, "column_metrics", measured.column_rows)
    _insert(con, "schema_snapshots", measured.snapshot_rows)
    _insert(con, "manifest_nodes", _manifest_rows(invocation_id, manifest))
    return len(measured.table_rows)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple]) -> None:
    """Multi-row inserts: one statement per INSERT_CHUNK rows (executemany is per row)."""
    if not rows:
        return
    row = "(" + ", ".join("?" for _ in rows[0]) + ")"
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        con.execute(
            f"insert into {SCHEMA}.{table} values {', '.join(row for _ in chunk)}",
            [value for item in chunk for value in item],
        )


def _record_run_results(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    results: Sequence[Mapping[str, Any]],
    manifest: Manifest,
    *,
    sample_failures: bool,
) -> int:
    model_rows, test_rows = [], []
    samples = 0
    for result in results:
        uid = str(result.get("unique_id"))
        kind = uid.split(".", 1)[0]
        node = manifest.node(uid)
        status = _status(result.get("status"))
        begin, end = _timing(result)
        seconds = result.get("execution_time")
        if kind in ("model", "seed", "snapshot"):
            response = result.get("adapter_response") or {}
            rows = response.get("rows_affected")
            name = node.get("alias") or node.get("name") or uid.rsplit(".", 1)[-1]
            model_rows.append(
                (
                    invocation_id,
                    uid,
                    node.get("name") or name,
                    kind,
                    f"{node['schema']}.{name}" if node.get("schema") else None,
                    (node.get("config") or {}).get("materialized"),
                    status,
                    begin,
                    end,
                    seconds,
                    int(rows) if isinstance(rows, (int, float)) and rows >= 0 else None,
                    result.get("message"),
                )
            )
        elif kind in ("test", "unit_test"):
            compiled = result.get("compiled_code")
            failures = result.get("failures")
            sample, sample_error = None, None
            if kind == "test" and status in ("fail", "warn") and compiled:
                if sample_failures:
                    sample, sample_error = failing_sample(con, compiled)
                    samples += sample is not None
                else:
                    sample_error = NOT_SAMPLED
            metadata = node.get("test_metadata") or {}
            test_type = "unit" if kind == "unit_test" else metadata.get("name") or "singular"
            depends = (node.get("depends_on") or {}).get("nodes") or []
            attached = node.get("attached_node") or (node.get("model") and next(iter(depends), None))
            if not attached and depends:
                attached = depends[-1]
            test_rows.append(
                (
                    invocation_id,
                    uid,
                    node.get("name") or uid.rsplit(".", 1)[-1],
                    kind,
                    test_type,
                    attached,
                    node.get("column_name"),
                    (node.get("config") or {}).get("severity"),
                    status,
                    int(failures) if isinstance(failures, (int, float)) else None,
                    result.get("message"),
                    seconds,
                    compiled[:COMPILED_SQL_MAX_CHARS] if compiled else None,
                    sample,
                    sample_error,
                )
            )
    _insert(con, "model_runs", model_rows)
    _insert(con, "test_results", test_rows)
    return samples


def failing_sample(con: duckdb.DuckDBPyConnection, compiled_sql: str) -> tuple[str | None, str | None]:
    """Up to SAMPLE_ROWS rows the test's compiled SQL returns, as a JSON array."""
    body = compiled_sql.strip().rstrip(";")
    try:
        rows = con.execute(
            f"select to_json(failing) from (select * from (\n{body}\n) limit {SAMPLE_ROWS}) as failing"
        ).fetchall()
    except duckdb.Error as exc:
        return None, first_line(exc)[:500]
    items: list[Any] = []
    size = 2
    for (text,) in rows:
        size += len(text) + 1
        if size > SAMPLE_MAX_CHARS:
            break
        items.append(json.loads(text))
    return json.dumps(items), None


def _record_freshness(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    results: Sequence[Mapping[str, Any]],
    manifest: Manifest,
) -> None:
    rows = []
    for result in results:
        uid = str(result.get("unique_id"))
        source = manifest.node(uid)
        criteria = result.get("criteria") or {}
        status = _status(result.get("status"))
        name = source.get("identifier") or source.get("name") or uid.rsplit(".", 1)[-1]
        rows.append(
            (
                invocation_id,
                uid,
                source.get("source_name") or uid.split(".")[-2],
                source.get("name") or uid.rsplit(".", 1)[-1],
                f"{source['schema']}.{name}" if source.get("schema") else None,
                status,
                _ts(result.get("max_loaded_at")),
                _ts(result.get("snapshotted_at")),
                result.get("max_loaded_at_time_ago_in_s"),
                _period_seconds(criteria.get("warn_after")),
                _period_seconds(criteria.get("error_after")),
                result.get("message") or result.get("error"),
            )
        )
    _insert(con, "source_freshness", rows)


# -- table and column metrics ---------------------------------------------------------


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


def _manifest_rows(invocation_id: str, manifest: Manifest) -> list[tuple]:
    """Sources, models and exposures with lineage, docs and test coverage."""
    tests: dict[str, int] = {}
    tested_columns: dict[str, set[str]] = {}
    for node in manifest.nodes.values():
        if node.get("resource_type") != "test":
            continue
        depends = (node.get("depends_on") or {}).get("nodes") or []
        attached = node.get("attached_node")
        for uid in [attached] if attached else depends:
            tests[uid] = tests.get(uid, 0) + 1
        if attached and node.get("column_name"):
            tested_columns.setdefault(attached, set()).add(str(node["column_name"]))
    unit_tests: dict[str, int] = {}
    for unit in manifest.unit_tests.values():
        for uid in (unit.get("depends_on") or {}).get("nodes") or []:
            if uid.startswith("model."):
                unit_tests[uid] = unit_tests.get(uid, 0) + 1
    rows = []
    resources = [
        *manifest.sources.values(),
        *(n for n in manifest.nodes.values() if n.get("resource_type") in ("model", "seed", "snapshot")),
        *manifest.exposures.values(),
    ]
    for resource in resources:
        uid = resource["unique_id"]
        kind = resource.get("resource_type")
        if kind == "exposure":
            relation = None
        else:
            name = resource.get("identifier") or resource.get("alias") or resource.get("name")
            relation = f"{resource.get('schema')}.{name}"
        columns = resource.get("columns") or {}
        documented = sorted(n for n, c in columns.items() if (c.get("description") or "").strip())
        rows.append(
            (
                invocation_id,
                uid,
                kind,
                resource.get("name"),
                relation,
                _layer(resource),
                (resource.get("config") or {}).get("materialized"),
                (resource.get("description") or "").strip()[:500],
                json.dumps(sorted(columns)),
                json.dumps(documented),
                json.dumps(sorted(tested_columns.get(uid, set()))),
                tests.get(uid, 0),
                unit_tests.get(uid, 0),
                json.dumps((resource.get("depends_on") or {}).get("nodes") or []),
                json.dumps(anomaly_meta(resource), default=str),
            )
        )
    return rows


# -- the build hook -------------------------------------------------------------------


def record_dbt_invocation(settings: Settings, dbt_result: Any) -> RecordOutcome | None:
    """Record a finished in-process dbt invocation; never raises.

    Called by `tpch_elt.transform.build` right after each dbt invocation. The build's
    own result is never touched: if recording fails, one warning line says
    why on stderr and the build carries on.
    """
    if not enabled() or settings.target != "dev" or getattr(dbt_result, "result", None) is None:
        return None
    clock_start = time.perf_counter()
    try:
        artifact = artifact_from_result(dbt_result)
        is_freshness = "sources" in str((artifact.get("metadata") or {}).get("dbt_schema_version", ""))
        manifest_path = settings.dbt_target_dir / "manifest.json"
        manifest = read_json(manifest_path) if manifest_path.is_file() else None
        if manifest is None and not is_freshness:
            raise PipelineError(f"{manifest_path} is missing")
        with connect(settings.warehouse_path) as con:
            return record_artifact(
                con,
                artifact,
                manifest,
                target=settings.target,
                tests_from_batch=os.environ.get("TPCH_ELT_TESTS_FROM_BATCH") or None,
                clock_start=clock_start,
            )
    except Exception as exc:
        print(
            f"warning: observability history not recorded for this dbt invocation "
            f"({first_line(exc)}); the build result is unaffected",
            file=sys.stderr,
        )
        return None


def record_artifacts_dir(settings: Settings, directory: Path) -> list[RecordOutcome]:
    """Record the dbt invocations whose artifacts are in `directory` (idempotent).

    The artifacts come from outside this process (`observe --artifacts`):
    their failures are recorded, their SQL is never run.
    """
    artifacts, manifest = artifacts_in(directory)
    with connect(settings.warehouse_path) as con:
        return [
            record_artifact(con, a, manifest, target=settings.target, sample_failures=False)
            for a in artifacts
        ]


# -- one orchestrated run, one build ---------------------------------------------------
#
# The Airflow DAG runs dbt one command per task (a model's run, its tests).
# Each command's results are added to the DAG run's own invocation id as
# they come (record_run_part), and the run is closed once, at the end
# (close_run): the sources and the models it built are measured then, like
# after one `tpch-elt build`, and the run becomes one `build` invocation in
# the history, the report and `observe`.


def record_run_part(settings: Settings, directory: Path, run_id: str) -> int:
    """Add one dbt command's results (its target directory) to run `run_id`; results added.

    A retried command replaces its earlier attempt's rows; once the run is
    closed nothing more is added. A `dbt source freshness` is recorded as
    its own invocation, as `tpch-elt build` records it.
    """
    artifacts, manifest_data = artifacts_in(directory)
    manifest = Manifest(manifest_data)
    added = 0
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        for artifact in artifacts:
            metadata = artifact.get("metadata") or {}
            if "sources" in str(metadata.get("dbt_schema_version", "")):
                record_artifact(con, artifact, manifest_data, target=settings.target)
                continue
            if is_recorded(con, run_id):
                continue
            results = list(artifact.get("results") or [])
            with transaction(con):
                ids = [str(r.get("unique_id")) for r in results]
                if ids:
                    marks = ", ".join("?" for _ in ids)
                    for table in ("model_runs", "test_results"):
                        con.execute(
                            f"delete from {SCHEMA}.{table} where invocation_id = ? and unique_id in ({marks})",
                            [run_id, *ids],
                        )
                # The DAG's own dbt task wrote these artifacts moments ago.
                _record_run_results(con, run_id, results, manifest, sample_failures=True)
            added += len(results)
    return added


def close_run(
    settings: Settings,
    run_id: str,
    manifest_data: Mapping[str, Any],
    *,
    started_at: datetime,
    selectors: Mapping[str, Any] | None = None,
) -> RecordOutcome:
    """Record run `run_id` as one `build` invocation and measure what it changed; idempotent.

    `started_at` is when the run began (naive UTC, as dbt's times are
    stored): the measurements compare with the builds before it.
    """
    clock_start = time.perf_counter()
    if started_at.tzinfo is not None:
        started_at = started_at.astimezone(UTC).replace(tzinfo=None)
    manifest = Manifest(manifest_data)
    outcome = RecordOutcome(run_id, "build", recorded=True)
    with connect(settings.warehouse_path) as con:
        ensure_schema(con)
        if is_recorded(con, run_id):
            return RecordOutcome(run_id, "build", recorded=False)
        with transaction(con):
            counts = dict(
                con.execute(
                    f"""
                    select status, count(*) from (
                        select status from {SCHEMA}.model_runs where invocation_id = ?
                        union all select status from {SCHEMA}.test_results where invocation_id = ?
                    ) group by status
                    """,
                    [run_id, run_id],
                ).fetchall()
            )
            ran = {
                row[0]
                for row in con.execute(
                    f"select unique_id from {SCHEMA}.model_runs where invocation_id = ? and status = 'success'",
                    [run_id],
                ).fetchall()
            }
            outcome.tables_measured = _record_measurements(con, manifest, ran, started_at, run_id)
            errors = counts.get("error", 0) + counts.get("runtime error", 0)
            fails, warns = counts.get("fail", 0), counts.get("warn", 0)
            status = "error" if errors else "fail" if fails else "warn" if warns else "success"
            ended_at = utc_now()
            outcome.seconds = time.perf_counter() - clock_start
            con.execute(
                f"insert into {SCHEMA}.invocations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    "build",
                    settings.target,
                    json.dumps(dict(selectors or {}), default=str),
                    started_at,
                    ended_at,
                    (ended_at - started_at).total_seconds(),
                    status,
                    sum(counts.values()),
                    errors,
                    fails,
                    warns,
                    (manifest.data.get("metadata") or {}).get("dbt_version"),
                    ended_at,
                    outcome.seconds,
                ],
            )
    return outcome
