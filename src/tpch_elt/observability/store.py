"""The observability schema in the warehouse: its tables and the helpers every writer shares.

Every dbt invocation is recorded into the `observability` schema,
append-only and idempotent per dbt `invocation_id` (recording the same
invocation again changes nothing):

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
    slos               per build, each model's service-level objective (dbt `meta.sla`)
    batch_profiles     per arrival batch, its drift profile (the learned detector's features)
                       and verdict
    drift_results      per arrival batch, every drift check (observability.drift)
    model_costs        per build and model: seconds, rows and bytes read and written, peak
                       memory (DuckDB's profiler) or credits (Snowflake's query history)

Recording a dbt invocation (`tpch_elt.observability.record`), measuring
tables (`tpch_elt.observability.metrics`) and an Airflow-orchestrated run
(`tpch_elt.observability.runs`) write these. Detection
(`tpch_elt.observability.detect`) and alerting (`tpch_elt.observability.alerts`)
read this history and append `anomaly_results`, `evaluations` and `alerts`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from tpch_elt.warehouse.sql import quote_ident

SCHEMA = "observability"
INSERT_CHUNK = 200
# Set to off/0/false to skip recording (e.g. to time dbt alone).
SWITCH_ENV = "TPCH_ELT_OBSERVABILITY"

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
    create table if not exists {SCHEMA}.slos (
        invocation_id varchar not null,
        unique_id varchar not null,
        name varchar,
        config json,
        primary key (invocation_id, unique_id)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.batch_profiles (
        batch_id integer not null,
        landed_at timestamp not null,
        status varchar not null,
        features json,
        evaluated_at timestamp not null,
        primary key (batch_id, landed_at)
    )
    """,
    f"""
    create table if not exists {SCHEMA}.drift_results (
        batch_id integer not null,
        landed_at timestamp not null,
        relation varchar not null,
        column_name varchar not null,
        detector varchar not null,
        metric varchar not null,
        value double,
        threshold double,
        status varchar not null,
        detail varchar,
        evaluated_at timestamp not null
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
    f"""
    create table if not exists {SCHEMA}.model_costs (
        invocation_id varchar not null,
        unique_id varchar not null,
        name varchar,
        source varchar not null,
        statements integer,
        seconds double,
        cpu_seconds double,
        rows_read bigint,
        rows_written bigint,
        bytes_read bigint,
        bytes_scanned bigint,
        bytes_written bigint,
        peak_memory bigint,
        credits double,
        warehouse_size varchar,
        recorded_at timestamp not null,
        primary key (invocation_id, unique_id, source)
    )
    """,
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the observability schema and tables when missing."""
    for statement in DDL:
        con.execute(statement)


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "on").strip().lower() not in ("0", "off", "false", "no")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def relation_sql(relation: str) -> str:
    schema, _, name = relation.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def is_recorded(con: duckdb.DuckDBPyConnection, invocation_id: str) -> bool:
    rows = con.execute(
        f"select count(*) from {SCHEMA}.invocations where invocation_id = ?", [invocation_id]
    ).fetchall()
    return bool(rows[0][0])


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
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
