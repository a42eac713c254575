"""Load into Snowflake: landing Parquet files -> `RAW.<table>` through the connector.

The Snowflake counterpart of `load.py`, for users who want their own
generated data (or the CI emulator) in Snowflake instead of reading the
`SNOWFLAKE_SAMPLE_DATA` share. Each landing file is uploaded with `PUT` to
its table's stage and copied with `COPY INTO ... FROM (select $1:col ...)`,
which adds `_batch_id` (0) and `_loaded_at` (UTC) like the DuckDB loader.
All the copies run in one transaction (COPY is DML in Snowflake), so a
failure part-way leaves `RAW` as it was. When `generate` held orders back as
batches, only the initial share of orders and line items stays loaded.

Credentials come from the same `SNOWFLAKE_*` environment variables as the
dbt profile's `snowflake` target (see README, "Running on Snowflake"):

    python -m tpch_elt.load.snowflake --scale-factor 1 [--data-dir data]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import BATCH_TABLES, batch_dir, read_plan
from tpch_elt.load.full_load import INITIAL_BATCH_ID, TableLoaded, check_landing_file, landing_files, utc_now
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES, TableSpec, column_type

RAW_SCHEMA = "RAW"


def snowflake_type(column: str) -> str:
    """Snowflake type of TPC-H column `column` (tpch.py)."""
    return column_type(column).snowflake


@dataclass(frozen=True)
class SnowflakeLoadResult:
    batch_id: int
    loaded_at: datetime
    row_counts: dict[str, int]


def connection_params(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`snowflake.connector.connect` arguments from SNOWFLAKE_* variables.

    Password or key-pair authentication, the same variables the dbt profile
    reads. Client telemetry is off; nothing else is sent anywhere but the
    account itself.
    """
    env = os.environ if env is None else env
    missing = [name for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER") if not env.get(name)]
    key_path = env.get("SNOWFLAKE_PRIVATE_KEY_PATH", "")
    if not key_path and not env.get("SNOWFLAKE_PASSWORD"):
        missing.append("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH")
    if missing:
        raise PipelineError(
            f'Snowflake credentials missing: set {", ".join(missing)} (see README, "Running on Snowflake")'
        )
    params: dict[str, Any] = {
        "account": env["SNOWFLAKE_ACCOUNT"],
        "user": env["SNOWFLAKE_USER"],
        "database": env.get("SNOWFLAKE_DATABASE") or "TPCH_ELT",
        "schema": RAW_SCHEMA,
        "application": "tpch-elt",
        "session_parameters": {"CLIENT_TELEMETRY_ENABLED": False},
        "log_imported_packages_in_telemetry": False,
    }
    for name, key in (("SNOWFLAKE_ROLE", "role"), ("SNOWFLAKE_WAREHOUSE", "warehouse")):
        if env.get(name):
            params[key] = env[name]
    if key_path:
        params["private_key_file"] = key_path
        if env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            params["private_key_file_pwd"] = env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    else:
        params["password"] = env["SNOWFLAKE_PASSWORD"]
    return params


def connect(env: Mapping[str, str] | None = None) -> Any:
    """An open Snowflake connection (autocommit off is set by `load_snowflake`)."""
    import snowflake.connector  # optional dependency: the `snowflake` extra

    try:
        connection = snowflake.connector.connect(**connection_params(env))
    except snowflake.connector.errors.Error as exc:
        raise PipelineError(f"cannot connect to Snowflake: {exc}") from exc
    # client-side switch too, whatever the account's parameters say
    connection.telemetry_enabled = False
    return connection


def _file_url(path: Path) -> str:
    # PUT takes a file:// URL in quotes; single quotes are doubled in SQL
    return "file://" + path.resolve().as_posix().replace("'", "''")


def _create_table_sql(spec: TableSpec) -> str:
    columns = [f"{column} {snowflake_type(column)}" for column in spec.columns]
    columns += ["_batch_id integer not null", "_loaded_at timestamp_ntz not null"]
    return f"create table if not exists {RAW_SCHEMA}.{spec.name} ({', '.join(columns)})"


def _copy_sql(spec: TableSpec, batch_id: int, loaded_at: datetime) -> str:
    # COPY with a transformation: each Parquet field by name, typed, plus the
    # load bookkeeping, from the table's own stage (which holds only the file
    # just put there). FORCE reloads a file the table already saw; PURGE
    # removes it once loaded.
    fields = [f"$1:{column}::{snowflake_type(column)}" for column in spec.columns]
    fields += [
        f"{batch_id}",
        f"'{loaded_at.isoformat(sep=' ')}'::timestamp_ntz",
    ]
    columns = [*spec.columns, "_batch_id", "_loaded_at"]
    return (
        f"copy into {RAW_SCHEMA}.{spec.name} ({', '.join(columns)}) "
        f"from (select {', '.join(fields)} from @{RAW_SCHEMA}.%{spec.name}) "
        "file_format = (type = parquet) force = true purge = true"
    )


def _put(cursor: Any, path: Path, table: str) -> None:
    # the table's own stage; AUTO_COMPRESS off: Parquet is compressed already
    cursor.execute(f"put '{_file_url(path)}' @{RAW_SCHEMA}.%{table} auto_compress = false overwrite = true")


def _count(cursor: Any, sql: str) -> int:
    row = cursor.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _check_files(files: dict[TableSpec, Path]) -> None:
    """Raise before anything is uploaded unless every file is readable
    Parquet with its table's columns (the DuckDB loader's check)."""
    for path in files.values():
        if not path.is_file():
            raise PipelineError(f"landing file {path} is missing: run `tpch-elt generate` first")
    with duckdb.connect() as con:
        for spec, path in files.items():
            check_landing_file(con, spec, path)


def _fail(exc: BaseException, current: str) -> PipelineError:
    text = str(exc).strip()
    reason = text.splitlines()[-1] if text else type(exc).__name__
    return PipelineError(
        f"Snowflake load failed while loading {current} ({reason}); "
        f"{RAW_SCHEMA} is unchanged: fix the file or the grants and load again"
    )


def load_snowflake(
    connection: Any,
    settings: Settings,
    scale_factor: float,
    *,
    on_table: TableLoaded | None = None,
) -> SnowflakeLoadResult:
    """Replace `RAW`'s eight tables with the landing files of `scale_factor`.

    `connection` is an open `snowflake.connector` connection (real or
    emulated). Tables are created when missing; their rows are replaced in
    one transaction.
    """
    import snowflake.connector

    files = landing_files(settings, scale_factor)
    _check_files({spec: files[spec.name] for spec in TABLES})
    plan = read_plan(settings.landing_dir(scale_factor))
    loaded_at = utc_now()
    row_counts: dict[str, int] = {}
    cursor = connection.cursor()
    current = f"schema {RAW_SCHEMA}"
    try:
        # DDL and PUT commit on their own in Snowflake: do them first.
        cursor.execute(f"create schema if not exists {RAW_SCHEMA}")
        for spec in TABLES:
            current = str(files[spec.name])
            cursor.execute(_create_table_sql(spec))
            _put(cursor, files[spec.name], spec.name)
        cursor.execute("begin")
        try:
            for spec in TABLES:
                current = str(files[spec.name])
                cursor.execute(f"delete from {RAW_SCHEMA}.{spec.name}")
                cursor.execute(_copy_sql(spec, INITIAL_BATCH_ID, loaded_at))
                if plan is not None and spec.name in BATCH_TABLES:
                    # the held-back orders arrive later, as batches
                    key = "o_orderkey" if spec.name == "orders" else "l_orderkey"
                    cursor.execute(
                        f"delete from {RAW_SCHEMA}.{spec.name} "
                        f"where {key} > {int(plan.initial_max_order_key)}"
                    )
                row_counts[spec.name] = _count(cursor, f"select count(*) from {RAW_SCHEMA}.{spec.name}")
                if on_table is not None:
                    on_table(spec.name, row_counts[spec.name])
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
    except snowflake.connector.errors.Error as exc:
        raise _fail(exc, current) from exc
    finally:
        cursor.close()
    return SnowflakeLoadResult(INITIAL_BATCH_ID, loaded_at, row_counts)


def append_batch_snowflake(
    connection: Any,
    settings: Settings,
    scale_factor: float,
    batch_id: int,
) -> SnowflakeLoadResult | None:
    """Append arrival batch `batch_id` (orders and line items) to `RAW`.

    One transaction; None when the batch is already loaded. Unlike
    `tpch-elt ingest` on DuckDB this applies no quarantine rules: the
    batches `generate` writes are clean, and the dbt tests still check
    every appended row.
    """
    import snowflake.connector

    landing = settings.landing_dir(scale_factor)
    plan = read_plan(landing)
    if plan is None or not 1 <= batch_id <= len(plan.batches):
        raise PipelineError(
            f"{landing} has no arrival batch {batch_id}: run `tpch-elt generate "
            "--initial-fraction F --batches N` first"
        )
    files = {table: batch_dir(landing, batch_id) / f"{table}.parquet" for table in BATCH_TABLES}
    _check_files({spec: files[spec.name] for spec in TABLES if spec.name in files})
    loaded_at = utc_now()
    row_counts: dict[str, int] = {}
    cursor = connection.cursor()
    current = f"batch {batch_id}"
    try:
        loaded = _count(cursor, f"select max(_batch_id) from {RAW_SCHEMA}.orders")
        if loaded >= batch_id:
            return None
        if loaded != batch_id - 1:
            raise PipelineError(f"{RAW_SCHEMA} holds batches up to {loaded}: append batch {loaded + 1} first")
        for table, path in files.items():
            current = str(path)
            _put(cursor, path, table)
        cursor.execute("begin")
        try:
            for table, path in files.items():
                current = str(path)
                spec = next(spec for spec in TABLES if spec.name == table)
                cursor.execute(_copy_sql(spec, batch_id, loaded_at))
                row_counts[table] = _count(
                    cursor,
                    f"select count(*) from {RAW_SCHEMA}.{table} where _batch_id = {batch_id}",
                )
            cursor.execute("commit")
        except BaseException:
            cursor.execute("rollback")
            raise
    except snowflake.connector.errors.Error as exc:
        raise _fail(exc, current) from exc
    finally:
        cursor.close()
    return SnowflakeLoadResult(batch_id, loaded_at, row_counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpch_elt.load.snowflake",
        description="Load landing Parquet files into Snowflake RAW (SNOWFLAKE_* env vars).",
    )
    parser.add_argument("--scale-factor", "-s", type=float, default=1.0)
    parser.add_argument("--data-dir", default=os.environ.get("TPCH_ELT_DATA_DIR", "data"))
    parser.add_argument(
        "--batch", type=int, default=None, help="append this arrival batch instead of loading"
    )
    args = parser.parse_args(argv)
    settings = Settings(data_dir=Path(args.data_dir))
    try:
        connection = connect()
        try:
            if args.batch is None:
                result = load_snowflake(connection, settings, args.scale_factor)
            else:
                appended = append_batch_snowflake(connection, settings, args.scale_factor, args.batch)
                if appended is None:
                    print(f"batch {args.batch} is already loaded: nothing to do")
                    return 0
                result = appended
        finally:
            connection.close()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, rows in result.row_counts.items():
        print(f"{RAW_SCHEMA}.{name}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
