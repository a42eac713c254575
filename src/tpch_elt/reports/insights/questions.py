"""The business questions BQ01..BQ16 the insights page answers: for each, the
question, the mart and dbt exposure it is answered from, the function that
answers it and, where TPC-H lacks the data, the proxy used.

The marts and their proxies are documented in
dbt_project/models/mart/_mart__insights.yml and declared as exposures in
_mart__exposures.yml; the page's section for a question is anchored by its
id in lower case (#bq01).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tpch_elt.reports.insights import customers, sales, shipping, suppliers
from tpch_elt.reports.insights.answer import Answer, Marts


@dataclass(frozen=True)
class Insight:
    """One business question and how the page answers it."""

    bq: str
    question: str
    mart: str
    exposure: str
    answer: Callable[[Marts], Answer]
    proxy: str | None = None

    @property
    def anchor(self) -> str:
        """The id of the question's section on the page: bq01 for BQ01."""
        return self.bq.lower()


INSIGHTS: tuple[Insight, ...] = (
    Insight(
        "BQ01",
        "Which products perform best by revenue and margin?",
        "mart_product_performance",
        "insights_products_and_pricing",
        sales.product_performance,
        proxy="Margin is net revenue minus the supplier's supply cost of the units: TPC-H records no other "
        "product cost (freight, handling, overhead).",
    ),
    Insight(
        "BQ02",
        "Which customer segments have the highest lifetime value?",
        "mart_customer_segments",
        "insights_customers",
        customers.segment_lifetime_value,
    ),
    Insight(
        "BQ03",
        "What are the seasonal trends in order patterns and profitability?",
        "mart_sales_trends",
        "insights_sales_trends",
        sales.seasonal_trends,
    ),
    Insight(
        "BQ04",
        "What is the impact of discounting on overall profitability?",
        "mart_discount_impact",
        "insights_products_and_pricing",
        sales.discount_impact,
    ),
    Insight(
        "BQ05",
        "Which suppliers have the best cost-to-quality ratio?",
        "mart_supplier_performance",
        "insights_suppliers_and_inventory",
        suppliers.supplier_cost_to_quality,
        proxy="TPC-H has no quality inspections. Quality = share of a supplier's settled lines (return "
        "outcome known) that were not returned; cost = its price index, supply cost relative to the "
        "average offer for the same parts. Ratio = price index / quality (lower is better).",
    ),
    Insight(
        "BQ06",
        "What are the lead times and reliability metrics by supplier?",
        "mart_supplier_performance",
        "insights_suppliers_and_inventory",
        suppliers.supplier_reliability,
    ),
    Insight(
        "BQ07",
        "How does geography affect shipping costs and delivery times?",
        "mart_shipping_routes",
        "insights_shipping",
        shipping.geography_and_delivery,
        proxy="TPC-H has no freight cost. Cost proxy = the route's distance band (domestic < intra-region < "
        "inter-region, customer nation vs supplier nation) and the units it carries.",
    ),
    Insight(
        "BQ08",
        "Which parts carry single-source supply risk?",
        "mart_part_supply_risk",
        "insights_suppliers_and_inventory",
        suppliers.part_supply_risk,
        proxy="TPC-H offers every part from several suppliers, so residual risk is measured instead: one "
        "supplier delivering every unit, all suppliers in one region, or one supplier carrying at "
        "least the var supply_concentration_share of units.",
    ),
    Insight(
        "BQ09",
        "What are the key customer segments by purchasing behaviour?",
        "mart_customer_segments",
        "insights_customers",
        customers.key_customer_segments,
    ),
    Insight(
        "BQ10",
        "Which customers are at risk of churning, by order frequency?",
        "mart_churn_risk",
        "insights_customers",
        customers.churn_risk,
    ),
    Insight(
        "BQ11",
        "How does customer acquisition cost compare with lifetime value by region?",
        "mart_customer_geography",
        "insights_customers",
        customers.acquisition_cost_vs_lifetime_value,
        proxy="TPC-H has no marketing spend, so no acquisition cost. Proxy = the discount given on each "
        "customer's first order, the money spent to win the customer.",
    ),
    Insight(
        "BQ12",
        "How do customer preferences vary by geography?",
        "mart_geographic_preferences",
        "insights_customers",
        customers.geographic_preferences,
    ),
    Insight(
        "BQ13",
        "When are the peak ordering periods and what resources do they need?",
        "mart_sales_trends",
        "insights_sales_trends",
        sales.peak_ordering_periods,
    ),
    Insight(
        "BQ14",
        "Which order patterns indicate potential fraud or data-quality issues?",
        "mart_order_anomalies",
        "insights_order_anomalies",
        sales.suspicious_orders,
        proxy="TPC-H labels no order as fraudulent: these are rule-based signals with thresholds in the "
        "anomaly_* dbt vars, to investigate rather than verdicts.",
    ),
    Insight(
        "BQ15",
        "How do shipping methods affect customer satisfaction and costs?",
        "mart_shipping_modes",
        "insights_shipping",
        shipping.ship_mode_satisfaction,
        proxy="TPC-H has no satisfaction score and no shipping cost. Satisfaction proxy = share of settled "
        "lines that arrived by the commit date and were not returned; cost can only be proxied by "
        "the units each mode carries and their time in transit.",
    ),
    Insight(
        "BQ16",
        "What is the optimal inventory level by part and supplier?",
        "mart_inventory_health",
        "insights_suppliers_and_inventory",
        suppliers.optimal_inventory_levels,
        proxy="TPC-H has no ordering or holding cost, so no economic order quantity: the optimal level is a "
        "periodic-review order-up-to level, daily demand × (longest lead time + review period), from "
        "observed demand and lead times.",
    ),
)


def insight_marts() -> list[str]:
    """The marts the page reads, in first-use order."""
    return list(dict.fromkeys(i.mart for i in INSIGHTS))
