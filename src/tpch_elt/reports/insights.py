"""The insights page: the specification's business questions BQ01..BQ16,
each answered from a tested mart with a sentence computed from the data, a
chart, the table behind it, the mart's name and, where TPC-H lacks the
data, the proxy used.

Every number on the page comes from a query on a mart (schema `mart`);
nothing is hard-coded. The marts and their proxies are documented in
dbt_project/models/mart/insights/ (one YAML per mart, named like it) and
declared as exposures in _insights__exposures.yml there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    column_chart,
    compact,
    heatmap,
    line_chart,
    number,
    percent,
)
from tpch_elt.reports.pages import Page, esc, html_table, require_tables

SCHEMA = "mart"
TOP_N = 10
# Relative difference below which the page calls a contrast immaterial
# ("seasonality is weak", "ship mode makes no material difference").
MATERIAL_DIFFERENCE = 0.05

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: Sequence[bool]
    caption: str


@dataclass(frozen=True)
class Answer:
    sentence: str
    chart: str
    table: Table


@dataclass(frozen=True)
class Insight:
    """One business question and how the page answers it."""

    bq: str
    question: str
    mart: str
    exposure: str
    answer: Callable[[Marts], Answer]
    proxy: str | None = None


class Marts:
    """Read-only queries on the mart schema, rows as dicts."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row:
        rows = self.rows(sql, params)
        if not rows:
            query = " ".join(sql.split())
            raise PipelineError(
                f"no rows from `{query[:120]}`: is the mart empty? rebuild it with `tpch-elt build --full-tests`"
            )
        return rows[0]


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _money(value: Any) -> str:
    return compact(_f(value))


def _pct(value: Any, digits: int = 1) -> str:
    return percent(_f(value), digits)


def _ratio(a: Any, b: Any) -> float | None:
    return None if a is None or b in (None, 0) else float(a) / float(b)


def _material(high: Any, low: Any) -> bool:
    """True when `high` exceeds `low` by at least MATERIAL_DIFFERENCE (relative)."""
    high_f, low_f = float(high), float(low)
    if low_f == 0:
        return high_f != 0
    return abs(high_f - low_f) / abs(low_f) >= MATERIAL_DIFFERENCE


def _months(label_count: int) -> int:
    """Label every n-th month so x labels do not collide."""
    return max(1, round(label_count / 8))


# -- BQ01 ----------------------------------------------------------------------


def bq01(m: Marts) -> Answer:
    top = m.rows(
        """
        select part_name, brand, part_type, quantity, net_revenue, gross_margin,
               margin_rate, margin_rank
        from mart.mart_product_performance
        order by revenue_rank
        limit ?
        """,
        [TOP_N],
    )
    best_margin = m.one(
        "select part_name, gross_margin, margin_rate from mart.mart_product_performance where margin_rank = 1"
    )
    totals = m.one(
        """
        select sum(net_revenue) as revenue,
               sum(case when has_sales then 1 else 0 end) as sold,
               sum(gross_margin) / sum(net_revenue) as margin_rate,
               sum(case when revenue_rank <= ? then net_revenue else 0 end) as top_revenue
        from mart.mart_product_performance
        """,
        [TOP_N],
    )
    lead = top[0]
    sentence = (
        f"The top product by revenue is “{lead['part_name']}” ({lead['brand']}, {lead['part_type']}) with "
        f"{_money(lead['net_revenue'])} net revenue at a {_pct(lead['margin_rate'])} margin, the best by margin "
        f"is “{best_margin['part_name']}” with {_money(best_margin['gross_margin'])} of margin, and the top "
        f"{TOP_N} of {number(totals['sold'])} products sold earn "
        f"{_pct(_ratio(totals['top_revenue'], totals['revenue']), 2)} of revenue (overall margin "
        f"{_pct(totals['margin_rate'])})."
    )
    labels = [r["part_name"] for r in top]
    chart = bar_chart(
        labels,
        [
            Series("net revenue", [_f(r["net_revenue"]) for r in top]),
            Series("gross margin", [_f(r["gross_margin"]) for r in top]),
        ],
        title=f"Top {TOP_N} products by net revenue, with their gross margin",
        label_width=270,
    )
    table = Table(
        ["product", "brand", "type", "units", "net revenue", "gross margin", "margin", "margin rank"],
        [
            [
                r["part_name"],
                r["brand"],
                r["part_type"],
                number(r["quantity"]),
                _money(r["net_revenue"]),
                _money(r["gross_margin"]),
                _pct(r["margin_rate"]),
                number(r["margin_rank"]),
            ]
            for r in top
        ],
        [False, False, False, True, True, True, True, True],
        f"Top {TOP_N} products by net revenue",
    )
    return Answer(sentence, chart, table)


# -- BQ02 ----------------------------------------------------------------------


def bq02(m: Marts) -> Answer:
    by_market = m.rows(
        """
        select market_segment,
               sum(lifetime_value) / sum(ordering_customer_count) as avg_ltv
        from mart.mart_customer_segments
        group by 1
        order by 2 desc
        """
    )
    by_rfm = m.rows(
        """
        select rfm_segment,
               sum(lifetime_value) / sum(ordering_customer_count) as avg_ltv
        from mart.mart_customer_segments
        where ordering_customer_count > 0
        group by 1
        order by 2 desc
        """
    )
    cells = m.rows(
        """
        select market_segment, rfm_segment, customer_count, avg_lifetime_value,
               lifetime_value, lifetime_value_share
        from mart.mart_customer_segments
        where ordering_customer_count > 0
        order by avg_lifetime_value desc, market_segment, rfm_segment
        """
    )
    best, worst = by_market[0], by_market[-1]
    top_rfm, low_rfm = by_rfm[0], by_rfm[-1]
    pair = cells[0]
    sentence = (
        f"By behaviour, {top_rfm['rfm_segment']} customers have the highest lifetime value at "
        f"{_money(top_rfm['avg_ltv'])} each, {_ratio(top_rfm['avg_ltv'], low_rfm['avg_ltv']):.1f}× "
        f"{low_rfm['rfm_segment']} ({_money(low_rfm['avg_ltv'])}), while by market segment it "
        f"{'varies' if _material(best['avg_ltv'], worst['avg_ltv']) else 'barely differs'} "
        f"({best['market_segment']} {_money(best['avg_ltv'])} vs {worst['market_segment']} "
        f"{_money(worst['avg_ltv'])}); the most valuable pair is {pair['rfm_segment']} in "
        f"{pair['market_segment']} ({_money(pair['avg_lifetime_value'])} per customer)."
    )
    rfm_order = [r["rfm_segment"] for r in by_rfm]
    markets = sorted(r["market_segment"] for r in by_market)
    grid = {(c["rfm_segment"], c["market_segment"]): _f(c["avg_lifetime_value"]) for c in cells}
    chart = heatmap(
        rfm_order,
        markets,
        [[grid.get((rfm, market)) for market in markets] for rfm in rfm_order],
        title="Average lifetime value per customer: RFM segment × market segment",
    )
    table = Table(
        [
            "market segment",
            "RFM segment",
            "customers",
            "avg lifetime value",
            "lifetime value",
            "share of value",
        ],
        [
            [
                c["market_segment"],
                c["rfm_segment"],
                number(c["customer_count"]),
                _money(c["avg_lifetime_value"]),
                _money(c["lifetime_value"]),
                _pct(c["lifetime_value_share"]),
            ]
            for c in cells[:TOP_N]
        ],
        [False, False, True, True, True, True],
        f"Top {TOP_N} of {len(cells)} segment pairs by average lifetime value",
    )
    return Answer(sentence, chart, table)


