"""Run one step against the fakesnow Snowflake emulator, in this process.

fakesnow patches `snowflake.connector.connect` in-process only, so
tests/integration/test_snowflake_emulated.py runs every step as a subprocess of this script:

    python tests/scripts/snowflake_emulator.py --db-path DIR --report OUT.json load --data-dir D -s SF [--batch N ...]
    python tests/scripts/snowflake_emulator.py --db-path DIR --report OUT.json dbt build --target snowflake ...
    python tests/scripts/snowflake_emulator.py --db-path DIR --report OUT.json query "select ..." ...

The emulated databases persist as DuckDB files in DIR between steps. Every
step runs with outbound sockets refused: an attempt to reach the network
(telemetry, OCSP, a real account) fails the step and is listed in the
report under "network_attempts".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

# What the dbt profile's `snowflake` target reads; fakesnow accepts anything.
EMULATOR_ENV = {
    "SNOWFLAKE_ACCOUNT": "fakesnow",
    "SNOWFLAKE_USER": "ci",
    "SNOWFLAKE_PASSWORD": "emulated",
    "SNOWFLAKE_ROLE": "CI",
    "SNOWFLAKE_WAREHOUSE": "CI_XS",
    "SNOWFLAKE_DATABASE": "TPCH_ELT",
    "SNOWFLAKE_SCHEMA": "PUBLIC",
}

network_attempts: list[str] = []


def _refuse_network() -> None:
    """Refuse (and record) every outbound connection from this process."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def refuse(sock: socket.socket, address: Any) -> Any:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return original_connect(sock, address)
        network_attempts.append(repr(address))
        raise ConnectionRefusedError(f"network disabled under the emulator: {address!r}")

    def refuse_ex(sock: socket.socket, address: Any) -> Any:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return original_connect_ex(sock, address)
        network_attempts.append(repr(address))
        return 111  # ECONNREFUSED

    def refuse_create(address: Any, *args: Any, **kwargs: Any) -> Any:
        network_attempts.append(repr(address))
        raise ConnectionRefusedError(f"network disabled under the emulator: {address!r}")

    def refuse_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        network_attempts.append(f"DNS lookup of {host!r}")
        raise socket.gaierror(f"name resolution disabled under the emulator: {host!r}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse_ex  # type: ignore[method-assign]
    socket.create_connection = refuse_create  # type: ignore[assignment]
    socket.getaddrinfo = refuse_lookup  # type: ignore[assignment]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    from tpch_elt.load import snowflake as snowflake_load
    from tpch_elt.settings import Settings

    settings = Settings(data_dir=Path(args.data_dir))
    loads = []
    connection = snowflake_load.connect()
    try:
        if not args.append_only:
            result = snowflake_load.load_snowflake(connection, settings, args.scale_factor)
            loads.append(result)
        for batch_id in args.batch:
            appended = snowflake_load.append_batch_snowflake(
                connection, settings, args.scale_factor, batch_id
            )
            if appended is None:
                raise AssertionError(f"batch {batch_id} was already loaded")
            loads.append(appended)
    finally:
        connection.close()
    return {
        "success": True,
        "loads": [
            {
                "batch_id": load.batch_id,
                "loaded_at": load.loaded_at.isoformat(sep=" "),
                "row_counts": load.row_counts,
            }
            for load in loads
        ],
    }


def run_dbt(args: argparse.Namespace) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args.dbt_args)
    nodes = []
    for item in getattr(result.result, "results", None) or []:
        if not hasattr(item, "node"):  # run-operation: one result without a node
            continue
        nodes.append(
            {
                "unique_id": item.node.unique_id,
                "status": str(getattr(item.status, "value", item.status)),
                "message": str(item.message or ""),
                # source freshness results only
                "max_loaded_at": _jsonable(getattr(item, "max_loaded_at", None)),
            }
        )
    return {
        "success": bool(result.success),
        "exception": None if result.exception is None else str(result.exception),
        "nodes": nodes,
    }


def run_query(args: argparse.Namespace) -> dict[str, Any]:
    from tpch_elt.load import snowflake as snowflake_load

    connection = snowflake_load.connect()
    try:
        cursor = connection.cursor()
        results = []
        for sql in args.sql:
            rows = cursor.execute(sql).fetchall()
            results.append([[_jsonable(value) for value in row] for row in rows])
    finally:
        connection.close()
    return {"success": True, "results": results}


def run_reach(args: argparse.Namespace) -> dict[str, Any]:
    """Try to reach host:port: proves the network guard works."""
    import urllib.request

    try:
        urllib.request.urlopen(f"https://{args.host}:{args.port}/", timeout=2)
    except OSError as exc:
        return {"success": True, "refused": str(exc)}
    return {"success": True, "refused": None}


