"""The insights page in a real browser: headless Debian Chromium driven by
Playwright's Python package (the system browser, never `playwright
install`). Opens the page `tpch-elt run` wrote, as a user would from disk."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from testkit.browser import requires_chromium
from testkit.cli import Pipeline

BQ_IDS = [f"bq{i:02d}" for i in range(1, 17)]
# Where a copy of the screenshot lands for people to look at.
SCREENSHOT_COPY = Path(tempfile.gettempdir()) / "insights.png"


@requires_chromium
def test_insights_page_renders_every_question_without_console_errors(
    pipeline: Pipeline, browser, tmp_path: Path
) -> None:
    path = pipeline.data_dir / "reports" / "insights.html"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda request: requests.append(request.url))

    response = page.goto(path.as_uri(), wait_until="load")
    assert response is not None and response.ok

    assert page.title() == "TPC-H business insights"
    for bq in BQ_IDS:
        section = page.locator(f"section#{bq}")
        section.scroll_into_view_if_needed()
        assert section.is_visible(), f"{bq} is not visible"
        chart = section.locator("svg.chart").first
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 40, f"{bq} chart is not drawn"
        assert section.locator("tbody tr").count() >= 1, f"{bq} table is empty"
        assert section.locator("p.answer").inner_text().strip(), f"{bq} has no answer"
    # The page must not overflow the viewport sideways (tables scroll in place).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    screenshot = tmp_path / "insights.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    assert screenshot.stat().st_size > 50_000
    try:
        shutil.copyfile(screenshot, SCREENSHOT_COPY)
    except OSError:
        pass  # the copy is a convenience for humans; the assertions above are the test

    assert not problems, problems
    outside = [url for url in requests if not url.startswith(("file:", "data:"))]
    assert not outside, f"the page fetched from the network: {outside}"


@requires_chromium
def test_index_links_to_the_insights_page(pipeline: Pipeline, browser) -> None:
    page = browser.new_page()
    page.goto((pipeline.data_dir / "reports" / "index.html").as_uri())
    page.get_by_role("link", name="TPC-H business insights").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/insights.html")
    assert page.locator("section#bq16").count() == 1
    page.close()