# -- BQ03 ----------------------------------------------------------------------


def bq03(m: Marts) -> Answer:
    seasons = m.rows(
        """
        select season,
               count(*) as months,
               sum(order_count) * 1.0 / sum(days_in_month) as orders_per_day,
               sum(net_revenue) / sum(days_in_month) as revenue_per_day,
               sum(net_revenue) / count(*) as revenue_per_month,
               sum(gross_margin) / sum(net_revenue) as margin_rate,
               sum(net_revenue) / sum(order_count) as avg_order_value
        from mart.mart_sales_trends
        where is_complete_month
        group by season
        order by revenue_per_day desc
        """
    )
    if not seasons:
        raise PipelineError("mart.mart_sales_trends has no complete month: generate more data")
    months = m.rows(
        """
        select order_month, net_revenue, net_revenue / days_in_month as revenue_per_day
        from mart.mart_sales_trends
        where is_complete_month
        order by order_month
        """
    )
    best_month = max(months, key=lambda r: r["net_revenue"])
    strong, weak = seasons[0], seasons[-1]
    margins = [float(s["margin_rate"]) for s in seasons]
    strength = "marked" if _material(strong["revenue_per_day"], weak["revenue_per_day"]) else "weak"
    sentence = (
        f"Seasonality is {strength}: the strongest season, {strong['season']}, takes "
        f"{_money(strong['revenue_per_day'])} net revenue a day, "
        f"{_pct(_ratio(strong['revenue_per_day'], weak['revenue_per_day']) - 1)} more than "
        f"{weak['season']} ({_money(weak['revenue_per_day'])}), margin stays between "
        f"{percent(min(margins), 2)} and {percent(max(margins), 2)} in every season, and the best single month "
        f"was {best_month['order_month']:%B %Y} ({_money(best_month['net_revenue'])})."
    )
    labels = [f"{r['order_month']:%Y-%m}" for r in months]
    chart = line_chart(
        labels,
        [Series("net revenue per day", [_f(r["revenue_per_day"]) for r in months])],
        title="Net revenue per day, by complete month (per day removes the month-length effect)",
        label_every=_months(len(labels)),
    )
    table = Table(
        [
            "season",
            "months",
            "orders / day",
            "net revenue / day",
            "net revenue / month",
            "margin",
            "avg order value",
        ],
        [
            [
                s["season"],
                number(s["months"]),
                number(s["orders_per_day"], 1),
                _money(s["revenue_per_day"]),
                _money(s["revenue_per_month"]),
                _pct(s["margin_rate"], 2),
                _money(s["avg_order_value"]),
            ]
            for s in seasons
        ],
        [False, True, True, True, True, True, True],
        "Seasons (meteorological, northern hemisphere) over complete months, strongest first",
    )
    return Answer(sentence, chart, table)


# -- BQ04 ----------------------------------------------------------------------


def bq04(m: Marts) -> Answer:
    levels = m.rows(
        """
        select discount, line_count, avg_quantity_per_line, extended_price, discount_amount,
               net_revenue, gross_margin, margin_rate, undiscounted_margin_rate,
               margin_given_up_rate, below_cost_line_count
        from mart.mart_discount_impact
        order by discount
        """
    )
    totals = m.one(
        """
        select sum(discount_amount) as given, sum(extended_price) as list_value,
               sum(undiscounted_margin) as list_margin
        from mart.mart_discount_impact
        """
    )
    low, high = levels[0], levels[-1]
    volume = (
        "so deeper discounts do not buy volume"
        if not _material(high["avg_quantity_per_line"], low["avg_quantity_per_line"])
        else f"a {_pct(_ratio(high['avg_quantity_per_line'], low['avg_quantity_per_line']) - 1)} change in "
        "volume for the deepest discount"
    )
    sentence = (
        f"Discounts gave away {_money(totals['given'])}, "
        f"{_pct(_ratio(totals['given'], totals['list_value']))} of list value and "
        f"{_pct(_ratio(totals['given'], totals['list_margin']))} of the margin at list price; margin falls from "
        f"{_pct(low['margin_rate'])} at a {_pct(low['discount'], 0)} discount to {_pct(high['margin_rate'])} at "
        f"{_pct(high['discount'], 0)}, while units per line go from {number(low['avg_quantity_per_line'], 2)} "
        f"to {number(high['avg_quantity_per_line'], 2)}, {volume}."
    )
    labels = [_pct(r["discount"], 0) for r in levels]
    chart = line_chart(
        labels,
        [
            Series("margin at list price", [_f(r["undiscounted_margin_rate"]) for r in levels]),
            Series("margin after discount", [_f(r["margin_rate"]) for r in levels]),
        ],
        title="Gross margin rate by discount level",
        value_format=lambda v: percent(v, 1),
    )
    table = Table(
        [
            "discount",
            "lines",
            "units / line",
            "list value",
            "discount given",
            "net revenue",
            "margin",
            "margin given up",
            "lines below cost",
        ],
        [
            [
                _pct(r["discount"], 0),
                number(r["line_count"]),
                number(r["avg_quantity_per_line"], 2),
                _money(r["extended_price"]),
                _money(r["discount_amount"]),
                _money(r["net_revenue"]),
                _pct(r["margin_rate"]),
                _pct(r["margin_given_up_rate"]),
                number(r["below_cost_line_count"]),
            ]
            for r in levels
        ],
        [False] + [True] * 8,
        "Every discount level",
    )
    return Answer(sentence, chart, table)


# -- BQ05 ----------------------------------------------------------------------


