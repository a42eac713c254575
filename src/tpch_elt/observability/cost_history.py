"""Reading cost per model back: the latest build's models, the trend over builds, the heaviest scans.

Shared by `tpch-elt cost` (tpch_elt.cli.cost) and the observability page's
cost section (tpch_elt.reports.observability.cost). Reads only
observability.model_costs (and model_runs for dbt's own seconds, raw.customer
for the scale factor the warehouse holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

import duckdb

from tpch_elt.observability.cost import SOURCE_DUCKDB
from tpch_elt.observability.store import SCHEMA
from tpch_elt.tpch import table
from tpch_elt.warehouse.connection import table_exists

RECENT_BUILDS = 30


@dataclass(frozen=True)
class CostBuild:
    invocation_id: str
    started_at: datetime | None
    models: int
    seconds: float  # profiled seconds, all models
    bytes_scanned: int
    credits: float | None  # Snowflake only


@dataclass(frozen=True)
class ModelCostRow:
    unique_id: str
    name: str
    seconds: float
    dbt_seconds: float | None  # dbt's execution time of the node (all its statements and overhead)
    rows_read: int
    rows_written: int
    bytes_scanned: int
    bytes_written: int
    peak_memory: int
    credits: float | None
    median_seconds: float  # over the recent builds that built it
    builds: int  # recent builds that built it


def has_costs(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, SCHEMA, "model_costs")


def builds(
    con: duckdb.DuckDBPyConnection, source: str = SOURCE_DUCKDB, limit: int = RECENT_BUILDS
) -> list[CostBuild]:
    """The last `limit` builds with recorded costs, oldest first."""
    if not has_costs(con):
        return []
    rows = con.execute(
        f"""
        select c.invocation_id, min(i.started_at) as started_at, count(*) as models, sum(c.seconds),
               sum(c.bytes_scanned), sum(c.credits), max(c.recorded_at) as recorded_at
        from {SCHEMA}.model_costs as c
        left join {SCHEMA}.invocations as i on i.invocation_id = c.invocation_id
        where c.source = ?
        group by c.invocation_id
        order by coalesce(min(i.started_at), max(c.recorded_at)) desc
        limit {int(limit)}
        """,
        [source],
    ).fetchall()
    return [
        CostBuild(inv, started, int(models), float(seconds or 0), int(scanned or 0), credits)
        for inv, started, models, seconds, scanned, credits, _ in reversed(rows)
    ]


def per_model(
    con: duckdb.DuckDBPyConnection, shown: list[CostBuild], source: str = SOURCE_DUCKDB
) -> dict[str, dict[str, Any]]:
    """Each model's cost row by invocation, over the builds `shown`: {unique_id: {invocation_id: row}}."""
    if not shown:
        return {}
    ids = [b.invocation_id for b in shown]
    marks = ", ".join("?" for _ in ids)
    rows = con.execute(
        f"""
        select c.*, r.execution_seconds as dbt_seconds
        from {SCHEMA}.model_costs as c
        left join {SCHEMA}.model_runs as r on r.invocation_id = c.invocation_id and r.unique_id = c.unique_id
        where c.source = ? and c.invocation_id in ({marks})
        """,
        [source, *ids],
    )
    names = [d[0] for d in rows.description]
    out: dict[str, dict[str, Any]] = {}
    for values in rows.fetchall():
        row = dict(zip(names, values, strict=True))
        out.setdefault(row["unique_id"], {})[row["invocation_id"]] = row
    return out


def latest_models(
    con: duckdb.DuckDBPyConnection, shown: list[CostBuild], source: str = SOURCE_DUCKDB
) -> list[ModelCostRow]:
    """The latest build's models, most expensive (profiled seconds) first, with their recent median."""
    if not shown:
        return []
    latest = shown[-1].invocation_id
    history = per_model(con, shown, source)
    out = []
    for uid, by_build in history.items():
        row = by_build.get(latest)
        if row is None:
            continue
        out.append(
            ModelCostRow(
                unique_id=uid,
                name=str(row["name"] or uid),
                seconds=float(row["seconds"] or 0),
                dbt_seconds=row["dbt_seconds"],
                rows_read=int(row["rows_read"] or 0),
                rows_written=int(row["rows_written"] or 0),
                bytes_scanned=int(row["bytes_scanned"] or 0),
                bytes_written=int(row["bytes_written"] or 0),
                peak_memory=int(row["peak_memory"] or 0),
                credits=row["credits"],
                median_seconds=median(float(r["seconds"] or 0) for r in by_build.values()),
                builds=len(by_build),
            )
        )
    return sorted(out, key=lambda r: (-r.seconds, r.name))


def heaviest_scans(con: duckdb.DuckDBPyConnection, shown: list[CostBuild]) -> list[tuple[str, str, int]]:
    """(unique_id, name, largest bytes scanned) per model over the builds `shown`."""
    out = []
    for uid, by_build in per_model(con, shown).items():
        rows = list(by_build.values())
        largest = max(int(r["bytes_scanned"] or 0) for r in rows)
        out.append((uid, str(rows[-1]["name"] or uid), largest))
    return out


def measured_scale_factor(con: duckdb.DuckDBPyConnection) -> float | None:
    """The TPC-H scale factor the warehouse holds: raw.customer rows / rows at SF 1 (exact in TPC-H)."""
    if not table_exists(con, "raw", "customer"):
        return None
    rows = con.execute("select count(*) from raw.customer").fetchall()
    per_sf = table("customer").rows_at_sf1
    return rows[0][0] / per_sf if rows and rows[0][0] and per_sf else None
