"""The weekly report page in a real browser (Debian's Chromium): it renders its Chinese title, figures and charts
from this server alone (an intranet without internet) and breaks no rule of its CSP."""

from __future__ import annotations

import os

import pytest

from tests.e2e.live_server import live_api
from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.services.apikeys import create_api_key

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
                    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
def test_the_weekly_report_renders_offline_in_chromium(app: Application) -> None:
    from playwright.sync_api import Route, sync_playwright

    scenario = Scenario(app)
    scenario.runs(local(24), entered=10, converted=3)
    scenario.messages(local(24), sent=8, delivered=6, opened=4)
    key = create_api_key(app.services, "report-viewer", actor="test").secret
    outside: list[str] = []
    problems: list[str] = []
    with live_api(app) as url, sync_playwright() as playwright:

        def only_this_server(route: Route) -> None:
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(extra_http_headers={"Authorization": f"Bearer {key}"})
            page.route("**/*", only_this_server)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            answer = page.goto(f"{url}/v1/reports/weekly?date=2026-02-24")
            assert answer is not None and answer.status == 200
            text = page.locator("body").inner_text()
            assert "营销自动化周报" in text and "新用户欢迎流程" in text
            charts = page.locator("svg")
            assert charts.count() >= 1 and charts.first.bounding_box() is not None  # drawn, with a size
        finally:
            browser.close()
    assert outside == []
    assert problems == [], problems
