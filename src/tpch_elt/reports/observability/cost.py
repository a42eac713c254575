"""The observability page's cost section: profiled seconds per build (in all and for the most
expensive models) and the most expensive models of the latest build with their recent median.

From observability.model_costs (tpch_elt.observability.cost, read through
tpch_elt.observability.cost_history); the section renders its own template,
observability_cost.html, and is absent before the first build with costs.
"""

from __future__ import annotations

from markupsafe import Markup

from tpch_elt.observability import cost_history
from tpch_elt.reports.charts import Series, line_chart
from tpch_elt.reports.html import Table
from tpch_elt.reports.html import render as render_template
from tpch_elt.reports.observability.common import Con, label_step, short

MAX_TREND_SERIES = 5
MAX_MODELS = 15


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:,.2f}"


def section(con: Con) -> Markup | None:
    """The section's HTML, or None when no build recorded model costs."""
    shown = cost_history.builds(con, limit=cost_history.RECENT_BUILDS)
    if not shown:
        return None
    models = cost_history.latest_models(con, shown)
    history = cost_history.per_model(con, shown)
    ids = [b.invocation_id for b in shown]
    labels = [short(b.started_at) for b in shown]
    top = [m.unique_id for m in sorted(models, key=lambda m: (-m.median_seconds, m.name))[:MAX_TREND_SERIES]]
    names = {m.unique_id: m.name for m in models}
    series = [Series("all models", [b.seconds for b in shown])]
    series += [
        Series(names[uid], [_seconds(history[uid].get(inv)) for inv in ids]) for uid in top if uid in history
    ]
    chart = line_chart(
        labels,
        series,
        title=f"Profiled seconds per build: all models and the {len(top)} with the highest median",
        include_zero=True,
        label_every=label_step(len(labels)),
        value_format=lambda v: f"{v:.2f}",
    )
    table = Table(
        [
            "model",
            "latest s",
            "median s",
            "builds",
            "dbt s",
            "rows read",
            "rows written",
            "MB scanned",
            "MB written",
            "peak MB",
        ],
        [
            [
                m.name,
                f"{m.seconds:.3f}",
                f"{m.median_seconds:.3f}",
                str(m.builds),
                "–" if m.dbt_seconds is None else f"{m.dbt_seconds:.2f}",
                f"{m.rows_read:,}",
                f"{m.rows_written:,}",
                _mb(m.bytes_scanned),
                _mb(m.bytes_written),
                _mb(m.peak_memory),
            ]
            for m in models[:MAX_MODELS]
        ],
        [False, True, True, True, True, True, True, True, True, True],
        f"The {min(MAX_MODELS, len(models))} most expensive models of the latest build (profiled seconds), "
        f"with their median over the last {len(shown)} builds with costs",
    )
    return render_template("observability_cost.html", chart=chart, table=table)


def _seconds(row: dict[str, object] | None) -> float | None:
    if row is None:
        return None
    value = row.get("seconds")
    return float(value) if isinstance(value, (int, float)) else None
