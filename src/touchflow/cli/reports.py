"""``touchflow report``, ``touchflow goals`` and ``touchflow review``: reports (A2), goals (A6), flow reviews (A7)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, load_document, local_actor, open_app, print_json
from touchflow.domain.measurement.goals import GoalError
from touchflow.reports.documents import goal_document, report_document, review_document
from touchflow.reports.fonts import FontMissing
from touchflow.reports.labels import LANGUAGES, catalog
from touchflow.reports.render import fmt_change, fmt_value, render_html, render_pdf, render_review_html
from touchflow.services.goals import goal_lines, goal_table, set_goals
from touchflow.services.report_delivery import report_schedule, set_report_schedule
from touchflow.services.reports import build_report, workspace_zone_name
from touchflow.services.reviews import (
    ReviewNotFound,
    decide_review,
    last_closed_quarter,
    open_reviews,
    quarterly_review,
)

__all__ = ["register", "write_report"]

report_app = typer.Typer(help="Daily, weekly and monthly reports (HTML / PDF, zh-CN or English).",
                         no_args_is_help=True)
goals_app = typer.Typer(help="The goal decomposition table (目标拆解表) and live progress.", no_args_is_help=True)
review_app = typer.Typer(help="Quarterly flow review (流程季度复盘) and the reviewer's decision.",
                         no_args_is_help=True)

DateOpt = Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                  help="A day in the period (default: the last closed period)")]
PdfOpt = Annotated[Path | None, typer.Option("--pdf", help="Write the PDF here")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the HTML here")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh-CN or en")]
JsonOpt = Annotated[bool, typer.Option("--json")]


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        fail(f"--lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    return lang


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def write_report(kind: str, day: date | None, pdf: Path | None, html: Path | None, lang: str, as_json: bool) -> None:
    with open_app() as app:
        data = build_report(app.services, kind, day)
    try:
        page = render_html(data, lang) if (pdf or html) else None
        if pdf is not None and page is not None:
            _write(pdf, render_pdf(page))
    except FontMissing as exc:
        fail(str(exc))
    if html is not None and page is not None:
        _write(html, page.encode("utf-8"))
    if as_json:
        print_json({**report_document(data), "files": {"pdf": str(pdf) if pdf else None,
                                                        "html": str(html) if html else None}})
        return
    words = catalog(lang)
    table = Table(words["col.metric"], words["col.value"], words["col.previous"], words["col.change"],
                  title=f"{words['title.' + kind]} · {data.period.label} ({data.period.zone})")
    for k in data.kpis:
        table.add_row(words.get(f"kpi.{k.key}", k.key), fmt_value(k.value, k.kind, lang),
                      fmt_value(k.previous, k.kind, lang), fmt_change(k, lang))
    console.print(table)
    for path in (pdf, html):
        if path is not None:
            console.print(f"wrote {path}")


def _period_command(kind: str) -> None:
    def command(date_: DateOpt = None, pdf: PdfOpt = None, html: HtmlOpt = None, lang: LangOpt = "zh-CN",
                json_: JsonOpt = False) -> None:
        write_report(kind, date_.date() if date_ else None, pdf, html, _lang(lang), json_)
    command.__doc__ = f"The {kind} report: KPIs against the previous period, funnels, templates, guardrail skips, " \
                      "compliance, goals, anomalies."
    report_app.command(kind)(command)


for _kind in ("daily", "weekly", "monthly"):
    _period_command(_kind)


@report_app.command("schedule")
def schedule(
    recipients: Annotated[list[str] | None, typer.Option("--to", help="Recipient email (repeat)")] = None,
    kinds: Annotated[list[str] | None, typer.Option("--kind", help="daily, weekly, monthly (repeat)")] = None,
    lang: LangOpt = "zh-CN",
    hour: Annotated[int, typer.Option(min=0, max=23, help="Local hour after the period closes")] = 8,
    channel: Annotated[str, typer.Option(help="The email channel's name")] = "email",
    json_: JsonOpt = False,
) -> None:
    """Show (no options) or set who receives which reports by email, PDF attached; the worker sends them."""
    with open_app() as app:
        if recipients is None and kinds is None:
            current = report_schedule(app.services)
        else:
            try:
                current = set_report_schedule(app.services, {"recipients": recipients or [], "kinds": kinds or [],
                                                             "lang": _lang(lang), "hour": hour, "channel": channel},
                                              actor=local_actor())
            except ValueError as exc:
                fail(str(exc))
    if json_:
        print_json(current.document())
        return
    if not current.kinds:
        console.print("no reports scheduled")
        return
    console.print(f"{', '.join(current.kinds)} → {', '.join(current.recipients)} via {current.channel} "
                  f"({current.lang}, {current.hour:02d}:00 local after the period closes)")


@goals_app.command("show")
def goals_show(lang: LangOpt = "zh-CN", json_: JsonOpt = False) -> None:
    """Each key result: owner, deadline, target, live value, progress and whether its trend is at risk."""
    words = catalog(_lang(lang))
    with open_app() as app:
        table = goal_table(app.services)
        lines = goal_lines(app.services, table=table)
    if json_:
        print_json({"launch": table.launch.isoformat() if table.launch else None,
                    "key_results": [goal_document(g) for g in lines]})
        return
    out = Table(words["col.goal"], words["col.owner"], words["col.deadline"], words["col.target"],
                words["col.value"], words["col.progress"], words["col.status"],
                title=f"{words['goals.title']} ({words['goals.launch']} {table.launch})")
    for g in lines:
        def show(v: float, unit: str = g.unit) -> str:
            return f"{v:.0%}" if unit == "percent" else (f"{v:.1f} h" if unit == "hours" else f"{v:.0f}")
        state = (words["not_measured"] if g.value is None else words["met"] if (g.progress or 0) >= 1 else
                 words["no_trend"] if g.note == "no trend yet" else words["at_risk"] if g.at_risk else
                 words["on_track"])
        out.add_row(g.title, g.owner, g.deadline.isoformat(), show(g.target), "—" if g.value is None else show(g.value),
                    "—" if g.progress is None else f"{g.progress:.0%}", f"[red]{state}[/red]" if g.at_risk else state)
    console.print(out)


@goals_app.command("set")
def goals_set(path: Annotated[Path, typer.Argument(help="YAML/JSON goal table (shape of domain/data/goals.yaml)")],
              json_: JsonOpt = False) -> None:
    """Replace the goal table (validated; audited as the account running the command)."""
    document = load_document(path, "the goal table")
    with open_app() as app:
        try:
            table = set_goals(app.services, document, actor=local_actor())
        except GoalError as exc:
            fail(str(exc))
    if json_:
        print_json({"launch": table.launch.isoformat() if table.launch else None,
                    "key_results": [kr.key for kr in table.key_results()]})
        return
    console.print(f"goal table saved: {len(table.key_results())} key results, launch {table.launch}")


@review_app.command("quarterly")
def review_quarterly(
    quarter: Annotated[str | None, typer.Option("--quarter", help="e.g. 2026Q1 (default: the last closed)")] = None,
    pdf: PdfOpt = None, html: HtmlOpt = None, lang: LangOpt = "zh-CN", json_: JsonOpt = False,
) -> None:
    """One page per journey: performance, version history with measured effects, lint, skips, recommendations.
    Opens the quarter's review task of each journey if the worker has not yet."""
    lang = _lang(lang)
    with open_app() as app:
        try:
            found = quarter or last_closed_quarter(app.services)
            open_reviews(app.services, found)
            found, reviews = quarterly_review(app.services, found)
        except ValueError as exc:
            fail(str(exc))
        goals = goal_lines(app.services)
        zone = workspace_zone_name(app.services)
        now = app.services.clock.now()
    try:
        page = render_review_html(found, reviews, now, zone, lang, goals) if (pdf or html) else None
        if pdf is not None and page is not None:
            _write(pdf, render_pdf(page))
    except FontMissing as exc:
        fail(str(exc))
    if html is not None and page is not None:
        _write(html, page.encode("utf-8"))
    if json_:
        print_json(review_document(found, reviews))
        return
    words = catalog(lang)
    table = Table(words["col.journey"], words["review.conversion"], words["review.skip_share"],
                  words["review.recommendations"], words["review.decision"], title=f"{words['title.review']} {found}")
    for r in reviews:
        table.add_row(f"{r.name} ({r.key})", "—" if r.conversion_rate is None else f"{r.conversion_rate:.1%}",
                      "—" if r.skip_share is None else f"{r.skip_share:.0%}", ", ".join(r.recommendations),
                      r.decision or words["review.pending"])
    console.print(table)
    for path in (pdf, html):
        if path is not None:
            console.print(f"wrote {path}")


@review_app.command("decide")
def review_decide(
    journey: Annotated[str, typer.Argument(help="Journey key")],
    decision: Annotated[str, typer.Option("--decision", help="keep, change or retire")],
    note: Annotated[str, typer.Option("--note", help="Why")] = "",
    quarter: Annotated[str | None, typer.Option("--quarter", help="e.g. 2026Q1 (default: the last closed)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Record the review's decision (audited as the account running the command)."""
    with open_app() as app:
        try:
            record = decide_review(app.services, journey, decision, note, actor=local_actor(), quarter=quarter)
        except (ReviewNotFound, ValueError) as exc:
            fail(str(exc))
    if json_:
        print_json({"journey": record.journey_key, "quarter": record.quarter, "decision": record.decision,
                    "decided_by": record.decided_by, "note": record.note,
                    "decided_at": record.decided_at.isoformat() if record.decided_at else None})
        return
    console.print(f"{record.journey_key} {record.quarter}: {record.decision} ({record.decided_by})")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(goals_app, name="goals")
    app.add_typer(review_app, name="review")