def bq05(m: Marts) -> Answer:
    top = m.rows(
        """
        select supplier_name, nation_name, line_count, price_index, return_rate, quality_score,
               cost_to_quality_ratio
        from mart.mart_supplier_performance
        order by cost_to_quality_rank
        limit ?
        """,
        [TOP_N],
    )
    stats = m.one(
        """
        select median(cost_to_quality_ratio) as median_ratio, count(cost_to_quality_ratio) as rated
        from mart.mart_supplier_performance
        """
    )
    lead = top[0]
    sentence = (
        f"{lead['supplier_name']} ({lead['nation_name']}) has the best cost-to-quality ratio, "
        f"{number(lead['cost_to_quality_ratio'], 3)}: it prices {_pct(1 - float(lead['price_index']))} below the "
        f"average offer for the same parts and keeps {_pct(lead['quality_score'])} of its settled lines "
        f"unreturned, against a median ratio of {number(stats['median_ratio'], 3)} over "
        f"{number(stats['rated'])} suppliers."
    )
    chart = bar_chart(
        [f"{r['supplier_name']} ({r['nation_name']})" for r in top],
        [Series("cost-to-quality ratio", [_f(r["cost_to_quality_ratio"]) for r in top])],
        title=f"Best {TOP_N} suppliers by cost-to-quality ratio (lower is better)",
        value_format=lambda v: number(v, 2),
        label_width=240,
    )
    table = Table(
        ["supplier", "nation", "lines", "price index", "return rate", "quality proxy", "cost / quality"],
        [
            [
                r["supplier_name"],
                r["nation_name"],
                number(r["line_count"]),
                number(r["price_index"], 3),
                _pct(r["return_rate"]),
                _pct(r["quality_score"]),
                number(r["cost_to_quality_ratio"], 3),
            ]
            for r in top
        ],
        [False, False, True, True, True, True, True],
        f"Top {TOP_N} suppliers by cost-to-quality ratio",
    )
    return Answer(sentence, chart, table)


# -- BQ06 ----------------------------------------------------------------------


def bq06(m: Marts) -> Answer:
    overall = m.one(
        """
        select sum(avg_lead_time_days * line_count) / sum(line_count) as lead,
               sum(avg_days_to_ship * line_count) / sum(line_count) as to_ship,
               sum(avg_transit_days * line_count) / sum(line_count) as transit,
               sum(line_count - late_line_count) * 1.0 / sum(line_count) as on_time
        from mart.mart_supplier_performance
        where line_count > 0
        """
    )
    best = m.one(
        "select supplier_name, on_time_rate from mart.mart_supplier_performance where reliability_rank = 1"
    )
    worst = m.rows(
        """
        select supplier_name, nation_name, line_count, on_time_rate, avg_days_late, avg_lead_time_days,
               lead_time_stddev_days, max_lead_time_days
        from mart.mart_supplier_performance
        where line_count > 0
        order by reliability_rank desc
        limit ?
        """,
        [TOP_N],
    )
    bins = m.rows(
        """
        select floor(on_time_rate * 100) as bin, count(*) as suppliers
        from mart.mart_supplier_performance
        where on_time_rate is not null
        group by 1
        order by 1
        """
    )
    low = worst[0]
    sentence = (
        f"Lines take {number(overall['lead'], 1)} days from order to receipt on average "
        f"({number(overall['to_ship'], 1)} to ship, {number(overall['transit'], 1)} in transit) and "
        f"{_pct(overall['on_time'])} arrive by the commit date; suppliers range from {_pct(best['on_time_rate'])} "
        f"on time ({best['supplier_name']}) down to {_pct(low['on_time_rate'])} ({low['supplier_name']}, "
        f"{number(low['avg_days_late'], 1)} days late on average)."
    )
    first, last = int(bins[0]["bin"]), int(bins[-1]["bin"])
    counts = {int(b["bin"]): int(b["suppliers"]) for b in bins}
    chart = column_chart(
        [f"{b}%" for b in range(first, last + 1)],
        [counts.get(b, 0) for b in range(first, last + 1)],
        title="Suppliers by on-time delivery rate (1-point bins)",
        value_format=lambda v: number(v),
        label_every=max(1, round((last - first + 1) / 10)),
    )
    table = Table(
        [
            "supplier",
            "nation",
            "lines",
            "on time",
            "avg days late",
            "avg lead time",
            "lead time sd",
            "max lead",
        ],
        [
            [
                r["supplier_name"],
                r["nation_name"],
                number(r["line_count"]),
                _pct(r["on_time_rate"]),
                number(r["avg_days_late"], 2),
                number(r["avg_lead_time_days"], 1),
                number(r["lead_time_stddev_days"], 1),
                number(r["max_lead_time_days"]),
            ]
            for r in worst
        ],
        [False, False, True, True, True, True, True, True],
        f"The {TOP_N} least reliable suppliers (lead time = order to receipt, days)",
    )
    return Answer(sentence, chart, table)


# -- BQ07 ----------------------------------------------------------------------


def bq07(m: Marts) -> Answer:
    bands = m.rows(
        """
        select route_type,
               sum(line_count) as lines,
               sum(quantity) / (select sum(quantity) from mart.mart_shipping_routes) as unit_share,
               sum(total_transit_days) * 1.0 / sum(line_count) as transit,
               sum(total_lead_time_days) * 1.0 / sum(line_count) as lead,
               sum(late_line_count) * 1.0 / sum(line_count) as late_rate
        from mart.mart_shipping_routes
        group by route_type
        order by case route_type when 'domestic' then 1 when 'intra-region' then 2 else 3 end
        """
    )
    pairs = m.rows(
        """
        select customer_region_name, supplier_region_name,
               sum(line_count) as lines,
               sum(quantity) as quantity,
               sum(total_transit_days) * 1.0 / sum(line_count) as transit,
               sum(total_lead_time_days) * 1.0 / sum(line_count) as lead,
               sum(late_line_count) * 1.0 / sum(line_count) as late_rate
        from mart.mart_shipping_routes
        group by 1, 2
        order by lead desc, 1, 2
        """
    )
    by_band = {b["route_type"]: b for b in bands}
    far = by_band.get("inter-region", bands[-1])
    near = by_band.get("domestic", bands[0])
    leads = [float(p["lead"]) for p in pairs]
    verdict = "matters for delivery" if _material(max(leads), min(leads)) else "barely moves delivery"
    sentence = (
        f"Geography {verdict}: {near['route_type']} lines take {number(near['transit'], 1)} days in "
        f"transit and {number(near['lead'], 1)} from order to receipt against {number(far['transit'], 1)} and "
        f"{number(far['lead'], 1)} for {far['route_type']} lines, region pairs span "
        f"{number(min(leads), 1)}–{number(max(leads), 1)} days, and {_pct(far['unit_share'])} of units travel "
        f"{far['route_type']}, the costliest distance band."
    )
    regions_c = sorted({p["customer_region_name"] for p in pairs})
    regions_s = sorted({p["supplier_region_name"] for p in pairs})
    grid = {(p["customer_region_name"], p["supplier_region_name"]): float(p["lead"]) for p in pairs}
    chart = heatmap(
        regions_c,
        regions_s,
        [[grid.get((c, s)) for s in regions_s] for c in regions_c],
        title="Average days from order to receipt: customer region (rows) × supplier region (columns)",
        value_format=lambda v: number(v, 1),
        center=sum(leads) / len(leads),
        min_spread=MATERIAL_DIFFERENCE * sum(leads) / len(leads),
    )
    table = Table(
        ["customer region", "supplier region", "lines", "units", "transit days", "lead days", "late"],
        [
            [
                p["customer_region_name"],
                p["supplier_region_name"],
                number(p["lines"]),
                compact(_f(p["quantity"])),
                number(p["transit"], 2),
                number(p["lead"], 2),
                _pct(p["late_rate"]),
            ]
            for p in pairs[:TOP_N]
        ],
        [False, False, True, True, True, True, True],
        f"Top {TOP_N} of {len(pairs)} region pairs by lead time",
    )
    return Answer(sentence, chart, table)


