"""ReportData -> HTML (Jinja2, charts inline as SVG) -> PDF (WeasyPrint, fonts subset and embedded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from touchflow.domain.measurement.flow_review import JourneyReview
from touchflow.domain.measurement.report_model import FUNNEL_STAGES, Counts, GoalLine, Kpi, ReportData
from touchflow.reports import charts
from touchflow.reports.fonts import FAMILY, CjkFont, find_cjk_font
from touchflow.reports.labels import catalog, label

__all__ = ["fmt_change", "fmt_value", "render_html", "render_pdf", "render_review_html"]


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("touchflow.reports", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def _when(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]} ({zone})"


def _span(data: ReportData) -> str:
    p = data.period
    offset = p.start.strftime("%z")
    days = p.first_day.isoformat() if p.kind == "daily" else f"{p.first_day.isoformat()} — {p.last_day.isoformat()}"
    return f"{days}, {p.zone} UTC{offset[:3]}:{offset[3:]}"


def fmt_value(value: float | None, kind: str, lang: str) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if kind == "rate" else f"{value:,.0f}"


def fmt_change(kpi: Kpi, lang: str) -> str:
    change = kpi.change
    if change is None:
        return "—"
    if kpi.kind == "rate":
        return f"{change * 100:+.1f} {label(lang, 'pp')}"
    return f"{change:+.1%}"


def _goal(g: GoalLine, lang: str) -> dict[str, Any]:
    def show(v: float) -> str:
        return f"{v:.0%}" if g.unit == "percent" else (f"{v:.1f} h" if g.unit == "hours" else f"{v:.0f}")
    if g.value is None:
        state = label(lang, "not_measured")
    elif g.progress is not None and g.progress >= 1:
        state = label(lang, "met")
    elif g.note == "no trend yet":
        state = label(lang, "no_trend")
    else:
        state = label(lang, "at_risk") if g.at_risk else label(lang, "on_track")
    return {"title": g.title, "owner": g.owner, "deadline": g.deadline.isoformat(), "target": show(g.target),
            "value": "—" if g.value is None else show(g.value), "state": state, "risk": g.at_risk,
            "progress": 0 if g.progress is None else round(g.progress * 100), "note": g.note}


def _css(font: CjkFont) -> str:
    return font.css()


def render_html(data: ReportData, lang: str = "zh-CN", *, font: CjkFont | None = None,
                with_charts: bool = True) -> str:
    """The report as one self-contained HTML page (no external resource: charts are inline SVG)."""
    font = font or find_cjk_font()
    words = catalog(lang)
    names = {**{s: words[f"stage.{s}"] for s in FUNNEL_STAGES}, "day": words["chart.day"],
             "count": words["chart.count"]}
    svgs: dict[str, str] = {}
    if with_charts:
        days = [(f"{d:%m-%d}", c) for d, c in data.daily]
        if len(days) > 1:
            svgs["trend"] = charts.to_svg(charts.trend_chart(days, names), font)
        svgs["funnel"] = charts.to_svg(charts.funnel_chart(data.totals, names), font)
    zone = data.period.zone
    context = {
        "lang": lang, "t": words, "family": FAMILY, "font_css": _css(font),
        "title": words[f"title.{data.period.kind}"],
        "period": data.period.label, "previous": data.period.previous().label,
        "span": _span(data),
        "generated": _when(data.generated_at, zone), "zone": zone, "svgs": svgs,
        "kpis": [{"name": words.get(f"kpi.{k.key}", k.key), "value": fmt_value(k.value, k.kind, lang),
                  "previous": fmt_value(k.previous, k.kind, lang), "change": fmt_change(k, lang),
                  "up": (k.change or 0) > 0, "down": (k.change or 0) < 0} for k in data.kpis],
        "stages": [words[f"stage.{s}"] for s in FUNNEL_STAGES],
        "funnels": [{"name": f.name, "key": f.journey, "cells": _funnel_cells(f.counts)} for f in data.funnels],
        "best": [_template(r, lang) for r in data.best_templates],
        "worst": [_template(r, lang) for r in data.worst_templates],
        "skips": [{"reason": words.get(f"skip.{s.reason}", s.reason), "code": s.reason, "n": f"{s.count:,}"}
                  for s in data.skips],
        "compliance": [{"template": c.template, "version": c.version,
                        "status": words.get(f"status.{c.status}", c.status), "findings": "；".join(c.findings)
                        or "—"} for c in data.compliance],
        "goals": [_goal(g, lang) for g in data.goals],
        "anomalies": [{"at": _when(a.at, zone), "journey": a.journey or "—", "metric": a.metric,
                       "message": a.message} for a in data.anomalies],
    }
    return _env().get_template("report.html.j2").render(context)


def _funnel_cells(c: Counts) -> list[dict[str, str]]:
    """Each stage's count and its rate under the report's definitions: delivered / sent, opened and clicked /
    delivered (or sent), converted / entered; entered and sent carry no rate (a run may get several messages)."""
    bases = {"delivered": c.sent if c.delivered + c.bounced else 0, "opened": c.reached, "clicked": c.reached,
             "converted": c.entered}
    cells = []
    for stage in FUNNEL_STAGES:
        n, base = c.stage(stage), bases.get(stage, 0)
        cells.append({"n": f"{n:,}", "share": f"{n / base:.0%}" if base else ""})
    return cells


def _template(r: Any, lang: str) -> dict[str, Any]:
    return {"template": r.template, "channel": r.channel, "sent": f"{r.sent:,}",
            "open_rate": fmt_value(r.open_rate, "rate", lang), "click_rate": fmt_value(r.click_rate, "rate", lang)}


def render_review_html(quarter: str, reviews: Sequence[JourneyReview], generated_at: datetime, zone: str,
                       lang: str = "zh-CN", goals: Sequence[GoalLine] = (), *, font: CjkFont | None = None) -> str:
    """The quarterly flow review: one page per journey."""
    font = font or find_cjk_font()
    words = catalog(lang)

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    def pp(v: float | None) -> str:
        return "—" if v is None else f"{v * 100:+.1f} {words['pp']}"

    pages = []
    for r in reviews:
        recs = []
        for rec in r.recommendations:
            key, _, arg = rec.partition("|")
            recs.append(label(lang, f"rec.{key}", arg) if arg else label(lang, f"rec.{key}"))
        pages.append({
            "name": r.name, "key": r.key, "status": r.status, "has_goal": r.has_goal,
            "conversion": pct(r.conversion_rate),
            "prev_conversion": pct(r.previous_quarter.converted / r.previous_quarter.entered
                                   if r.previous_quarter.entered else None),
            "cells": [{"stage": words[f"stage.{s}"], "n": f"{r.quarter.stage(s):,}"} for s in FUNNEL_STAGES],
            "skip_share": pct(r.skip_share), "skipped": f"{r.quarter.skipped:,}",
            "versions": [{"version": v.version, "published": _when(v.published_at, zone), "by": v.published_by,
                          "before": f"{v.before.converted}/{v.before.entered}",
                          "after": f"{v.after.converted}/{v.after.entered}", "conv": pp(v.conversion_change),
                          "open": pp(v.open_rate_change)} for v in r.versions],
            "lint": r.lint, "recommendations": recs,
            "decision": words.get(f"decision.{r.decision}", r.decision) if r.decision else words["review.pending"],
            "decided_by": r.decided_by or "", "note": r.note,
        })
    context = {"lang": lang, "t": words, "family": FAMILY, "font_css": _css(font), "title": words["title.review"],
               "quarter": quarter, "generated": _when(generated_at, zone), "pages": pages,
               "goals": [_goal(g, lang) for g in goals]}
    return _env().get_template("review.html.j2").render(context)


def render_pdf(html: str, *, font: CjkFont | None = None) -> bytes:
    """The HTML as PDF; the font files are named for WeasyPrint here (the page itself names the font only, as a
    browser needs), and WeasyPrint embeds only the glyphs used (font subsetting keeps it small)."""
    import weasyprint

    faces = weasyprint.CSS(string=(font or find_cjk_font()).print_css())
    return bytes(weasyprint.HTML(string=html, base_url=None).write_pdf(stylesheets=[faces]))
