"""Unit tests of the report machinery: SVG charts, HTML tables, pluggable pages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest

from tpch_elt.errors import PipelineError
from tpch_elt.reports.charts import (
    Series,
    bar_chart,
    column_chart,
    compact,
    heatmap,
    line_chart,
    nice_ticks,
    percent,
)
from tpch_elt.reports.html import html_table
from tpch_elt.reports.page import Page
from tpch_elt.reports.pages import write_reports
from tpch_elt.settings import Settings

SVG = "{http://www.w3.org/2000/svg}"
NASTY = 'A&B <script>alert("x")</script>'


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


ALL_CHARTS = {
    "bar": lambda: bar_chart([NASTY, "b"], [Series(NASTY, [3.0, -1.0])], title=NASTY),
    "column": lambda: column_chart([NASTY, "b", "c"], [1.0, None, 2.0], title=NASTY, highlight=[2]),
    "line": lambda: line_chart([NASTY, "b", "c"], [Series("s", [1.0, None, 3.0])], title=NASTY),
    "heatmap": lambda: heatmap([NASTY], ["x", "y"], [[0.9, 1.2]], title=NASTY, center=1.0),
}


@pytest.mark.parametrize("kind", sorted(ALL_CHARTS))
def test_charts_are_well_formed_svg_with_text_escaped(kind: str) -> None:
    svg = ALL_CHARTS[kind]()
    root = _parse(svg)  # raises on unescaped markup
    assert root.tag == f"{SVG}svg"
    assert root.get("aria-label") == NASTY
    assert root.find(f"{SVG}title").text == NASTY
    assert "<script>" not in svg


def test_bar_chart_draws_bars_proportional_to_values_and_negatives_left_of_zero() -> None:
    root = _parse(bar_chart(["a", "b", "c"], [Series("v", [10.0, 5.0, -5.0])], title="t"))
    a, b, c = _rects(root)
    width = {name: float(r.get("width")) for name, r in zip("abc", (a, b, c), strict=True)}
    assert width["a"] == pytest.approx(2 * width["b"], rel=0.02)
    assert width["c"] == pytest.approx(width["b"], rel=0.02)
    assert float(c.get("x")) + width["c"] == pytest.approx(float(b.get("x")), abs=0.2)


def test_column_chart_highlights_the_requested_columns_and_skips_missing_values() -> None:
    root = _parse(column_chart(["a", "b", "c"], [1.0, None, 2.0], title="t", highlight=[2]))
    columns = _rects(root)
    assert len(columns) == 2
    assert columns[0].get("fill") != columns[1].get("fill")


def test_line_chart_breaks_the_line_at_missing_values() -> None:
    root = _parse(line_chart(list("abcde"), [Series("s", [1.0, 2.0, None, 3.0, 4.0])], title="t"))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


def test_heatmap_min_spread_keeps_immaterial_differences_pale() -> None:
    def darkest(svg: str) -> int:
        fills = [r.get("fill") for r in _rects(_parse(svg))]
        return min(sum(int(f[i : i + 2], 16) for i in (1, 3, 5)) for f in fills)

    values = [[1.001, 0.999]]
    stretched = heatmap(["r"], ["x", "y"], values, title="t", center=1.0)
    honest = heatmap(["r"], ["x", "y"], values, title="t", center=1.0, min_spread=0.05)
    assert darkest(honest) > darkest(stretched)


def test_empty_charts_say_no_data() -> None:
    assert "no data" in bar_chart([], [Series("v", [])], title="t")
    assert "no data" in column_chart(["a"], [None], title="t")


def test_number_formats() -> None:
    assert compact(2_858_197.9764) == "2.86M"
    assert compact(218_000_000_000) == "218B"
    assert compact(950) == "950"
    assert compact(None) == "–"
    assert percent(0.12345) == "12.3%"
    ticks = nice_ticks(0.0, 2.86e6)
    assert ticks[0] == 0 and ticks[-1] >= 2.86e6 and len(ticks) <= 8


def test_html_table_escapes_cells_and_rejects_ragged_rows() -> None:
    html = html_table(["a", "n"], [[NASTY, "1"]], numeric=[False, True], caption="c")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<td class="num">1</td>' in html
    with pytest.raises(ValueError):
        html_table(["a", "b"], [["only one"]])


def test_pages_are_pluggable_and_written_with_an_index(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table answer as select 42 as value")

    def render(con: duckdb.DuckDBPyConnection) -> str:
        return f"<p>the answer is {con.execute('select value from answer').fetchall()[0][0]}</p>"

    pages = [
        Page("observability", "Observability", "runs and tests", render),
        Page("extra", "Extra", "another page", render),
    ]
    settings = Settings(data_dir=tmp_path / "data", warehouse=warehouse)
    result = write_reports(settings, pages)
    assert [p.path.name for p in result.pages] == ["observability.html", "extra.html"]
    assert "the answer is 42" in result.pages[0].path.read_text()
    index = result.index.read_text()
    assert re.search(r'href="observability.html"', index) and re.search(r'href="extra.html"', index)
    assert not list((tmp_path / "data" / "reports").glob(".*")), "temporary files left behind"


def test_pages_need_valid_unique_slugs_and_the_embedded_warehouse(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Page("index", "Index", "", lambda con: "")
    with pytest.raises(ValueError):
        Page("../escape", "Bad", "", lambda con: "")
    page = Page("p", "P", "", lambda con: "")
    with pytest.raises(ValueError):
        write_reports(Settings(data_dir=tmp_path), [page, page])
    with pytest.raises(PipelineError, match="target 'snowflake'"):
        write_reports(Settings(data_dir=tmp_path, target="snowflake"), [page])


def test_a_page_query_error_becomes_one_actionable_line(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    broken = Page("broken", "Broken", "", lambda con: str(con.execute("select * from mart.nope").fetchall()))
    with pytest.raises(PipelineError, match=r"report page broken.html: .*nope.*tpch-elt build"):
        write_reports(Settings(data_dir=tmp_path / "data", warehouse=warehouse), [broken])