# -- BQ08 ----------------------------------------------------------------------

_RISK_ORDER = ("single supplier", "single active supplier", "single region", "concentrated", "diversified")


def bq08(m: Marts) -> Answer:
    tiers = {
        r["risk_tier"]: r
        for r in m.rows(
            """
            select risk_tier, count(*) as parts, median(alternate_cover_years) as cover
            from mart.mart_part_supply_risk
            group by 1
            """
        )
    }
    total = m.one(
        "select count(*) as parts, min(supplier_count) as min_s, max(supplier_count) as max_s "
        "from mart.mart_part_supply_risk"
    )
    riskiest = m.rows(
        f"""
        select part_name, risk_tier, supplier_count, active_supplier_count, supplier_region_count,
               top_supplier_share, shipped_quantity, alternate_available_quantity, alternate_cover_years
        from mart.mart_part_supply_risk
        where risk_tier <> 'diversified'
        order by case risk_tier {" ".join(f"when '{t}' then {i}" for i, t in enumerate(_RISK_ORDER))} end,
                 top_supplier_share desc nulls last, shipped_quantity desc, part_key
        limit ?
        """,
        [TOP_N],
    )

    def parts(tier: str) -> int:
        return int(tiers[tier]["parts"]) if tier in tiers else 0

    at_risk = sum(parts(t) for t in _RISK_ORDER[:-1])
    suppliers = (
        f"{number(total['min_s'])}"
        if total["min_s"] == total["max_s"]
        else f"{number(total['min_s'])}–{number(total['max_s'])}"
    )
    covers = [
        float(tiers[t]["cover"]) for t in _RISK_ORDER[:-1] if t in tiers and tiers[t]["cover"] is not None
    ]
    cover_text = (
        f"; even for these, the other suppliers' stock covers a median {number(median(covers), 1)} years of "
        "demand"
        if covers
        else ""
    )
    sentence = (
        f"{number(parts('single supplier'))} of {number(total['parts'])} parts are single-sourced (each part has "
        f"{suppliers} suppliers), but {number(at_risk)} ({_pct(_ratio(at_risk, total['parts']))}) carry a "
        f"residual risk: {number(parts('single active supplier'))} rely on one active supplier, "
        f"{number(parts('single region'))} have every supplier in one region and "
        f"{number(parts('concentrated'))} get most units from one supplier{cover_text}."
    )
    chart = bar_chart(
        list(_RISK_ORDER),
        [Series("parts", [parts(t) for t in _RISK_ORDER])],
        title="Parts by supply-risk tier (most severe first)",
        value_format=lambda v: number(v),
        label_width=160,
    )
    table = Table(
        [
            "part",
            "risk tier",
            "suppliers",
            "active",
            "regions",
            "top supplier share",
            "units shipped",
            "alternate stock",
            "alternate cover (years)",
        ],
        [
            [
                r["part_name"],
                r["risk_tier"],
                number(r["supplier_count"]),
                number(r["active_supplier_count"]),
                number(r["supplier_region_count"]),
                _pct(r["top_supplier_share"]),
                number(r["shipped_quantity"]),
                number(r["alternate_available_quantity"]),
                number(r["alternate_cover_years"], 1),
            ]
            for r in riskiest
        ],
        [False, False, True, True, True, True, True, True, True],
        f"The {TOP_N} riskiest parts",
    )
    return Answer(sentence, chart, table)


# -- BQ09 ----------------------------------------------------------------------


def bq09(m: Marts) -> Answer:
    segments = m.rows(
        """
        select rfm_segment,
               sum(customer_count) as customers,
               sum(customer_count) * 1.0 / (select sum(customer_count) from mart.mart_customer_segments)
                   as customer_share,
               sum(lifetime_value) / (select sum(lifetime_value) from mart.mart_customer_segments)
                   as value_share,
               sum(order_count) * 1.0 / nullif(sum(ordering_customer_count), 0) as orders_per_customer,
               sum(lifetime_value) / nullif(sum(order_count), 0) as avg_order_value,
               sum(total_recency_days) * 1.0 / nullif(sum(ordering_customer_count), 0) as recency
        from mart.mart_customer_segments
        group by 1
        order by value_share desc, rfm_segment
        """
    )
    ordering = [s for s in segments if s["orders_per_customer"] is not None]
    key = segments[0]
    weakest = min(ordering, key=lambda s: float(s["value_share"]) / float(s["customer_share"]))
    none = next((s for s in segments if s["orders_per_customer"] is None), None)
    none_text = (
        f", and {_pct(none['customer_share'])} of customers ({none['rfm_segment']}) never ordered"
        if none
        else ""
    )
    sentence = (
        f"{key['rfm_segment']} are the key segment: {_pct(key['customer_share'])} of customers bringing "
        f"{_pct(key['value_share'])} of lifetime value with {number(key['orders_per_customer'], 1)} orders each, "
        f"last ordering {number(key['recency'], 0)} days before the data ends; {weakest['rfm_segment']} "
        f"({_pct(weakest['customer_share'])} of customers) bring only {_pct(weakest['value_share'])}{none_text}."
    )
    chart = bar_chart(
        [s["rfm_segment"] for s in segments],
        [
            Series("share of customers", [_f(s["customer_share"]) for s in segments]),
            Series("share of lifetime value", [_f(s["value_share"]) for s in segments]),
        ],
        title="RFM segments: share of customers vs share of lifetime value",
        value_format=lambda v: percent(v, 0),
        label_width=140,
    )
    table = Table(
        [
            "RFM segment",
            "customers",
            "share of customers",
            "share of value",
            "orders / customer",
            "avg order value",
            "days since last order",
        ],
        [
            [
                s["rfm_segment"],
                number(s["customers"]),
                _pct(s["customer_share"]),
                _pct(s["value_share"]),
                number(s["orders_per_customer"], 1),
                _money(s["avg_order_value"]),
                number(s["recency"], 0),
            ]
            for s in segments
        ],
        [False, True, True, True, True, True, True],
        "RFM segments by share of lifetime value",
    )
    return Answer(sentence, chart, table)


