"""Suppliers, parts and inventory: cost against quality, reliability, single-source
risk and how much stock to hold (BQ05, BQ06, BQ08, BQ16)."""

from __future__ import annotations

from statistics import median

from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    column_chart,
    number,
)
from tpch_elt.reports.html import Table
from tpch_elt.reports.insights.answer import (
    TOP_N,
    Answer,
    Marts,
    money,
    pct,
    ratio,
    to_float,
)


def supplier_cost_to_quality(m: Marts) -> Answer:
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
        f"{number(lead['cost_to_quality_ratio'], 3)}: it prices {pct(1 - float(lead['price_index']))} below the "
        f"average offer for the same parts and keeps {pct(lead['quality_score'])} of its settled lines "
        f"unreturned, against a median ratio of {number(stats['median_ratio'], 3)} over "
        f"{number(stats['rated'])} suppliers."
    )
    chart = bar_chart(
        [f"{r['supplier_name']} ({r['nation_name']})" for r in top],
        [Series("cost-to-quality ratio", [to_float(r["cost_to_quality_ratio"]) for r in top])],
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
                pct(r["return_rate"]),
                pct(r["quality_score"]),
                number(r["cost_to_quality_ratio"], 3),
            ]
            for r in top
        ],
        [False, False, True, True, True, True, True],
        f"Top {TOP_N} suppliers by cost-to-quality ratio",
    )
    return Answer(sentence, chart, table)


def supplier_reliability(m: Marts) -> Answer:
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
        f"{pct(overall['on_time'])} arrive by the commit date; suppliers range from {pct(best['on_time_rate'])} "
        f"on time ({best['supplier_name']}) down to {pct(low['on_time_rate'])} ({low['supplier_name']}, "
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
                pct(r["on_time_rate"]),
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


_RISK_ORDER = ("single supplier", "single active supplier", "single region", "concentrated", "diversified")


def part_supply_risk(m: Marts) -> Answer:
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
        f"{suppliers} suppliers), but {number(at_risk)} ({pct(ratio(at_risk, total['parts']))}) carry a "
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
                pct(r["top_supplier_share"]),
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


_STOCK_ORDER = ("stock-out risk", "healthy", "excess", "no demand")


def optimal_inventory_levels(m: Marts) -> Answer:
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
        f"({pct(ratio(positions('excess'), totals['positions']))}) are in excess, tying up "
        f"{money(totals['excess_value'])} ({pct(ratio(totals['excess_value'], totals['inventory_value']))} of "
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
                money(r["excess_value"]),
            ]
            for r in top
        ],
        [False, True, False, True, True, True, True, True, True, True],
        f"The {TOP_N} positions with the most excess stock value",
    )
    return Answer(sentence, chart, table)
