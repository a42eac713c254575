"""Inline SVG charts for the offline HTML reports.

Pure functions from numbers to an `<svg>` element (as `markupsafe.Markup`,
so a template inserts it as it is): no JavaScript, no fonts or assets from
the network (text inherits the page's system font), so a report is one
self-contained file. Every chart carries a `<title>` and an `aria-label`,
scales with `viewBox`, and shows each value in a hover tooltip (`<title>`
on the mark). Labels, titles and tooltips are escaped where they are drawn.
"""

from tpch_elt.reports.charts.bars import bar_chart, column_chart
from tpch_elt.reports.charts.heatmap import heatmap
from tpch_elt.reports.charts.lineage import lineage_svg
from tpch_elt.reports.charts.lines import band_chart, line_chart
from tpch_elt.reports.charts.numbers import compact, number, percent
from tpch_elt.reports.charts.svg import CHART_WIDTH, PALETTE, Formatter, Series, nice_ticks

__all__ = [
    "CHART_WIDTH",
    "PALETTE",
    "Formatter",
    "Series",
    "band_chart",
    "bar_chart",
    "column_chart",
    "compact",
    "heatmap",
    "line_chart",
    "lineage_svg",
    "nice_ticks",
    "number",
    "percent",
]