# -- BQ10 ----------------------------------------------------------------------


def bq10(m: Marts) -> Answer:
    bands = m.rows(
        """
        select frequency_score, min_order_count, max_order_count, customer_count, churn_risk_customer_count,
               churn_risk_rate, churn_risk_lifetime_value, churn_risk_value_share, avg_recency_days,
               avg_days_between_orders, as_of_date
        from mart.mart_churn_risk
        order by frequency_score
        """
    )
    totals = m.one(
        """
        select sum(customer_count) as customers, sum(churn_risk_customer_count) as at_risk,
               sum(churn_risk_lifetime_value) as value_at_risk, sum(lifetime_value) as value
        from mart.mart_churn_risk
        """
    )
    high = max(bands, key=lambda b: b["churn_risk_rate"])
    low = min(bands, key=lambda b: b["churn_risk_rate"])

    def band(b: Row) -> str:
        return f"band {b['frequency_score']}, {b['min_order_count']}–{b['max_order_count']} orders"

    sentence = (
        f"As of {bands[0]['as_of_date']}, {number(totals['at_risk'])} of {number(totals['customers'])} ordering "
        f"customers ({_pct(_ratio(totals['at_risk'], totals['customers']))}) are at risk of churning, holding "
        f"{_money(totals['value_at_risk'])} ({_pct(_ratio(totals['value_at_risk'], totals['value']))}) of "
        f"lifetime value; risk is highest at {_pct(high['churn_risk_rate'])} ({band(high)}) and lowest at "
        f"{_pct(low['churn_risk_rate'])} ({band(low)})."
    )
    chart = column_chart(
        [f"F{b['frequency_score']} ({b['min_order_count']}–{b['max_order_count']})" for b in bands],
        [_f(b["churn_risk_rate"]) for b in bands],
        title="Share of customers at churn risk by order-frequency quintile (F1 = fewest orders)",
        value_format=lambda v: percent(v, 0),
        highlight=[bands.index(high)],
    )
    table = Table(
        [
            "frequency band",
            "orders",
            "customers",
            "at risk",
            "at-risk rate",
            "value at risk",
            "share of value",
            "days since last order",
            "usual gap (days)",
        ],
        [
            [
                f"F{b['frequency_score']}",
                f"{b['min_order_count']}–{b['max_order_count']}",
                number(b["customer_count"]),
                number(b["churn_risk_customer_count"]),
                _pct(b["churn_risk_rate"]),
                _money(b["churn_risk_lifetime_value"]),
                _pct(b["churn_risk_value_share"]),
                number(b["avg_recency_days"], 0),
                number(b["avg_days_between_orders"], 0),
            ]
            for b in bands
        ],
        [False, True, True, True, True, True, True, True, True],
        "Order-frequency quintiles of ordering customers",
    )
    return Answer(sentence, chart, table)


# -- BQ11 ----------------------------------------------------------------------


def bq11(m: Marts) -> Answer:
    regions = m.rows(
        """
        select region_name,
               sum(customer_count) as customers,
               sum(acquired_customer_count) as acquired,
               sum(acquired_customer_count) * 1.0 / sum(customer_count) as acquisition_rate,
               sum(lifetime_value) / sum(acquired_customer_count) as avg_ltv,
               sum(acquisition_cost_proxy) / sum(acquired_customer_count) as avg_cac,
               sum(lifetime_value) / nullif(sum(acquisition_cost_proxy), 0) as ltv_to_cac
        from mart.mart_customer_geography
        group by 1
        order by ltv_to_cac desc
        """
    )
    overall = m.one(
        """
        select sum(lifetime_value) / sum(acquired_customer_count) as avg_ltv,
               sum(acquisition_cost_proxy) / sum(acquired_customer_count) as avg_cac
        from mart.mart_customer_geography
        """
    )
    best, worst = regions[0], regions[-1]
    sentence = (
        f"Taking the first-order discount as the acquisition cost, an acquired customer costs "
        f"{_money(overall['avg_cac'])} and is worth {_money(overall['avg_ltv'])}; {best['region_name']} earns the "
        f"most lifetime value per unit of acquisition spend ({number(best['ltv_to_cac'], 0)}×) and "
        f"{worst['region_name']} the least ({number(worst['ltv_to_cac'], 0)}×), a "
        f"{'wide' if _material(best['ltv_to_cac'], worst['ltv_to_cac']) else 'narrow'} spread, with "
        f"{_pct(min(r['acquisition_rate'] for r in regions))}–{_pct(max(r['acquisition_rate'] for r in regions))} "
        "of each region's customers ever ordering."
    )
    chart = bar_chart(
        [r["region_name"] for r in regions],
        [Series("lifetime value per unit of acquisition cost", [_f(r["ltv_to_cac"]) for r in regions])],
        title="LTV : CAC (proxy) by customer region",
        value_format=lambda v: number(v, 0),
        label_width=120,
    )
    table = Table(
        [
            "region",
            "customers",
            "acquired",
            "acquisition rate",
            "avg lifetime value",
            "avg CAC (proxy)",
            "LTV : CAC",
        ],
        [
            [
                r["region_name"],
                number(r["customers"]),
                number(r["acquired"]),
                _pct(r["acquisition_rate"]),
                _money(r["avg_ltv"]),
                _money(r["avg_cac"]),
                number(r["ltv_to_cac"], 1),
            ]
            for r in regions
        ],
        [False, True, True, True, True, True, True],
        "Customer regions by LTV : CAC (proxy)",
    )
    return Answer(sentence, chart, table)


# -- BQ12 ----------------------------------------------------------------------


