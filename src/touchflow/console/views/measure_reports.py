"""``/measure/reports`` (A2: the period report in the page, its PDF, the delivery schedule) and ``/measure/goals``
(A6: the 目标拆解表 with live values, progress and the at-risk flag from the trend; an editor).

The report shown is the very HTML ``/v1/reports/{period}`` answers (``reports.render.render_html``), framed in
the page from a same-origin route: it carries its own styles and inline SVG charts and runs no script, so the
frame is sandboxed. The PDF is the one scheduled delivery attaches (``render_pdf``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import yaml
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import CSP, render
from touchflow.console.views.measure_charts import goal_spec
from touchflow.console.views.settings_support import back
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.goals import GoalError, GoalTable
from touchflow.domain.measurement.report_model import PERIOD_KINDS
from touchflow.domain.safe_yaml import load_yaml
from touchflow.reports.fonts import FontMissing
from touchflow.reports.render import render_html, render_pdf
from touchflow.services.goal_history import goal_histories
from touchflow.services.goals import goal_lines, goal_table, set_goals
from touchflow.services.report_delivery import report_schedule, set_report_schedule
from touchflow.services.reports import build_report, report_period

__all__ = ["goal_document", "router"]

router = APIRouter()
KINDS = {"daily": N_("Daily"), "weekly": N_("Weekly"), "monthly": N_("Monthly")}
_FRAMED = CSP.replace("default-src 'none';", "default-src 'none'; frame-src 'self';")
_REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
                  "form-action 'none'; frame-ancestors 'self'")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@router.get("/measure", **allow("reports.read"))
async def measure_home(me: Me) -> Response:
    return back("/measure/metrics")


def _choice(kind: str, day: str) -> tuple[str, date | None]:
    if kind not in PERIOD_KINDS:
        raise FieldError("kind", "daily, weekly or monthly")
    if not day:
        return kind, None
    try:
        if not _DAY.fullmatch(day):
            raise ValueError
        return kind, date.fromisoformat(day)
    except ValueError:
        raise FieldError("date", "a day written YYYY-MM-DD") from None


@router.get("/measure/reports", **allow("reports.read"))
async def reports_page(request: Request, me: Me, kind: str = "weekly", date: str = "", done: str = "") -> Response:
    ctx = services(request)
    error: FieldError | None = None
    try:
        chosen, day = _choice(kind, date)
    except FieldError as exc:
        chosen, day, error = "weekly", None, exc
    period = await run_in_threadpool(report_period, ctx, chosen, day)
    schedule = await run_in_threadpool(report_schedule, ctx)
    lang = "zh-CN" if me.preferences.locale == "zh-CN" else "en"
    query = f"date={period.first_day.isoformat()}&lang={lang}"
    return render(request, me, "measure/reports.html",
                  {"title": N_("Reports"), "kinds": KINDS, "kind": chosen, "period": period,
                   "view_url": f"/measure/reports/{chosen}/view?{query}",
                   "pdf_url": f"/measure/reports/{chosen}/pdf?{query}",
                   "schedule": schedule, "field_error": error, "done": done == "scheduled",
                   "can_schedule": me.can("settings.manage")},
                  status_code=422 if error else 200, headers={"Content-Security-Policy": _FRAMED})


def _report_html(request: Request, kind: str, day: str, lang: str) -> str:
    chosen, when = _choice(kind, day)
    return render_html(build_report(services(request), chosen, when), "en" if lang == "en" else "zh-CN")


def _refused(request: Request, me: ConsoleUser, exc: FieldError) -> Response:
    """A report asked for with a wrong kind or day: a small page (it may be shown in the frame) in the reader's
    language, naming the field."""
    return render(request, me, "measure/report_problem.html", {"title": N_("Reports"), "field_error": exc},
                  status_code=422)


@router.get("/measure/reports/{kind}/view", **allow("reports.read"))
async def report_view(request: Request, me: Me, kind: str, date: str = "", lang: str = "zh-CN") -> Response:
    """The report page itself, for the frame: its own CSP (no script; framed by this site only)."""
    try:
        html = await run_in_threadpool(_report_html, request, kind, date, lang)
    except FieldError as exc:
        return _refused(request, me, exc)
    except FontMissing as exc:
        return Response(str(exc), status_code=503, media_type="text/plain; charset=utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": _REPORT_POLICY, "Cache-Control": "no-store"})


@router.get("/measure/reports/{kind}/pdf", **allow("reports.read"))
async def report_pdf(request: Request, me: Me, kind: str, date: str = "", lang: str = "zh-CN") -> Response:
    try:
        html = await run_in_threadpool(_report_html, request, kind, date, lang)
        pdf = await run_in_threadpool(render_pdf, html)
    except FieldError as exc:
        return _refused(request, me, exc)
    except FontMissing as exc:
        return Response(str(exc), status_code=503, media_type="text/plain; charset=utf-8")
    name = f"touchflow-{kind}-{date or 'latest'}.pdf"  # both checked by _choice above
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.post("/measure/reports/schedule", **allow("settings.manage"))
async def report_schedule_save(request: Request, me: Me) -> Response:
    """Who receives which reports by email (``report_delivery.set_report_schedule``; audited)."""
    state = api_state(request)
    try:
        form = await read_form(request)
        recipients = [r.strip() for r in re.split(r"[,\s;，；]+", form.get("recipients", "")) if r.strip()]
        hour = form.get("hour", "8")
        document = {"recipients": recipients, "kinds": [k for k in PERIOD_KINDS if form.get(f"kind_{k}") == "1"],
                    "lang": form.get("lang", "zh-CN"), "hour": int(hour) if hour.isdigit() else -1}
        await state.write(set_report_schedule, state.services, document, actor=me.principal.actor)
    except (FormError, FieldError) as exc:
        return await reports_page_error(request, me, exc)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        return await reports_page_error(request, me, FieldError(field, reason))
    return back("/measure/reports", done="scheduled")


async def reports_page_error(request: Request, me: ConsoleUser, exc: FieldError | FormError) -> Response:
    ctx = services(request)
    period = await run_in_threadpool(report_period, ctx, "weekly", None)
    schedule = await run_in_threadpool(report_schedule, ctx)
    return render(request, me, "measure/reports.html",
                  {"title": N_("Reports"), "kinds": KINDS, "kind": "weekly", "period": period,
                   "view_url": "/measure/reports/weekly/view", "pdf_url": "/measure/reports/weekly/pdf",
                   "schedule": schedule,
                   "field_error": exc, "done": False, "can_schedule": True},
                  status_code=422, headers={"Content-Security-Policy": _FRAMED})


# --- goals -------------------------------------------------------------------------------------------------------

NOTES = {"not measured": N_("Not measured yet"), "met": N_("Target met"), "deadline passed": N_("Deadline passed"),
         "no trend yet": N_("Not enough history for a trend yet")}
_TREND = re.compile(r"trend reaches (\S+) by (\d{4}-\d{2}-\d{2})")


def goal_document(table: GoalTable) -> dict[str, Any]:
    """The table as the document ``set_goals`` takes (the shape of domain/data/goals.yaml)."""
    return {"launch": table.launch.isoformat() if table.launch else None,
            "phases": [{"key": p.key, "title": p.title, "months": list(p.months),
                        "objectives": [{"key": o.key, "title": o.title, "key_results": [
                            {"key": k.key, "title": k.title, "owner": k.owner, "deadline_month": k.deadline_month,
                             "target": k.target, "comparison": k.comparison, "metric": k.metric}
                            for k in o.key_results]} for o in p.objectives]} for p in table.phases]}


def _goals(request: Request) -> dict[str, Any]:
    ctx = services(request)
    table = goal_table(ctx)
    lines = {g.key: g for g in goal_lines(ctx, table=table)}
    histories = goal_histories(ctx, lines)
    rows = []
    for phase in table.phases:
        for objective in phase.objectives:
            for kr in objective.key_results:
                line = lines[kr.key]
                trend = _TREND.fullmatch(line.note)
                history = histories.get(kr.key, [])
                rows.append({"phase": phase, "objective": objective, "kr": kr, "line": line,
                             "note": NOTES.get(line.note), "trend": trend.groups() if trend else None,
                             "spark": goal_spec(history, kr.target, line.unit == "percent") if history else None})
    text = yaml.safe_dump(goal_document(table), allow_unicode=True, sort_keys=False, width=120)
    return {"table": table, "rows": rows, "yaml": text}


async def _goals_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(_goals, request)
    return render(request, me, "measure/goals.html",
                  {"title": N_("Goals"), "can_edit": me.can("journeys.publish"), **found, **values},
                  status_code=status)


@router.get("/measure/goals", **allow("reports.read"))
async def goals_page(request: Request, me: Me, done: str = "") -> Response:
    return await _goals_page(request, me, done=done == "saved")


def _edited(request: Request, form: dict[str, str]) -> dict[str, Any]:
    """The stored table with each key result's owner, target and deadline month as the form sets them."""
    document = goal_document(goal_table(services(request)))
    for phase in document["phases"]:
        for objective in phase["objectives"]:
            for kr in objective["key_results"]:
                key = kr["key"]
                if f"owner.{key}" in form:
                    kr["owner"] = form[f"owner.{key}"]
                for name, kind in (("target", float), ("deadline_month", int)):
                    raw = form.get(f"{name}.{key}")
                    if raw is not None:
                        try:
                            kr[name] = kind(raw)
                        except ValueError:
                            raise FieldError(f"{name}.{key}", "a number") from None
    return document


@router.post("/measure/goals", **allow("journeys.publish"))
async def goals_save(request: Request, me: Me) -> Response:
    """The quick edits of the table, or (``yaml`` field) the whole table; validated, audited as ``goals.set``."""
    state = api_state(request)
    try:
        form = await read_form(request)
        if "yaml" in form:
            document = load_yaml(form["yaml"].encode())
            if not isinstance(document, dict):
                raise FieldError("yaml", "the table is a mapping with launch and phases")
        else:
            document = await run_in_threadpool(_edited, request, form)
        await state.write(set_goals, state.services, document, actor=me.principal.actor)
    except (FieldError, FormError) as exc:
        return await _goals_page(request, me, 422, field_error=exc)
    except (GoalError, yaml.YAMLError, ValueError) as exc:
        field, _, reason = str(exc).partition(": ")
        return await _goals_page(request, me, 422, field_error=FieldError(field or "yaml", reason or str(exc)))
    return back("/measure/goals", done="saved")
