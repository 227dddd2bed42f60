"""Reports from a known scenario (SQLite and PostgreSQL): KPIs against the previous week, the funnel, best and
worst templates, guardrail skips, compliance findings — counted in the workspace's zone (Asia/Shanghai)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.domain.measurement.report_model import Counts
from touchflow.services.content import save_template
from touchflow.services.metrics import refresh_rollups
from touchflow.services.reports import build_report, counts_from_events, counts_from_rollups


@pytest.fixture
def scenario(app: Application) -> Scenario:
    """The clock stands at Monday 2026-03-02 09:00 +08:00: the last closed week is 02-23 … 03-01."""
    s = Scenario(app)
    s.runs(local(24), entered=10, converted=3)
    s.runs(local(23, hour=0), entered=1)  # 00:00 local on Monday: this week (16:00 UTC on Sunday)
    s.runs(local(22, hour=23), entered=1)  # 23:00 local on Sunday: the week before
    s.messages(local(24), sent=8, skipped={"frequency_cap": 2, "consent": 1}, delivered=6, opened=4, clicked=2)
    s.messages(local(25), sent=25, delivered=25, opened=5, clicked=1, template="promo_spring")
    s.messages(local(26), sent=20, delivered=20, opened=10, clicked=5, template="usage_tips")
    s.runs(local(17), entered=5, converted=1)  # the previous week
    s.messages(local(17), sent=5, delivered=5, opened=1)
    s.runs(local(2, hour=8, month=3), entered=4)  # this morning: the open week, in no report yet
    return s


def test_weekly_report_figures_from_a_known_scenario(app: Application, scenario: Scenario) -> None:
    data = build_report(app.services, "weekly")

    assert (data.period.first_day, data.period.last_day) == (date(2026, 2, 23), date(2026, 3, 1))
    assert data.period.zone == "Asia/Shanghai"
    # email: delivered = sent − bounced (no receipts), so the two undelivered messages bounced
    assert data.totals == Counts(entered=11, sent=53, delivered=51, opened=19, clicked=8, converted=3, bounced=2,
                                 skipped=3)
    assert data.previous_totals == Counts(entered=6, sent=5, delivered=5, opened=1, converted=1)
    kpis = {k.key: k for k in data.kpis}
    assert kpis["sent"].value == 53 and kpis["sent"].previous == 5 and kpis["sent"].change == pytest.approx(9.6)
    assert kpis["open_rate"].value == pytest.approx(19 / 51)  # unique opens / delivered
    assert kpis["click_rate"].value == pytest.approx(8 / 51)  # a message clicked twice counts once
    assert kpis["conversion_rate"].value == pytest.approx(3 / 11)
    assert kpis["delivery_rate"].value == pytest.approx(51 / 53)
    assert kpis["open_rate"].change == pytest.approx(19 / 51 - 1 / 5)  # percentage points for rates
    [funnel] = data.funnels
    assert funnel.journey == "welcome" and funnel.name == "新用户欢迎流程"
    assert [n for _, n in funnel.stages()] == [11, 53, 51, 19, 8, 3]
    assert [(t.template, t.sent) for t in data.best_templates] == [("usage_tips", 20)]
    assert [(t.template, t.sent) for t in data.worst_templates] == [("promo_spring", 25)]  # welcome_email: < 20 sent
    assert {s.reason: s.count for s in data.skips} == {"frequency_cap": 2, "consent": 1}
    assert [d for d, c in data.daily if c.sent] == [date(2026, 2, 24), date(2026, 2, 25), date(2026, 2, 26)]
    assert data.anomalies == []  # the alerts hook, empty until wired


def test_a_daily_report_and_compliance_findings(app: Application, scenario: Scenario) -> None:
    save_template(app.services, "spring_sale", "email", "春季大促", "全网最佳的产品，国家级品质", "text", by="editor")

    day = build_report(app.services, "daily", date(2026, 2, 24))

    assert day.totals.entered == 10 and day.totals.sent == 8 and day.totals.skipped == 3
    assert day.previous_totals == Counts(entered=1)  # the run at 00:00 local on the 23rd
    [finding] = [c for c in day.compliance if c.template == "spring_sale"]
    assert any("最佳" in f for f in finding.findings) and any("国家级" in f for f in finding.findings)


def test_the_rollup_source_agrees_on_message_events(app: Application, scenario: Scenario) -> None:
    """The raw-row source (``counts_from_events``, no longer the default) counts the same unique opens and clicks
    as the rollups."""
    refresh_rollups(app.services)
    data = build_report(app.services, "weekly", counts=counts_from_rollups)
    raw = build_report(app.services, "weekly", counts=counts_from_events)
    assert (raw.totals.opened, raw.totals.clicked) == (data.totals.opened, data.totals.clicked)
    assert (data.totals.opened, data.totals.clicked) == (19, 8)
    assert data.previous_totals.opened == 1
    assert [f.journey for f in data.funnels] == ["welcome"] and data.funnels[0].counts.opened == 19
