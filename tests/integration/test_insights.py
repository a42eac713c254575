"""The insights report: every business question BQ01..BQ16 answered on the
page `tpch-elt run` writes, from the marts, self-contained; and the marts
behind it declared, documented and reconciled in dbt."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from testkit.cli import Pipeline, run_cli

from tpch_elt.reports.charts import number
from tpch_elt.reports.insights import INSIGHTS, insight_marts

BQ_IDS = [f"BQ{i:02d}" for i in range(1, 17)]
# The data TPC-H lacks: each of these answers must state the proxy it uses.
MUST_STATE_PROXY = {
    "BQ05": "quality",
    "BQ07": "freight cost",
    "BQ11": "acquisition cost",
    "BQ15": "satisfaction",
    "BQ16": "holding cost",
}
# What a mart may reconcile against: the order grain, the line grain, or the
# staging/intermediate model it rolls up.
RECONCILIATION_BASES = {
    "model.tpch_elt.mart_orders",
    "model.tpch_elt.int_order_lineitems",
    "model.tpch_elt.mart_customer_summary",
    "model.tpch_elt.int_supplier_parts",
    "model.tpch_elt.stg_fct_partsupp",
}


@dataclass
class Section:
    bq: str
    mart: str
    text: list[str] = field(default_factory=list)
    answer: str = ""
    proxy: str = ""
    svg_count: int = 0
    table_rows: int = 0


class ReportParser(HTMLParser):
    """Collects each BQ section's text, charts and table rows, and every link."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, Section] = {}
        self.links: list[tuple[str, str, str]] = []
        self.scripts = 0
        self.styles: list[str] = []
        self._current: Section | None = None
        self._depth = 0
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "xlink:href", "action", "poster"):
            if key in attr:
                self.links.append((tag, key, attr[key]))
        if tag == "script":
            self.scripts += 1
        if tag == "section" and "data-bq" in attr:
            self._current = Section(attr["data-bq"], attr.get("data-mart", ""))
            self.sections[self._current.bq] = self._current
            self._depth = 0
        if self._current is None:
            self._in.append(tag)
            return
        if tag == "section":
            self._depth += 1
        if tag == "svg":
            self._current.svg_count += 1
        if tag == "tr" and "tbody" in self._in:
            self._current.table_rows += 1
        cls = attr.get("class", "")
        self._in.append(f"{tag}.{cls}" if cls else tag)

    def handle_endtag(self, tag: str) -> None:
        while self._in:
            opened = self._in.pop()
            if opened.split(".")[0] == tag:
                break
        if tag == "section" and self._current is not None:
            self._depth -= 1
            if self._depth <= 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "style":
            self.styles.append(data)
        if self._current is None:
            return
        self._current.text.append(data)
        if "p.answer" in self._in:
            self._current.answer += data
        if "p.proxy" in self._in:
            self._current.proxy += data


@dataclass(frozen=True)
class Report:
    html: str
    parsed: ReportParser

    def section(self, bq: str) -> Section:
        assert bq in self.parsed.sections, f"{bq} missing from the report"
        return self.parsed.sections[bq]

    def text(self, bq: str) -> str:
        return " ".join("".join(self.section(bq).text).split())


def _parse(path: Path) -> Report:
    html = path.read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(html)
    parser.close()
    return Report(html, parser)


@pytest.fixture(scope="module")
def report(pipeline: Pipeline) -> Report:
    path = pipeline.data_dir / "reports" / "insights.html"
    assert path.is_file(), f"`tpch-elt run` wrote no {path}"
    return _parse(path)


@pytest.fixture(scope="module")
def manifest(pipeline: Pipeline) -> dict:
    return json.loads((pipeline.data_dir / "dbt" / "target" / "manifest.json").read_text())


def test_run_writes_the_insights_page_and_an_index_linking_it(pipeline: Pipeline) -> None:
    reports = pipeline.data_dir / "reports"
    assert "Reports in" in pipeline.stdout
    index = _parse(reports / "index.html")
    assert ("a", "href", "insights.html") in index.parsed.links
    assert (reports / "insights.html").stat().st_size < 400_000, "the page should stay small"


@pytest.mark.parametrize("bq", BQ_IDS)
def test_each_question_has_an_answer_a_chart_a_table_and_its_mart(report: Report, bq: str) -> None:
    insight = next(i for i in INSIGHTS if i.bq == bq)
    section = report.section(bq)
    assert section.mart == insight.mart
    assert f"mart.{insight.mart}" in report.text(bq)
    assert insight.question in report.text(bq)
    answer = section.answer.strip()
    assert answer.endswith("."), answer
    assert re.search(r"\d", answer), f"{bq}'s answer quotes no number: {answer}"
    assert section.svg_count >= 1, f"{bq} has no chart"
    assert section.table_rows >= 1, f"{bq}'s table is empty"


