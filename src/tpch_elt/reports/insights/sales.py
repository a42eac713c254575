"""Sales and orders: which products earn, how seasons, discounts and peaks move
revenue and workload, and which orders look wrong (BQ01, BQ03, BQ04, BQ13, BQ14)."""

from __future__ import annotations

from tpch_elt.errors import PipelineError
from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    column_chart,
    line_chart,
    number,
    percent,
)
from tpch_elt.reports.html import Table
from tpch_elt.reports.insights.answer import (
    TOP_N,
    Answer,
    Marts,
    change,
    material,
    money,
    month_label_step,
    pct,
    ratio,
    to_float,
)


def product_performance(m: Marts) -> Answer:
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
        f"{money(lead['net_revenue'])} net revenue at a {pct(lead['margin_rate'])} margin, the best by margin "
        f"is “{best_margin['part_name']}” with {money(best_margin['gross_margin'])} of margin, and the top "
        f"{TOP_N} of {number(totals['sold'])} products sold earn "
        f"{pct(ratio(totals['top_revenue'], totals['revenue']), 2)} of revenue (overall margin "
        f"{pct(totals['margin_rate'])})."
    )
    labels = [r["part_name"] for r in top]
    chart = bar_chart(
        labels,
        [
            Series("net revenue", [to_float(r["net_revenue"]) for r in top]),
            Series("gross margin", [to_float(r["gross_margin"]) for r in top]),
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
                money(r["net_revenue"]),
                money(r["gross_margin"]),
                pct(r["margin_rate"]),
                number(r["margin_rank"]),
            ]
            for r in top
        ],
        [False, False, False, True, True, True, True, True],
        f"Top {TOP_N} products by net revenue",
    )
    return Answer(sentence, chart, table)


def seasonal_trends(m: Marts) -> Answer:
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
    strength = "marked" if material(strong["revenue_per_day"], weak["revenue_per_day"]) else "weak"
    sentence = (
        f"Seasonality is {strength}: the strongest season, {strong['season']}, takes "
        f"{money(strong['revenue_per_day'])} net revenue a day, "
        f"{pct(change(strong['revenue_per_day'], weak['revenue_per_day']))} more than "
        f"{weak['season']} ({money(weak['revenue_per_day'])}), margin stays between "
        f"{percent(min(margins), 2)} and {percent(max(margins), 2)} in every season, and the best single month "
        f"was {best_month['order_month']:%B %Y} ({money(best_month['net_revenue'])})."
    )
    labels = [f"{r['order_month']:%Y-%m}" for r in months]
    chart = line_chart(
        labels,
        [Series("net revenue per day", [to_float(r["revenue_per_day"]) for r in months])],
        title="Net revenue per day, by complete month (per day removes the month-length effect)",
        label_every=month_label_step(len(labels)),
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
                money(s["revenue_per_day"]),
                money(s["revenue_per_month"]),
                pct(s["margin_rate"], 2),
                money(s["avg_order_value"]),
            ]
            for s in seasons
        ],
        [False, True, True, True, True, True, True],
        "Seasons (meteorological, northern hemisphere) over complete months, strongest first",
    )
    return Answer(sentence, chart, table)


def discount_impact(m: Marts) -> Answer:
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
        if not material(high["avg_quantity_per_line"], low["avg_quantity_per_line"])
        else f"a {pct(change(high['avg_quantity_per_line'], low['avg_quantity_per_line']))} change in "
        "volume for the deepest discount"
    )
    sentence = (
        f"Discounts gave away {money(totals['given'])}, "
        f"{pct(ratio(totals['given'], totals['list_value']))} of list value and "
        f"{pct(ratio(totals['given'], totals['list_margin']))} of the margin at list price; margin falls from "
        f"{pct(low['margin_rate'])} at a {pct(low['discount'], 0)} discount to {pct(high['margin_rate'])} at "
        f"{pct(high['discount'], 0)}, while units per line go from {number(low['avg_quantity_per_line'], 2)} "
        f"to {number(high['avg_quantity_per_line'], 2)}, {volume}."
    )
    labels = [pct(r["discount"], 0) for r in levels]
    chart = line_chart(
        labels,
        [
            Series("margin at list price", [to_float(r["undiscounted_margin_rate"]) for r in levels]),
            Series("margin after discount", [to_float(r["margin_rate"]) for r in levels]),
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
                pct(r["discount"], 0),
                number(r["line_count"]),
                number(r["avg_quantity_per_line"], 2),
                money(r["extended_price"]),
                money(r["discount_amount"]),
                money(r["net_revenue"]),
                pct(r["margin_rate"]),
                pct(r["margin_given_up_rate"]),
                number(r["below_cost_line_count"]),
            ]
            for r in levels
        ],
        [False] + [True] * 8,
        "Every discount level",
    )
    return Answer(sentence, chart, table)


def peak_ordering_periods(m: Marts) -> Answer:
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
        f"({number(peak['lines_per_day'], 0)} lines) a day, {pct(float(peak['orders_per_day']) / mean_opd - 1)} "
        f"above the average month, and the busiest single day ({busiest['order_month']:%B %Y}) needed "
        f"{number(busiest['peak_day_line_count'])} lines picked, "
        f"{number(float(busiest['peak_day_line_count']) / mean_lpd, 1)}× an average day: size order handling "
        f"for that peak across the {number(clerks)} clerks who take orders."
    )
    labels = [f"{r['order_month']:%Y-%m}" for r in months]
    top_months = {r["order_month"] for r in ranked[:TOP_N]}
    chart = column_chart(
        labels,
        [to_float(r["orders_per_day"]) for r in months],
        title=f"Orders per day by month; the {TOP_N} busiest highlighted",
        value_format=lambda v: number(v, 0),
        highlight=[i for i, r in enumerate(months) if r["order_month"] in top_months],
        include_zero=False,
        label_every=month_label_step(len(labels)),
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


ANOMALY_TYPES = (
    ("order_value_outlier", "order value outlier"),
    ("large_order_negative_balance", "large order, customer in debt"),
    ("same_day_repeat_order", "same-day repeat order"),
    ("below_cost_order", "sold below cost"),
    ("order_status_mismatch", "status vs lines mismatch"),
    ("line_number_gap", "line-number gap"),
)


def suspicious_orders(m: Marts) -> Answer:
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
        f"({pct(ratio(flagged['fraud'], flagged['all_orders']), 2)}) show a fraud signal worth a look — "
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
                money(r["net_revenue"]),
                money(r["gross_margin"]),
                number(r["account_balance"], 2),
                number(r["zscore"], 2),
            ]
            for r in top
        ],
        [True, False, False, False, False, True, True, True, True],
        f"The {TOP_N} most suspicious of {number(flagged['orders'])} flagged orders (most signals, then value)",
    )
    return Answer(sentence, chart, table)