def bq12(m: Marts) -> Answer:
    cells = m.rows(
        """
        select nation_name, region_name, part_category, net_revenue, nation_revenue_share,
               overall_revenue_share, preference_index
        from mart.mart_geographic_preferences
        order by preference_index desc, nation_name, part_category
        """
    )
    top, bottom = cells[0], cells[-1]
    spread = max(abs(float(c["preference_index"]) - 1) for c in cells)
    sentence = (
        f"Preferences vary {'markedly' if spread >= MATERIAL_DIFFERENCE else 'little'} by geography: every nation's spend on each part category is within "
        f"{percent(spread)} of the overall mix; the strongest tilt is {top['nation_name']} toward "
        f"{top['part_category']} ({_pct(float(top['preference_index']) - 1)} above average) and the weakest "
        f"{bottom['nation_name']} on {bottom['part_category']} ({_pct(1 - float(bottom['preference_index']))} "
        "below)."
    )
    nations = sorted({c["nation_name"] for c in cells})
    categories = sorted({c["part_category"] for c in cells})
    grid = {(c["nation_name"], c["part_category"]): _f(c["preference_index"]) for c in cells}
    chart = heatmap(
        nations,
        categories,
        [[grid.get((n, c)) for c in categories] for n in nations],
        title="Preference index by nation and part category (1.00 = overall mix)",
        value_format=lambda v: number(v, 3),
        center=1.0,
        min_spread=MATERIAL_DIFFERENCE,
        cell_height=18,
    )
    table = Table(
        ["nation", "region", "category", "net revenue", "share of nation", "share overall", "index"],
        [
            [
                c["nation_name"],
                c["region_name"],
                c["part_category"],
                _money(c["net_revenue"]),
                _pct(c["nation_revenue_share"], 2),
                _pct(c["overall_revenue_share"], 2),
                number(c["preference_index"], 3),
            ]
            for c in cells[:TOP_N]
        ],
        [False, False, False, True, True, True, True],
        f"Top {TOP_N} of {len(cells)} nation × category preferences",
    )
    return Answer(sentence, chart, table)


# -- BQ13 ----------------------------------------------------------------------


def bq13(m: Marts) -> Answer:
    months = m.rows(
        """
        select order_month, orders_per_day, lines_per_day, units_per_day, peak_day_order_count,
               peak_day_line_count, active_clerk_count, orders_per_clerk
        from mart.mart_sales_trends
        where is_complete_month
        order by order_month
        """
    )
    if not months:
        raise PipelineError("mart.mart_sales_trends has no complete month: generate more data")
    ranked = sorted(months, key=lambda r: (-float(r["orders_per_day"]), r["order_month"]))
    peak = ranked[0]
    mean_opd = sum(float(r["orders_per_day"]) for r in months) / len(months)
    mean_lpd = sum(float(r["lines_per_day"]) for r in months) / len(months)
    busiest = max(months, key=lambda r: (r["peak_day_line_count"], r["order_month"]))
    clerks = max(int(r["active_clerk_count"]) for r in months)
    sentence = (
        f"The busiest month was {peak['order_month']:%B %Y} with {number(peak['orders_per_day'], 1)} orders "
        f"({number(peak['lines_per_day'], 0)} lines) a day, {_pct(float(peak['orders_per_day']) / mean_opd - 1)} "
        f"above the average month, and the busiest single day ({busiest['order_month']:%B %Y}) needed "
        f"{number(busiest['peak_day_line_count'])} lines picked, "
        f"{number(float(busiest['peak_day_line_count']) / mean_lpd, 1)}× an average day: size order handling "
        f"for that peak across the {number(clerks)} clerks who take orders."
    )
    labels = [f"{r['order_month']:%Y-%m}" for r in months]
    top_months = {r["order_month"] for r in ranked[:TOP_N]}
    chart = column_chart(
        labels,
        [_f(r["orders_per_day"]) for r in months],
        title=f"Orders per day by month; the {TOP_N} busiest highlighted",
        value_format=lambda v: number(v, 0),
        highlight=[i for i, r in enumerate(months) if r["order_month"] in top_months],
        include_zero=False,
        label_every=_months(len(labels)),
    )
    table = Table(
        [
            "month",
            "orders / day",
            "lines / day",
            "units / day",
            "busiest day (orders)",
            "busiest day (lines)",
            "clerks",
            "orders / clerk",
        ],
        [
            [
                f"{r['order_month']:%Y-%m}",
                number(r["orders_per_day"], 1),
                number(r["lines_per_day"], 0),
                number(r["units_per_day"], 0),
                number(r["peak_day_order_count"]),
                number(r["peak_day_line_count"]),
                number(r["active_clerk_count"]),
                number(r["orders_per_clerk"], 1),
            ]
            for r in ranked[:TOP_N]
        ],
        [False] + [True] * 7,
        f"The {TOP_N} busiest complete months",
    )
    return Answer(sentence, chart, table)


# -- BQ14 ----------------------------------------------------------------------

ANOMALY_TYPES = (
    ("order_value_outlier", "order value outlier"),
    ("large_order_negative_balance", "large order, customer in debt"),
    ("same_day_repeat_order", "same-day repeat order"),
    ("below_cost_order", "sold below cost"),
    ("order_status_mismatch", "status vs lines mismatch"),
    ("line_number_gap", "line-number gap"),
)


def bq14(m: Marts) -> Answer:
    counts = {
        r["anomaly_type"]: int(r["orders"])
        for r in m.rows("select anomaly_type, count(*) as orders from mart.mart_order_anomalies group by 1")
    }
    flagged = m.one(
        """
        select count(distinct order_key) as orders,
               count(distinct case when anomaly_category = 'fraud signal' then order_key end) as fraud,
               (select count(*) from mart.mart_orders) as all_orders
        from mart.mart_order_anomalies
        """
    )
    top = m.rows(
        """
        select order_key, string_agg(anomaly_type, ', ' order by anomaly_type) as types,
               max(customer_name) as customer_name, max(nation_name) as nation_name,
               max(net_revenue) as net_revenue, max(gross_margin) as gross_margin,
               max(account_balance) as account_balance, max(order_value_zscore) as zscore,
               max(order_date) as order_date, count(*) as signals
        from mart.mart_order_anomalies
        group by order_key
        order by signals desc, zscore desc, order_key
        limit ?
        """,
        [TOP_N],
    )
    c = {key: counts.get(key, 0) for key, _ in ANOMALY_TYPES}
    labels = dict(ANOMALY_TYPES)
    sentence = (
        f"{number(flagged['fraud'])} of {number(flagged['all_orders'])} orders "
        f"({_pct(_ratio(flagged['fraud'], flagged['all_orders']), 2)}) show a fraud signal worth a look — "
        f"{number(c['order_value_outlier'])} value outliers, {number(c['large_order_negative_balance'])} large "
        f"orders from customers in debt, {number(c['same_day_repeat_order'])} same-day repeat orders and "
        f"{number(c['below_cost_order'])} sold below cost — while the data-quality checks found "
        f"{number(c['order_status_mismatch'])} status mismatches and {number(c['line_number_gap'])} line-number "
        "gaps."
    )
    chart = bar_chart(
        [label for _, label in ANOMALY_TYPES],
        [Series("orders", [c[key] for key, _ in ANOMALY_TYPES])],
        title="Flagged orders by signal",
        value_format=lambda v: number(v),
        label_width=200,
    )
    table = Table(
        [
            "order",
            "signals",
            "customer",
            "nation",
            "order date",
            "net revenue",
            "margin",
            "customer balance",
            "value z-score",
        ],
        [
            [
                str(r["order_key"]),
                ", ".join(labels.get(t, t) for t in r["types"].split(", ")),
                r["customer_name"],
                r["nation_name"],
                str(r["order_date"]),
                _money(r["net_revenue"]),
                _money(r["gross_margin"]),
                number(r["account_balance"], 2),
                number(r["zscore"], 2),
            ]
            for r in top
        ],
        [True, False, False, False, False, True, True, True, True],
        f"The {TOP_N} most suspicious of {number(flagged['orders'])} flagged orders (most signals, then value)",
    )
    return Answer(sentence, chart, table)


