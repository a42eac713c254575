"""The observability page (reports.observability) and its charts on a written history, offline."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
from testkit.observability import Warehouse, history

from tpch_elt.observability.detect import detect_pending
from tpch_elt.reports.charts import band_chart, lineage_svg
from tpch_elt.reports.observability import render

# -- the report page ------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def test_band_chart_draws_the_band_and_marks_flagged_points() -> None:
    svg = band_chart(
        ["a", "b", "c", "d"],
        [10.0, 11.0, 10.0, 40.0],
        [None, 8.0, 8.5, 8.0],
        [None, 12.0, 12.5, 12.0],
        [None, None, None, "fail"],
        title="t <x>",
    )
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "t <x>"
    assert len(root.findall(f"{SVG}polygon")) == 1
    circles = root.findall(f"{SVG}circle")
    assert [c.get("fill") for c in circles].count("#d55e00") == 1
    assert "expected 8 … 12" in circles[3].find(f"{SVG}title").text


def test_lineage_puts_each_layer_in_its_own_column_left_to_right() -> None:
    nodes = [
        {"unique_id": "source.p.s", "name": "s", "layer": "source", "depends_on": "[]", "description": ""},
        {
            "unique_id": "model.p.stg",
            "name": "stg",
            "layer": "staging",
            "depends_on": '["source.p.s"]',
            "description": "",
        },
        {
            "unique_id": "model.p.m",
            "name": "m",
            "layer": "mart",
            "depends_on": '["model.p.stg"]',
            "description": "x",
        },
        {
            "unique_id": "exposure.p.e",
            "name": "e",
            "layer": "exposure",
            "depends_on": '["model.p.m"]',
            "description": "",
        },
    ]
    root = ET.fromstring(lineage_svg(nodes, {"model.p.m": "fail"}, title="lineage"))
    boxes = {g.find(f"{SVG}text").text: g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g")}
    xs = [float(boxes[name].get("x")) for name in ("s", "stg", "m", "e")]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert boxes["m"].get("stroke") == "#d55e00"
    assert len(root.findall(f"{SVG}path")) == 3


def test_the_page_shows_failures_anomalies_and_schema_changes_offline(warehouse: Warehouse) -> None:
    w = warehouse
    history(w, 6)
    w.con.execute("alter table raw.orders add column o_channel varchar")
    w.build(rows=40, null_comments=20, test_status="fail")
    detect_pending(w.con)
    html = render(w.con)
    for needle in (
        "not_null_stg_orders_order_comment",
        "Sample of failing rows",
        "raw.orders rows_added",
        "column o_channel added",
        "Lineage",
        "Test and documentation coverage",
        "compiled SQL",
    ):
        assert needle in html, needle
    urls = set(re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", html))
    assert not urls, f"the page references outside resources: {urls}"
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)


def test_the_page_explains_an_empty_history(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert "no observability history" in render(con)
