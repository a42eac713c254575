"""The business-insight registry: one entry per business question, in order, each a question."""

from __future__ import annotations

from tpch_elt.reports.insights import INSIGHTS

BQ_IDS = [f"BQ{n:02d}" for n in range(1, 17)]


def test_the_registry_covers_each_business_question_once() -> None:
    assert [insight.bq for insight in INSIGHTS] == BQ_IDS
    assert all(insight.question.endswith("?") for insight in INSIGHTS)