# -- BQ15 ----------------------------------------------------------------------


def bq15(m: Marts) -> Answer:
    modes = m.rows(
        """
        select ship_mode, line_count, quantity, line_share, avg_quantity_per_line, avg_transit_days,
               avg_lead_time_days, late_rate, return_rate, satisfaction_proxy
        from mart.mart_shipping_modes
        order by satisfaction_proxy desc, ship_mode
        """
    )
    best, worst = modes[0], modes[-1]
    transit = [float(r["avg_transit_days"]) for r in modes]
    shares = [float(r["line_share"]) for r in modes]
    matters = _material(best["satisfaction_proxy"], worst["satisfaction_proxy"]) or _material(
        max(transit), min(transit)
    )
    sentence = (
        f"Ship mode {'matters' if matters else 'makes no material difference'}: the satisfaction proxy runs from {_pct(best['satisfaction_proxy'], 2)} "
        f"({best['ship_mode']}) to {_pct(worst['satisfaction_proxy'], 2)} ({worst['ship_mode']}), transit from "
        f"{number(min(transit), 2)} to {number(max(transit), 2)} days and late rates "
        f"{_pct(min(r['late_rate'] for r in modes))}–{_pct(max(r['late_rate'] for r in modes))}, with each mode "
        f"carrying {percent(min(shares), 2)}–{percent(max(shares), 2)} of lines"
        + (f"; {best['ship_mode']} satisfies best." if matters else ", so no mode buys satisfaction.")
    )
    chart = bar_chart(
        [r["ship_mode"] for r in modes],
        [
            Series("satisfaction proxy", [_f(r["satisfaction_proxy"]) for r in modes]),
            Series("late rate", [_f(r["late_rate"]) for r in modes]),
            Series("return rate", [_f(r["return_rate"]) for r in modes]),
        ],
        title="Ship modes: satisfaction proxy, late rate and return rate",
        value_format=lambda v: percent(v, 1),
        label_width=90,
    )
    table = Table(
        [
            "ship mode",
            "lines",
            "units",
            "share of lines",
            "units / line",
            "transit days",
            "lead days",
            "late",
            "returned",
            "satisfaction proxy",
        ],
        [
            [
                r["ship_mode"],
                number(r["line_count"]),
                compact(_f(r["quantity"])),
                _pct(r["line_share"]),
                number(r["avg_quantity_per_line"], 2),
                number(r["avg_transit_days"], 2),
                number(r["avg_lead_time_days"], 1),
                _pct(r["late_rate"]),
                _pct(r["return_rate"]),
                _pct(r["satisfaction_proxy"], 2),
            ]
            for r in modes
        ],
        [False] + [True] * 9,
        "Every ship mode, best satisfaction proxy first",
    )
    return Answer(sentence, chart, table)


# -- BQ16 ----------------------------------------------------------------------

_STOCK_ORDER = ("stock-out risk", "healthy", "excess", "no demand")


def bq16(m: Marts) -> Answer:
    statuses = {
        r["stock_status"]: r
        for r in m.rows(
            """
            select stock_status, count(*) as positions, sum(excess_value) as excess_value,
                   sum(inventory_value) as inventory_value
            from mart.mart_inventory_health
            group by 1
            """
        )
    }
    totals = m.one(
        """
        select count(*) as positions, median(target_stock_level) as target,
               median(available_quantity) as held, sum(excess_value) as excess_value,
               sum(inventory_value) as inventory_value,
               median(days_of_cover) / 365.25 as cover_years
        from mart.mart_inventory_health
        """
    )
    top = m.rows(
        """
        select part_name, supplier_key, stock_status, available_quantity, annual_demand, avg_lead_time_days,
               safety_stock, target_stock_level, days_of_cover, excess_value
        from mart.mart_inventory_health
        order by excess_value desc, part_key, supplier_key
        limit ?
        """,
        [TOP_N],
    )

    def positions(status: str) -> int:
        return int(statuses[status]["positions"]) if status in statuses else 0

    sentence = (
        f"At observed demand the optimal (order-up-to) level is a median {number(totals['target'], 1)} units per "
        f"part and supplier against {number(totals['held'])} held (a median {number(totals['cover_years'], 0)} "
        f"years of cover): {number(positions('excess'))} of {number(totals['positions'])} positions "
        f"({_pct(_ratio(positions('excess'), totals['positions']))}) are in excess, tying up "
        f"{_money(totals['excess_value'])} ({_pct(_ratio(totals['excess_value'], totals['inventory_value']))} of "
        f"inventory value), while {number(positions('stock-out risk'))} sit below their reorder point."
    )
    chart = bar_chart(
        list(_STOCK_ORDER),
        [Series("positions", [positions(s) for s in _STOCK_ORDER])],
        title="Part-supplier positions by stock status",
        value_format=lambda v: number(v),
        label_width=130,
    )
    table = Table(
        [
            "part",
            "supplier",
            "status",
            "held",
            "annual demand",
            "lead time (days)",
            "safety stock",
            "optimal level",
            "days of cover",
            "excess value",
        ],
        [
            [
                r["part_name"],
                str(r["supplier_key"]),
                r["stock_status"],
                number(r["available_quantity"]),
                number(r["annual_demand"], 1),
                number(r["avg_lead_time_days"], 1),
                number(r["safety_stock"], 1),
                number(r["target_stock_level"], 1),
                number(r["days_of_cover"], 0),
                _money(r["excess_value"]),
            ]
            for r in top
        ],
        [False, True, False, True, True, True, True, True, True, True],
        f"The {TOP_N} positions with the most excess stock value",
    )
    return Answer(sentence, chart, table)


