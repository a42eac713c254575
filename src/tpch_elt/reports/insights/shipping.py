"""Shipping: how distance and ship mode affect delivery, cost and satisfaction
(BQ07, BQ15)."""

from __future__ import annotations

from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    compact,
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
    material,
    pct,
    to_float,
)


def geography_and_delivery(m: Marts) -> Answer:
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
    verdict = "matters for delivery" if material(max(leads), min(leads)) else "barely moves delivery"
    sentence = (
        f"Geography {verdict}: {near['route_type']} lines take {number(near['transit'], 1)} days in "
        f"transit and {number(near['lead'], 1)} from order to receipt against {number(far['transit'], 1)} and "
        f"{number(far['lead'], 1)} for {far['route_type']} lines, region pairs span "
        f"{number(min(leads), 1)}–{number(max(leads), 1)} days, and {pct(far['unit_share'])} of units travel "
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
                compact(to_float(p["quantity"])),
                number(p["transit"], 2),
                number(p["lead"], 2),
                pct(p["late_rate"]),
            ]
            for p in pairs[:TOP_N]
        ],
        [False, False, True, True, True, True, True],
        f"Top {TOP_N} of {len(pairs)} region pairs by lead time",
    )
    return Answer(sentence, chart, table)


def ship_mode_satisfaction(m: Marts) -> Answer:
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
    matters = material(best["satisfaction_proxy"], worst["satisfaction_proxy"]) or material(
        max(transit), min(transit)
    )
    sentence = (
        f"Ship mode {'matters' if matters else 'makes no material difference'}: the satisfaction proxy runs from {pct(best['satisfaction_proxy'], 2)} "
        f"({best['ship_mode']}) to {pct(worst['satisfaction_proxy'], 2)} ({worst['ship_mode']}), transit from "
        f"{number(min(transit), 2)} to {number(max(transit), 2)} days and late rates "
        f"{pct(min(r['late_rate'] for r in modes))}–{pct(max(r['late_rate'] for r in modes))}, with each mode "
        f"carrying {percent(min(shares), 2)}–{percent(max(shares), 2)} of lines"
        + (f"; {best['ship_mode']} satisfies best." if matters else ", so no mode buys satisfaction.")
    )
    chart = bar_chart(
        [r["ship_mode"] for r in modes],
        [
            Series("satisfaction proxy", [to_float(r["satisfaction_proxy"]) for r in modes]),
            Series("late rate", [to_float(r["late_rate"]) for r in modes]),
            Series("return rate", [to_float(r["return_rate"]) for r in modes]),
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
                compact(to_float(r["quantity"])),
                pct(r["line_share"]),
                number(r["avg_quantity_per_line"], 2),
                number(r["avg_transit_days"], 2),
                number(r["avg_lead_time_days"], 1),
                pct(r["late_rate"]),
                pct(r["return_rate"]),
                pct(r["satisfaction_proxy"], 2),
            ]
            for r in modes
        ],
        [False] + [True] * 9,
        "Every ship mode, best satisfaction proxy first",
    )
    return Answer(sentence, chart, table)