def _accept_query_tags(transforms: Any) -> None:
    """Emulator gap, not a Snowflake behaviour: fakesnow rejects `ALTER SESSION SET/UNSET
    QUERY_TAG` (NotImplementedError), which the project's `set_query_tag` macro runs for every
    dbt node on Snowflake (dbt_project/macros/query_tag.sql). fakesnow keeps no query history,
    so a tag would have nowhere to go: the statement is accepted as a no-op. The credits SQL
    is checked against a stand-in QUERY_HISTORY table instead
    (tests/integration/test_snowflake_cost_emulated.py)."""
    from sqlglot import exp

    original = transforms.alter_session

    def alter_session(expression: Any) -> Any:
        if isinstance(expression, exp.Alter) and expression.kind == "SESSION":
            names = {ident.this.upper() for ident in expression.find_all(exp.Identifier)}
            if names == {"QUERY_TAG"}:
                return transforms.SUCCESS_NOP.copy()
        return original(expression)

    transforms.alter_session = alter_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db-path", required=True, help="directory of the emulated databases")
    parser.add_argument("--report", required=True, help="JSON file the step's outcome goes to")
    parser.add_argument(
        "--attach",
        action="append",
        default=[],
        help="another emulated database to open before the step (fakesnow only "
        "sees databases a connection named; Snowflake sees every one granted)",
    )
    steps = parser.add_subparsers(dest="step", required=True)
    load = steps.add_parser("load")
    load.add_argument("--data-dir", required=True)
    load.add_argument("--scale-factor", "-s", type=float, required=True)
    load.add_argument("--batch", type=int, action="append", default=[], help="then append this arrival batch")
    load.add_argument("--append-only", action="store_true", help="only append the batches")
    dbt = steps.add_parser("dbt")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    query = steps.add_parser("query")
    query.add_argument("sql", nargs="+")
    reach = steps.add_parser("reach", help="try to reach HOST:PORT (guard self-test)")
    reach.add_argument("host")
    reach.add_argument("port", type=int)
    args = parser.parse_args(argv)

    for key, value in EMULATOR_ENV.items():
        os.environ.setdefault(key, value)
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # fakesnow on DuckDB 2 warns on every result it converts to Arrow, and
    # sqlglot on every TRANSIENT table it cannot express in DuckDB.
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    _refuse_network()

    import fakesnow
    import fakesnow.transforms

    # Emulator defect, not a Snowflake behaviour: fakesnow's
    # `numeric_agg_implicit_cast` transform (tekumara/fakesnow#326) rewrites
    # every SUM/AVG/STDDEV argument to TRY_CAST(... AS DOUBLE), so
    # SUM(NUMBER(18,4)) comes back as FLOAT. Snowflake returns an exact
    # NUMBER(38,4), and this project's reconciliation tests compare money to
    # the last decimal. The transform exists only to emulate Snowflake's
    # implicit VARCHAR-to-number cast inside aggregates, which no model here
    # relies on, so it is switched off: DuckDB's SUM(DECIMAL) is exact, as
    # Snowflake's is.
    if not hasattr(fakesnow.transforms, "numeric_agg_implicit_cast"):
        raise RuntimeError(
            "fakesnow.transforms.numeric_agg_implicit_cast is gone: check whether "
            "this fakesnow keeps SUM(NUMBER) exact and update tests/scripts/snowflake_emulator.py"
        )
    fakesnow.transforms.numeric_agg_implicit_cast = lambda expression: expression
    _accept_query_tags(fakesnow.transforms)

    Path(args.db_path).mkdir(parents=True, exist_ok=True)
    step = {"load": run_load, "dbt": run_dbt, "query": run_query, "reach": run_reach}[args.step]
    started = time.perf_counter()
    try:
        with fakesnow.patch(db_path=args.db_path):
            import snowflake.connector

            # fakesnow creates a connection's database and schema on the
            # first connect that names them, without a lock: dbt threads
            # connecting at once race ("Unique file handle conflict: Cannot
            # attach", "Schema with name "PUBLIC" already exists!"). Open
            # the target database and schema, and any other database the
            # step reads, before dbt starts its threads.
            snowflake.connector.connect(
                database=os.environ["SNOWFLAKE_DATABASE"], schema=os.environ["SNOWFLAKE_SCHEMA"]
            ).close()
            for database in args.attach:
                snowflake.connector.connect(database=database).close()
            report = step(args)
    except Exception as exc:  # reported, then re-raised for the traceback
        report = {"success": False, "exception": f"{type(exc).__name__}: {exc}"}
        report["network_attempts"] = network_attempts
        Path(args.report).write_text(json.dumps(report, indent=2))
        raise
    finally:
        # fakesnow keeps internal stages in a temporary directory per process
        # and never removes it
        import fakesnow.transforms.stage

        shutil.rmtree(fakesnow.transforms.stage.LOCAL_BUCKET_PATH, ignore_errors=True)
    report["network_attempts"] = network_attempts
    report["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.report).write_text(json.dumps(report, indent=2))
    return 0 if report["success"] and not network_attempts else 1


if __name__ == "__main__":
    sys.exit(main())
