"""Customers: who is worth most, how they behave, who may leave, what winning them
costs and what they buy where (BQ02, BQ09, BQ10, BQ11, BQ12)."""

from __future__ import annotations

from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    column_chart,
    heatmap,
    number,
    percent,
)
from tpch_elt.reports.html import Table
from tpch_elt.reports.insights.answer import (
    MATERIAL_DIFFERENCE,
    TOP_N,
    Answer,
    Marts,
    Row,
    material,
    money,
    pct,
    ratio,
    to_float,
)


def segment_lifetime_value(m: Marts) -> Answer:
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
        f"{money(top_rfm['avg_ltv'])} each, {ratio(top_rfm['avg_ltv'], low_rfm['avg_ltv']):.1f}× "
        f"{low_rfm['rfm_segment']} ({money(low_rfm['avg_ltv'])}), while by market segment it "
        f"{'varies' if material(best['avg_ltv'], worst['avg_ltv']) else 'barely differs'} "
        f"({best['market_segment']} {money(best['avg_ltv'])} vs {worst['market_segment']} "
        f"{money(worst['avg_ltv'])}); the most valuable pair is {pair['rfm_segment']} in "
        f"{pair['market_segment']} ({money(pair['avg_lifetime_value'])} per customer)."
    )
    rfm_order = [r["rfm_segment"] for r in by_rfm]
    markets = sorted(r["market_segment"] for r in by_market)
    grid = {(c["rfm_segment"], c["market_segment"]): to_float(c["avg_lifetime_value"]) for c in cells}
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
                money(c["avg_lifetime_value"]),
                money(c["lifetime_value"]),
                pct(c["lifetime_value_share"]),
            ]
            for c in cells[:TOP_N]
        ],
        [False, False, True, True, True, True],
        f"Top {TOP_N} of {len(cells)} segment pairs by average lifetime value",
    )
    return Answer(sentence, chart, table)


def key_customer_segments(m: Marts) -> Answer:
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
        f", and {pct(none['customer_share'])} of customers ({none['rfm_segment']}) never ordered"
        if none
        else ""
    )
    sentence = (
        f"{key['rfm_segment']} are the key segment: {pct(key['customer_share'])} of customers bringing "
        f"{pct(key['value_share'])} of lifetime value with {number(key['orders_per_customer'], 1)} orders each, "
        f"last ordering {number(key['recency'], 0)} days before the data ends; {weakest['rfm_segment']} "
        f"({pct(weakest['customer_share'])} of customers) bring only {pct(weakest['value_share'])}{none_text}."
    )
    chart = bar_chart(
        [s["rfm_segment"] for s in segments],
        [
            Series("share of customers", [to_float(s["customer_share"]) for s in segments]),
            Series("share of lifetime value", [to_float(s["value_share"]) for s in segments]),
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
                pct(s["customer_share"]),
                pct(s["value_share"]),
                number(s["orders_per_customer"], 1),
                money(s["avg_order_value"]),
                number(s["recency"], 0),
            ]
            for s in segments
        ],
        [False, True, True, True, True, True, True],
        "RFM segments by share of lifetime value",
    )
    return Answer(sentence, chart, table)


def churn_risk(m: Marts) -> Answer:
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
        f"customers ({pct(ratio(totals['at_risk'], totals['customers']))}) are at risk of churning, holding "
        f"{money(totals['value_at_risk'])} ({pct(ratio(totals['value_at_risk'], totals['value']))}) of "
        f"lifetime value; risk is highest at {pct(high['churn_risk_rate'])} ({band(high)}) and lowest at "
        f"{pct(low['churn_risk_rate'])} ({band(low)})."
    )
    chart = column_chart(
        [f"F{b['frequency_score']} ({b['min_order_count']}–{b['max_order_count']})" for b in bands],
        [to_float(b["churn_risk_rate"]) for b in bands],
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
                pct(b["churn_risk_rate"]),
                money(b["churn_risk_lifetime_value"]),
                pct(b["churn_risk_value_share"]),
                number(b["avg_recency_days"], 0),
                number(b["avg_days_between_orders"], 0),
            ]
            for b in bands
        ],
        [False, True, True, True, True, True, True, True, True],
        "Order-frequency quintiles of ordering customers",
    )
    return Answer(sentence, chart, table)


def acquisition_cost_vs_lifetime_value(m: Marts) -> Answer:
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
        f"{money(overall['avg_cac'])} and is worth {money(overall['avg_ltv'])}; {best['region_name']} earns the "
        f"most lifetime value per unit of acquisition spend ({number(best['ltv_to_cac'], 0)}×) and "
        f"{worst['region_name']} the least ({number(worst['ltv_to_cac'], 0)}×), a "
        f"{'wide' if material(best['ltv_to_cac'], worst['ltv_to_cac']) else 'narrow'} spread, with "
        f"{pct(min(r['acquisition_rate'] for r in regions))}–{pct(max(r['acquisition_rate'] for r in regions))} "
        "of each region's customers ever ordering."
    )
    chart = bar_chart(
        [r["region_name"] for r in regions],
        [Series("lifetime value per unit of acquisition cost", [to_float(r["ltv_to_cac"]) for r in regions])],
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
                pct(r["acquisition_rate"]),
                money(r["avg_ltv"]),
                money(r["avg_cac"]),
                number(r["ltv_to_cac"], 1),
            ]
            for r in regions
        ],
        [False, True, True, True, True, True, True],
        "Customer regions by LTV : CAC (proxy)",
    )
    return Answer(sentence, chart, table)


def geographic_preferences(m: Marts) -> Answer:
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
        f"{top['part_category']} ({pct(float(top['preference_index']) - 1)} above average) and the weakest "
        f"{bottom['nation_name']} on {bottom['part_category']} ({pct(1 - float(bottom['preference_index']))} "
        "below)."
    )
    nations = sorted({c["nation_name"] for c in cells})
    categories = sorted({c["part_category"] for c in cells})
    grid = {(c["nation_name"], c["part_category"]): to_float(c["preference_index"]) for c in cells}
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
                money(c["net_revenue"]),
                pct(c["nation_revenue_share"], 2),
                pct(c["overall_revenue_share"], 2),
                number(c["preference_index"], 3),
            ]
            for c in cells[:TOP_N]
        ],
        [False, False, False, True, True, True, True],
        f"Top {TOP_N} of {len(cells)} nation × category preferences",
    )
    return Answer(sentence, chart, table)
