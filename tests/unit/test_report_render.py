"""Rendering a report: every section in the HTML, and a PDF whose Chinese text survives (pdftotext), whose font
is the embedded, subset Noto Sans CJK (pdffonts), and which stays small."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from touchflow.domain.measurement.report_model import (
    Anomaly,
    ComplianceRow,
    Counts,
    FunnelRow,
    GoalLine,
    ReportData,
    SkipRow,
    TemplateRow,
    kpis,
    period_of,
)
from touchflow.reports.fonts import FontMissing, find_cjk_font
from touchflow.reports.render import render_html, render_pdf

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
                                   reason="poppler-utils (pdftotext, pdffonts) not installed (.ci/run installs it)")


def sample() -> ReportData:
    period = period_of("weekly", date(2026, 2, 23), "Asia/Shanghai")
    now = Counts(entered=1234, sent=5678, delivered=5432, opened=2109, clicked=321, converted=87, skipped=45)
    before = Counts(entered=1000, sent=5000, delivered=4900, opened=1500, clicked=250, converted=70)
    daily = [(period.first_day + timedelta(days=i), Counts(sent=800 + 10 * i, opened=300 + i, clicked=40))
             for i in range(7)]
    return ReportData(
        period=period, generated_at=datetime(2026, 3, 2, 1, tzinfo=UTC), totals=now, previous_totals=before,
        kpis=kpis(now, before), daily=daily,
        funnels=[FunnelRow("welcome", "新用户欢迎流程", now),
                 FunnelRow("dormant_reactivation", "沉睡客户唤醒", Counts(entered=50, sent=50, opened=9))],
        best_templates=[TemplateRow("usage_tips", "email", 900, 880, 400, 120)],
        worst_templates=[TemplateRow("promo_spring", "sms", 700, 690, 50, 3)],
        skips=[SkipRow("frequency_cap", 30), SkipRow("quiet_hours", 15)],
        compliance=[ComplianceRow("spring_sale", 2, "draft", ("absolute: 最佳", "absolute: 国家级"))],
        goals=[GoalLine("nps", "NPS ≥ 50", "客服部", date(2026, 12, 31), 50, "score", 31.0, 0.62, True,
                        "trend reaches 40 by 2026-12-31"),
               GoalLine("coupon_use", "优惠券使用率 ≥ 8%", "市场部·运营", date(2026, 6, 30), 0.08, "percent", None,
                        None, False, "not measured")],
        anomalies=[Anomaly(datetime(2026, 2, 25, 3, tzinfo=UTC), "welcome", "open_rate", "打开率连续三天下降 18%")],
    )


@pytest.fixture(scope="module")
def pdf_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("report") / "weekly.pdf"
    path.write_bytes(render_pdf(render_html(sample())))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    return path, text


def test_the_html_has_every_section_and_times_with_their_zone() -> None:
    html = render_html(sample())

    for section in ("kpis", "trend", "funnels", "templates", "skips", "compliance", "goals", "anomalies"):
        assert f'id="{section}"' in html
    for text in ("营销自动化周报", "核心指标", "各流程转化漏斗", "护栏拦截", "合规检查", "目标进度", "异常",
                 "新用户欢迎流程", "usage_tips", "promo_spring", "频次上限", "最佳", "NPS ≥ 50", "有风险", "未测量",
                 "打开率连续三天下降"):
        assert text in html, text
    assert "2026-02-23 — 2026-03-01, Asia/Shanghai UTC+08:00" in html
    assert "2026-03-02 09:00 +08:00 (Asia/Shanghai)" in html  # generated at, local
    assert html.count("<svg") == 2  # trend and funnel charts, inline
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched from anywhere


def test_english_on_request() -> None:
    html = render_html(sample(), "en")
    assert "Marketing automation weekly report" in html and "Guardrail skips by reason" in html
    assert "营销自动化周报" not in html


@needs_poppler
def test_the_pdf_carries_the_chinese_title_and_the_figures_as_text(pdf_text: tuple[Path, str]) -> None:
    _, text = pdf_text
    flat = re.sub(r"\s+", " ", text)
    assert "营销自动化周报" in flat
    for figure in ("1,234", "5,678", "38.8%", "+23.4%", "+8.2 个百分点"):  # entered, sent, open rate, changes
        assert figure in flat, figure


@needs_poppler
def test_no_glyph_is_missing_every_chinese_string_round_trips(pdf_text: tuple[Path, str]) -> None:
    path, text = pdf_text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    names = [line.split()[0] for line in fonts.splitlines()[2:] if line.strip()]
    assert names and all("NotoSansCJK" in n.replace("-", "") for n in names), fonts
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts.splitlines()[2:] if line.strip()), fonts
    flat = re.sub(r"\s+", "", text)
    for chinese in ("核心指标", "每日趋势", "各流程转化漏斗", "新用户欢迎流程", "沉睡客户唤醒", "模板表现", "表现最佳",
                    "护栏拦截（按原因）", "频次上限", "免打扰时段", "合规检查（广告法）", "目标进度", "优惠券使用率",
                    "市场部·运营", "客服部", "有风险", "未测量", "打开率连续三天下降", "发送", "打开", "点击"):
        assert chinese in flat, chinese  # a missing glyph would come back as nothing or a box
    assert "\ufffd" not in text and "□" not in text


@needs_poppler
def test_the_pdf_stays_small(pdf_text: tuple[Path, str]) -> None:
    path, _ = pdf_text
    assert path.stat().st_size < 1_500_000  # the CJK font is subset, not embedded whole (~19 MB)


def test_a_clear_message_when_the_font_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        find_cjk_font((str(tmp_path),))


def test_rollup_rows_become_the_same_report_counts() -> None:
    """``counts_from_rows``: the metrics rollups (MetricRow) as report counts — unique opens and clicks, skips of
    every reason, per day, journey and template."""
    from touchflow.domain.measurement.metrics import MetricRow
    from touchflow.services.reports import counts_from_rows

    period = period_of("weekly", date(2026, 2, 23), "Asia/Shanghai")
    rows = [
        MetricRow(day=date(2026, 2, 24), journey="welcome", template="welcome_email@2", channel="email", entered=10,
                  sent=8, delivered=6, opened=9, opened_unique=4, clicked=5, clicked_unique=2, converted=3,
                  skipped={"frequency_cap": 2}),
        MetricRow(day=date(2026, 2, 25), journey="welcome", template="welcome_email@2", channel="email", sent=2,
                  skipped={"consent": 1, "frequency_cap": 1}),
        MetricRow(day=date(2026, 2, 25), journey="", template="", channel="", entered=0),
    ]
    counts = counts_from_rows(rows, period)

    assert counts.totals == Counts(entered=10, sent=10, delivered=6, opened=4, clicked=2, converted=3, skipped=4)
    assert counts.by_journey == {"welcome": counts.totals}
    assert [(t.template, t.sent, t.opened) for t in counts.templates] == [("welcome_email@2", 10, 4)]
    assert counts.skips == {"frequency_cap": 3, "consent": 1}
    assert [d for d, c in counts.daily] == [date(2026, 2, 23) + timedelta(days=i) for i in range(7)]
    assert dict(counts.daily)[date(2026, 2, 25)].sent == 2


@needs_poppler
def test_the_flow_review_has_one_page_per_journey(tmp_path: Path) -> None:
    from touchflow.domain.measurement.flow_review import JourneyReview, VersionEffect
    from touchflow.reports.render import render_review_html

    at = datetime(2026, 2, 1, 2, tzinfo=UTC)
    effect = VersionEffect(2, at, "marketer", Counts(entered=20, converted=10), Counts(entered=20, converted=2))
    reviews = [JourneyReview("welcome", "新用户欢迎流程", "active", True, Counts(entered=40, converted=12),
                             Counts(entered=30, converted=12), [effect], [], ["version_hurt|v2", "skips_high|25%"],
                             "decided", "change", "os:lihua", "首封邮件改到上午 10 点"),
               JourneyReview("cart", "购物车提醒", "active", False, Counts(), Counts(), [],
                             ["wait-without-timeout: waits forever (nodes.wait)"], ["no_entrants"])]
    path = tmp_path / "review.pdf"
    path.write_bytes(render_pdf(render_review_html("2026Q1", reviews, at, "Asia/Shanghai")))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
    pages = [re.sub(r"\s+", "", p) for p in text.split("\f") if p.strip()]

    assert len(pages) == 3 and "流程季度复盘·2026Q1" in pages[0]
    assert "新用户欢迎流程" in pages[1] and "购物车提醒" in pages[2]
    assert "v2发布后转化率下降" in pages[1] and "-40.0个百分点" in pages[1] and "调整·os:lihua" in pages[1]
    assert "未设置转化目标" in pages[2] and "本季度无人进入" in pages[2] and "待复盘" in pages[2]
