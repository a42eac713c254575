"""The insights page: a summary line, a contents list, and one section per
business question with its answer sentence, chart, table, mart and proxy.

Every number on the page comes from a query on a mart (schema `mart`);
nothing is hard-coded.
"""

from __future__ import annotations

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.reports.charts import number
from tpch_elt.reports.html import render as render_template
from tpch_elt.reports.insights.answer import SCHEMA, Marts, money
from tpch_elt.reports.insights.questions import INSIGHTS, insight_marts
from tpch_elt.reports.page import Page, require_tables


def render(con: duckdb.DuckDBPyConnection) -> str:
    """The insights page's content: a summary line, a contents list, one section per BQ."""
    require_tables(con, SCHEMA, ["mart_orders", *insight_marts()])
    marts = Marts(con)
    scope = marts.one(
        """
        select max(order_date) as as_of, min(order_date) as first_date, count(*) as orders,
               count(distinct customer_key) as customers, sum(net_revenue) as revenue
        from mart.mart_orders
        """
    )
    if not scope["orders"]:
        raise PipelineError("mart.mart_orders is empty: load data and run `tpch-elt build` first")
    return render_template(
        "insights.html",
        schema=SCHEMA,
        as_of=scope["as_of"],
        first_date=scope["first_date"],
        orders=number(scope["orders"]),
        customers=number(scope["customers"]),
        revenue=money(scope["revenue"]),
        sections=[(insight, insight.answer(marts)) for insight in INSIGHTS],
    )


PAGE = Page(
    slug="insights",
    title="TPC-H business insights",
    summary="BQ01–BQ16 answered from the marts, with charts and the tables behind them",
    render=render,
    # Only marts that passed their tests (write–audit–publish), and never
    # blocked by a build in progress.
    reads="published",
)
