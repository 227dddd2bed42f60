"""A strategist reads the metrics explorer in Chromium and asks it to explain the open-rate drop: the charts are
drawn by the vendored vega-embed (SVG with a size), the explanation names the template that moved, the page
passes axe-core with no serious or critical finding, at 1280 px and at tablet width; nothing leaves the server."""

from __future__ import annotations

from tests.e2e.console_browser_support import axe_violations, needs_chromium, screenshot
from tests.e2e.console_measure_browser import console_browser, new_page, sign_in_page
from tests.e2e.console_measure_support import record_history, seed_open_rate_drop
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock


@needs_chromium
def test_a_strategist_reads_the_explorer_and_explains_the_drop(app: Application, clock: VirtualClock,
                                                                 database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # one browser run is enough; the figures are checked on both databases over HTTP
    seed_open_rate_drop(app)
    with console_browser(app) as (url, browser, problems):
        page = new_page(browser, url, problems)
        sign_in_page(page, url, app, clock, "li.na@example.cn", "strategist", "李娜")
        problems.clear()  # the landing page (the dashboard) belongs to another area's branch
        page.goto(f"{url}/preferences")
        page.get_by_role("link", name="效果衡量").click()
        page.get_by_label("旅程").select_option("welcome")
        page.get_by_label("时间段").select_option("7")
        page.get_by_role("button", name="查看").click()
        assert page.locator('[data-kpi="open_rate"]').inner_text() == "18.0%"
        charts = page.locator(".tf-chart svg")
        charts.first.wait_for(state="visible", timeout=20_000)
        assert charts.count() == 2 and charts.first.bounding_box()["width"] > 300  # type: ignore[index]
        assert charts.first.get_attribute("role") == "img"
        screenshot(page, "measure-metrics.png")
        page.get_by_label("按维度拆分").select_option("template")
        page.get_by_role("button", name="解释").click()
        sentence = page.locator("[data-explained]").inner_text()
        assert "50.0% → 18.0%" in sentence and "-32.00" in sentence
        page.locator('[data-vega-spec="spec-explain"] svg').wait_for(state="visible", timeout=20_000)
        assert "welcome_b" in page.locator("table").last.inner_text()
        assert axe_violations(page) == []
        screenshot(page, "measure-explain.png")
        page.set_viewport_size({"width": 820, "height": 1100})  # a tablet held upright
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert axe_violations(page) == []
        record_history(app, "nps", [20.0, 25.0, 31.0])
        page.set_viewport_size({"width": 1280, "height": 900})
        for path in ("/measure/reports", "/measure/goals", "/measure/experiments"):
            page.goto(url + path)
            if path == "/measure/goals":
                page.locator('[data-vega-spec="spark-nps"] svg').wait_for(state="visible")
                screenshot(page, "measure-goals.png")
            assert axe_violations(page) == [], path
    assert problems == [], problems
