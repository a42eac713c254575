"""What every answer is made of: read-only queries on the marts, the Answer
a question function returns, and the wording of its numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
from markupsafe import Markup

from tpch_elt.errors import PipelineError
from tpch_elt.reports.charts import compact, percent
from tpch_elt.reports.html import Table
from tpch_elt.reports.page import query_rows

SCHEMA = "mart"
TOP_N = 10
# Relative difference below which the page calls a contrast immaterial
# ("seasonality is weak", "ship mode makes no material difference").
MATERIAL_DIFFERENCE = 0.05

Row = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A question answered: one sentence computed from the data, a chart, the table behind it."""

    sentence: str
    chart: Markup
    table: Table


class Marts:
    """Read-only queries on the mart schema, rows as dicts."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return query_rows(self._con, sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row:
        rows = self.rows(sql, params)
        if not rows:
            query = " ".join(sql.split())
            raise PipelineError(
                f"no rows from `{query[:120]}`: is the mart empty? rebuild it with `tpch-elt build --full-tests`"
            )
        return rows[0]


def to_float(value: Any) -> float | None:
    return None if value is None else float(value)


def money(value: Any) -> str:
    return compact(to_float(value))


def pct(value: Any, digits: int = 1) -> str:
    return percent(to_float(value), digits)


def ratio(a: Any, b: Any) -> float | None:
    return None if a is None or b in (None, 0) else float(a) / float(b)


def change(a: Any, b: Any) -> float | None:
    """How much `a` exceeds `b`, relative to `b` (0.25 = 25 % more); None without a ratio."""
    quotient = ratio(a, b)
    return None if quotient is None else quotient - 1


def material(high: Any, low: Any) -> bool:
    """True when `high` exceeds `low` by at least MATERIAL_DIFFERENCE (relative)."""
    high_f, low_f = float(high), float(low)
    if low_f == 0:
        return high_f != 0
    return abs(high_f - low_f) / abs(low_f) >= MATERIAL_DIFFERENCE


def month_label_step(label_count: int) -> int:
    """Label every n-th month so x labels do not collide."""
    return max(1, round(label_count / 8))
