"""The insights page: the business questions BQ01..BQ16, each answered from a
tested mart with a sentence computed from the data, a chart, the table behind
it, the mart's name and, where TPC-H lacks the data, the proxy used.

`questions` lists the questions; `sales`, `customers`, `suppliers` and
`shipping` answer them; `page` assembles the page.
"""

from tpch_elt.reports.insights.page import PAGE, render
from tpch_elt.reports.insights.questions import INSIGHTS, Insight, insight_marts

__all__ = ["INSIGHTS", "PAGE", "Insight", "insight_marts", "render"]
