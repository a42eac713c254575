"""What the observability page's sections share: the history window, reading
the `observability` schema, and how times and names are shown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from tpch_elt.observability.detect import Result
from tpch_elt.observability.store import SCHEMA
from tpch_elt.reports.page import query_rows

HISTORY_RUNS = 30
LAYERS = ("source", "staging", "intermediate", "mart", "exposure")
Con = duckdb.DuckDBPyConnection
Row = dict[str, Any]
Builds = Sequence[Row]  # invocations, oldest first

# The columns of observability.anomaly_results, in the order of Result's fields.
_RESULT_COLUMNS = (
    "invocation_id",
    "relation",
    "column_name",
    "monitor",
    "metric",
    "status",
    "value",
    "expected_low",
    "expected_high",
    "training_mean",
    "training_stddev",
    "score",
    "training_size",
    "sensitivity",
    "direction",
    "detail",
)


def result(row: Row) -> Result:
    """An anomaly_results row as the detector's Result."""
    return Result(*(row[column] for column in _RESULT_COLUMNS))


def builds_shown(con: Con) -> list[Row]:
    """The last HISTORY_RUNS build invocations, oldest first."""
    recent = query_rows(
        con,
        f"""
        select * from {SCHEMA}.invocations
        where command in ('build', 'run')
        order by started_at desc
        limit {HISTORY_RUNS}
    """,
    )
    return list(reversed(recent))


def in_builds(builds: Builds) -> tuple[list[str], str]:
    """The builds' invocation ids, and the `?, ?, …` that binds them in `in (…)`."""
    ids = [b["invocation_id"] for b in builds]
    return ids, ", ".join("?" for _ in ids)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "–"


def short(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "–"


def node_name(unique_id: str | None) -> str:
    return (unique_id or "").rsplit(".", 1)[-1]


def label_step(count: int) -> int:
    """Label every n-th build so x labels do not collide."""
    return max(1, round(count / 8))
