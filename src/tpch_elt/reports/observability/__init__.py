"""The observability page of `tpch-elt report`: what ran, what failed and why.

Everything comes from the warehouse's `observability` schema (recorded by
`tpch_elt.observability.record`, judged by `tpch_elt.observability.detect`):
run history, test results over time, failing tests with their sample rows
and SQL, model durations, each anomaly with its metric's history and
expected band, source freshness, schema changes, test and documentation
coverage per model, and the lineage graph of the manifest. Charts are
inline SVG; the page needs no network. Histories show the last
HISTORY_RUNS builds, so the page stays small however long the warehouse
has been running.

`runs` and `checks` build the sections; `page` assembles the page.
"""

from tpch_elt.reports.observability.common import HISTORY_RUNS
from tpch_elt.reports.observability.page import PAGE, render

__all__ = ["HISTORY_RUNS", "PAGE", "render"]
