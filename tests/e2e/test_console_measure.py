"""The measurement pages over HTTP: the metrics explorer's figures are the rollups' (and the previous period's),
"explain this drop" is the CLI's decomposition, reports frame the report and download its PDF, goals can be
edited by a strategist and not by a viewer, experiments plan with the power calculator."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from tests.e2e.console_measure_support import record_history, seed_open_rate_drop
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.explain import explain
from touchflow.services.goals import goal_table
from touchflow.services.metrics import workspace_zone


def test_explorer_shows_this_period_against_the_previous_one(app: Application, clock: VirtualClock) -> None:
    seed_open_rate_drop(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/measure/metrics", params={"period": "7", "journey": "welcome"})
        assert page.status_code == 200, page.text
        # this week: 50 sent, 9 opened (18.0 %); the week before: 50 sent, 25 opened (50.0 %)
        assert re.search(r'data-kpi="sent">50<', page.text)
        assert re.search(r'data-kpi="open_rate">18\.0%<', page.text)
        assert "50.0%" in page.text and "-32.0" in page.text
        assert 'data-vega-spec="spec-rate"' in page.text and '"$schema"' in page.text
        by_template = client.get("/measure/metrics", params={"period": "7", "by": "template"})
        assert "welcome_a" in by_template.text and "welcome_b" in by_template.text


def test_explain_this_drop_is_the_cli_decomposition(app: Application, clock: VirtualClock) -> None:
    seed_open_rate_drop(app)
    zone = workspace_zone(app.services)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/measure/metrics", params={"period": "7", "journey": "welcome",
                                                      "explain_metric": "open_rate", "explain_by": "template"})
        assert page.status_code == 200, page.text
    end = datetime.combine(clock.now().astimezone(zone).date() + timedelta(days=1), time(), zone)
    found = explain(app.services, "open_rate", "welcome", end - timedelta(days=7), end, by="template").result
    assert 'data-explained="open_rate"' in page.text
    assert f"{found.change * 100:+.2f}" in page.text and f"{found.mix * 100:+.2f}" in page.text
    assert 'data-vega-spec="spec-explain"' in page.text


def test_explain_needs_a_journey_and_bad_filters_name_their_field(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "viewer")
        empty = client.get("/measure/metrics")
        assert empty.status_code == 200 and "没有消息" in empty.text  # the empty state says what to do
        no_journey = client.get("/measure/metrics", params={"explain_by": "template"})
        assert no_journey.status_code == 422 and "journey" in no_journey.text
        bad = client.get("/measure/metrics", params={"period": "custom", "from": "2026-13-01", "to": "x"})
        assert bad.status_code == 422 and "from" in bad.text
        hostile = client.get("/measure/metrics", params={"by": "<script>"})
        assert hostile.status_code == 422 and "<script>" not in hostile.text


def test_reports_frame_the_report_and_download_its_pdf(app: Application, clock: VirtualClock) -> None:
    seed_open_rate_drop(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "wang.fang@example.cn", "viewer", name="王芳")
        page = client.get("/measure/reports", params={"kind": "weekly", "date": "2026-02-25"})
        assert page.status_code == 200
        assert "frame-src 'self'" in page.headers["content-security-policy"]
        assert 'src="/measure/reports/weekly/view?date=2026-02-23' in page.text
        assert 'action="/measure/reports/schedule"' not in page.text  # a viewer cannot schedule
        framed = client.get("/measure/reports/weekly/view", params={"date": "2026-02-25"})
        assert framed.status_code == 200 and "营销自动化周报" in framed.text
        assert "frame-ancestors 'self'" in framed.headers["content-security-policy"]
        pdf = client.get("/measure/reports/weekly/pdf", params={"date": "2026-02-25"})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        refused = client.post("/measure/reports/schedule", data={"csrf_token": csrf_of(page.text),
                                                                 "recipients": "a@b.cn", "kind_weekly": "1"})
        assert refused.status_code == 403


def test_an_administrator_schedules_reports(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        page = client.get("/measure/reports")
        bad = client.post("/measure/reports/schedule", data={"csrf_token": csrf_of(page.text),
                                                             "recipients": "not-an-address", "kind_weekly": "1"})
        assert bad.status_code == 422 and "recipients" in bad.text
        done = client.post("/measure/reports/schedule", data={"csrf_token": csrf_of(page.text), "hour": "9",
                                                              "recipients": "boss@example.cn, cmo@example.cn",
                                                              "kind_weekly": "1", "lang": "zh-CN"})
        assert done.status_code == 303
        again = client.get("/measure/reports")
        assert "boss@example.cn" in again.text and "9:00" in again.text


def test_goals_editor_for_a_strategist_not_for_a_viewer(app: Application, clock: VirtualClock) -> None:
    record_history(app, "nps", [20.0, 25.0, 31.0])
    with console_client(app) as client:
        sign_in(client, app, clock, "wang.fang@example.cn", "viewer", name="王芳")
        seen = client.get("/measure/goals")
        assert seen.status_code == 200 and "用户画像覆盖率" in seen.text
        assert 'name="target.persona_coverage"' not in seen.text and 'name="yaml"' not in seen.text
        assert 'data-vega-spec="spark-nps"' in seen.text and '"value":31.0' in seen.text
        assert client.post("/measure/goals", data={"csrf_token": csrf_of(seen.text) if "csrf_token" in seen.text
                                                   else "x", "target.nps": "60"}).status_code == 403
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/measure/goals")
        token = csrf_of(page.text)
        wrong = client.post("/measure/goals", data={"csrf_token": token, "target.nps": "lots"})
        assert wrong.status_code == 422 and "target.nps" in wrong.text
        saved = client.post("/measure/goals", data={"csrf_token": token, "target.nps": "60",
                                                    "owner.nps": "客服部·王芳"})
        assert saved.status_code == 303
    kr = goal_table(app.services).find("nps")
    assert kr is not None and kr.target == 60 and kr.owner == "客服部·王芳"


def test_pages_read_in_english_by_preference(app: Application, clock: VirtualClock) -> None:
    seed_open_rate_drop(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/measure/metrics")
        client.post("/preferences", data={"csrf_token": csrf_of(page.text), "locale": "en", "time_zone": "UTC"})
        english = client.get("/measure/metrics", params={"period": "7", "journey": "welcome",
                                                         "explain_by": "template"})
        assert "Metrics explorer" in english.text and "Explain this drop" in english.text
        assert "Open rate of welcome" in english.text and "指标分析" not in english.text
        goals = client.get("/measure/goals")
        assert "Key result" in goals.text