def test_proxies_are_stated_where_tpch_lacks_the_data(report: Report) -> None:
    for bq, missing in MUST_STATE_PROXY.items():
        proxy = report.section(bq).proxy
        assert "TPC-H has no" in proxy or "TPC-H labels no" in proxy, f"{bq}: {proxy!r}"
        assert missing in proxy.lower(), f"{bq} should say TPC-H lacks {missing}: {proxy!r}"
    for insight in INSIGHTS:
        assert bool(report.section(insight.bq).proxy) == bool(insight.proxy), insight.bq


def test_the_page_is_self_contained(report: Report) -> None:
    assert report.parsed.scripts == 0
    for tag, attribute, target in report.parsed.links:
        assert target.startswith(("#", "data:")) or re.fullmatch(r"[a-z0-9_-]+\.html", target), (
            f"<{tag} {attribute}={target!r}> points outside the file"
        )
    css = "".join(report.parsed.styles)
    assert "@import" not in css and "url(" not in css
    # The only absolute URL allowed is the SVG namespace, which is never fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", report.html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_answers_are_computed_from_the_marts(pipeline: Pipeline, report: Report) -> None:
    as_of = pipeline.scalar("select max(order_date) from mart.mart_orders")
    assert f"As of {as_of}" in report.html

    top_part = pipeline.scalar("select part_name from mart.mart_product_performance where revenue_rank = 1")
    assert f"“{top_part}”" in report.section("BQ01").answer

    at_risk, ordering = pipeline.rows(
        "select sum(churn_risk_customer_count), sum(customer_count) from mart.mart_churn_risk"
    )[0]
    assert f"{number(at_risk)} of {number(ordering)} ordering customers" in report.section("BQ10").answer
    assert ordering == pipeline.scalar("select count(*) from mart.mart_customer_summary where has_orders")

    best_supplier = pipeline.scalar(
        "select supplier_name from mart.mart_supplier_performance where cost_to_quality_rank = 1"
    )
    assert report.section("BQ05").answer.startswith(best_supplier)

    orders = pipeline.scalar("select count(*) from mart.mart_orders")
    below_cost = pipeline.scalar("select count(*) from mart.mart_orders where gross_margin < 0")
    answer = report.section("BQ14").answer
    assert f"of {number(orders)} orders" in answer
    assert f"{number(below_cost)} sold below cost" in answer


def test_the_report_command_rewrites_the_same_page_from_a_warehouse(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    proc = run_cli(
        "--data-dir", str(tmp_path / "data"), "--warehouse", str(pipeline.warehouse), "report", check=True
    )
    assert "insights.html" in proc.stdout
    written = tmp_path / "data" / "reports" / "insights.html"

    def without_timestamp(html: str) -> str:
        return re.sub(r"Generated [^<]+ from", "Generated - from", html)

    original = (pipeline.data_dir / "reports" / "insights.html").read_text(encoding="utf-8")
    assert without_timestamp(written.read_text(encoding="utf-8")) == without_timestamp(original)


def test_report_without_built_marts_fails_with_one_actionable_line(tmp_path: Path) -> None:
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    proc = run_cli("--data-dir", str(tmp_path), "--warehouse", str(warehouse), "report")
    assert proc.returncode == 1
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    # the insights read the published snapshot, which no build has written
    assert f"no published marts at {tmp_path / 'empty.published.duckdb'}" in message
    assert "tpch-elt build" in message
    assert not (tmp_path / "reports" / "insights.html").exists()


def test_each_insight_mart_declares_its_questions_and_feeds_an_exposure(manifest: dict) -> None:
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    for insight in INSIGHTS:
        model = models[insight.mart]
        assert insight.bq in model["config"]["meta"]["business_questions"], insight.bq
        exposure = exposures[insight.exposure]
        assert model["unique_id"] in exposure["depends_on"]["nodes"], (insight.bq, insight.exposure)
        assert insight.bq in exposure["config"]["meta"]["business_questions"], insight.bq
        assert exposure["owner"]["email"] and exposure["owner"]["name"]
    declared = {
        bq
        for e in exposures.values()
        for bq in e.get("config", {}).get("meta", {}).get("business_questions", [])
    }
    assert declared >= set(BQ_IDS)


def test_each_insight_mart_has_grain_key_and_reconciliation_tests(manifest: dict) -> None:
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    for mart in insight_marts():
        unique_id = f"model.tpch_elt.{mart}"
        on_mart = [t for t in tests if unique_id in t["depends_on"]["nodes"]]
        kinds = {(t.get("test_metadata") or {}).get("name") for t in on_mart}
        assert kinds & {"unique", "unique_combination_of_columns"}, f"{mart} has no grain test"
        assert "not_null" in kinds, f"{mart} has no not_null key test"
        reconciling = [
            t
            for t in on_mart
            if RECONCILIATION_BASES & set(t["depends_on"]["nodes"]) - {unique_id}
            and (t.get("test_metadata") or {}).get("name") in (None, "sums_match")
        ]
        assert reconciling, f"{mart} has no reconciliation test against {sorted(RECONCILIATION_BASES)}"