# -- the page ------------------------------------------------------------------

INSIGHTS: tuple[Insight, ...] = (
    Insight(
        "BQ01",
        "Which products perform best by revenue and margin?",
        "mart_product_performance",
        "insights_products_and_pricing",
        bq01,
        proxy="Margin is net revenue minus the supplier's supply cost of the units: TPC-H records no other "
        "product cost (freight, handling, overhead).",
    ),
    Insight(
        "BQ02",
        "Which customer segments have the highest lifetime value?",
        "mart_customer_segments",
        "insights_customers",
        bq02,
    ),
    Insight(
        "BQ03",
        "What are the seasonal trends in order patterns and profitability?",
        "mart_sales_trends",
        "insights_sales_trends",
        bq03,
    ),
    Insight(
        "BQ04",
        "What is the impact of discounting on overall profitability?",
        "mart_discount_impact",
        "insights_products_and_pricing",
        bq04,
    ),
    Insight(
        "BQ05",
        "Which suppliers have the best cost-to-quality ratio?",
        "mart_supplier_performance",
        "insights_suppliers_and_inventory",
        bq05,
        proxy="TPC-H has no quality inspections. Quality = share of a supplier's settled lines (return "
        "outcome known) that were not returned; cost = its price index, supply cost relative to the "
        "average offer for the same parts. Ratio = price index / quality (lower is better).",
    ),
    Insight(
        "BQ06",
        "What are the lead times and reliability metrics by supplier?",
        "mart_supplier_performance",
        "insights_suppliers_and_inventory",
        bq06,
    ),
    Insight(
        "BQ07",
        "How does geography affect shipping costs and delivery times?",
        "mart_shipping_routes",
        "insights_shipping",
        bq07,
        proxy="TPC-H has no freight cost. Cost proxy = the route's distance band (domestic < intra-region < "
        "inter-region, customer nation vs supplier nation) and the units it carries.",
    ),
    Insight(
        "BQ08",
        "Which parts carry single-source supply risk?",
        "mart_part_supply_risk",
        "insights_suppliers_and_inventory",
        bq08,
        proxy="TPC-H offers every part from several suppliers, so residual risk is measured instead: one "
        "supplier delivering every unit, all suppliers in one region, or one supplier carrying at "
        "least the var supply_concentration_share of units.",
    ),
    Insight(
        "BQ09",
        "What are the key customer segments by purchasing behaviour?",
        "mart_customer_segments",
        "insights_customers",
        bq09,
    ),
    Insight(
        "BQ10",
        "Which customers are at risk of churning, by order frequency?",
        "mart_churn_risk",
        "insights_customers",
        bq10,
    ),
    Insight(
        "BQ11",
        "How does customer acquisition cost compare with lifetime value by region?",
        "mart_customer_geography",
        "insights_customers",
        bq11,
        proxy="TPC-H has no marketing spend, so no acquisition cost. Proxy = the discount given on each "
        "customer's first order, the money spent to win the customer.",
    ),
    Insight(
        "BQ12",
        "How do customer preferences vary by geography?",
        "mart_geographic_preferences",
        "insights_customers",
        bq12,
    ),
    Insight(
        "BQ13",
        "When are the peak ordering periods and what resources do they need?",
        "mart_sales_trends",
        "insights_sales_trends",
        bq13,
    ),
    Insight(
        "BQ14",
        "Which order patterns indicate potential fraud or data-quality issues?",
        "mart_order_anomalies",
        "insights_order_anomalies",
        bq14,
        proxy="TPC-H labels no order as fraudulent: these are rule-based signals with thresholds in the "
        "anomaly_* dbt vars, to investigate rather than verdicts.",
    ),
    Insight(
        "BQ15",
        "How do shipping methods affect customer satisfaction and costs?",
        "mart_shipping_modes",
        "insights_shipping",
        bq15,
        proxy="TPC-H has no satisfaction score and no shipping cost. Satisfaction proxy = share of settled "
        "lines that arrived by the commit date and were not returned; cost can only be proxied by "
        "the units each mode carries and their time in transit.",
    ),
    Insight(
        "BQ16",
        "What is the optimal inventory level by part and supplier?",
        "mart_inventory_health",
        "insights_suppliers_and_inventory",
        bq16,
        proxy="TPC-H has no ordering or holding cost, so no economic order quantity: the optimal level is a "
        "periodic-review order-up-to level, daily demand × (longest lead time + review period), from "
        "observed demand and lead times.",
    ),
)


def insight_marts() -> list[str]:
    """The marts the page reads, in first-use order."""
    return list(dict.fromkeys(i.mart for i in INSIGHTS))


def _section(insight: Insight, answer: Answer) -> str:
    table = answer.table
    proxy = f'<p class="proxy"><strong>Proxy:</strong> {esc(insight.proxy)}</p>' if insight.proxy else ""
    return (
        f'<section class="bq" id="{insight.bq.lower()}" data-bq="{insight.bq}" data-mart="{insight.mart}">'
        f'<h2><span class="bqid">{insight.bq}</span>{esc(insight.question)}</h2>'
        f'<p class="answer">{esc(answer.sentence)}</p>'
        f'<p class="meta">Source: <code>{SCHEMA}.{insight.mart}</code> · dbt exposure '
        f"<code>{insight.exposure}</code></p>"
        f"{proxy}"
        f"<figure>{answer.chart}</figure>"
        + '<div class="scroll">'
        + html_table(table.headers, table.rows, numeric=table.numeric, caption=table.caption)
        + "</div></section>"
    )


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
    sections = [_section(insight, insight.answer(marts)) for insight in INSIGHTS]
    contents = "".join(f'<li><a href="#{i.bq.lower()}">{i.bq}</a> {esc(i.question)}</li>' for i in INSIGHTS)
    intro = (
        f'<p class="answer">As of {scope["as_of"]} (the data\'s last order date; the data starts '
        f"{scope['first_date']}): {number(scope['orders'])} orders from {number(scope['customers'])} customers, "
        f"{_money(scope['revenue'])} net revenue. Each question below is answered from a tested mart in schema "
        f"<code>{SCHEMA}</code>; money is net revenue after discount, in TPC-H's (unnamed) currency.</p>"
    )
    return intro + f'<ol class="toc">{contents}</ol>' + "".join(sections)


PAGE = Page(
    slug="insights",
    title="TPC-H business insights",
    summary="BQ01–BQ16 answered from the marts, with charts and the tables behind them",
    render=render,
    # Only marts that passed their tests (write–audit–publish), and never
    # blocked by a build in progress.
    reads="published",
)
