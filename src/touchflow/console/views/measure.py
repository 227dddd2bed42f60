"""``/measure/metrics``: the metrics explorer (A1, A3) — filters, KPIs against the previous period, a breakdown,
charts, and "explain this drop", the shift-share decomposition ``touchflow metrics explain`` prints.

Reads only (``reports.read``): ``services.metrics.metric_rows`` over the daily rollups and ``services.explain``
over the raw messages, exactly what ``/v1/metrics`` and the CLI call. Everything is a GET form, so a view is a
link that can be shared, and the page works with the keyboard and without script (charts aside).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.console.auth import Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.i18n import N_, translations
from touchflow.console.templating import render
from touchflow.console.views.measure_charts import contribution_spec, rate_spec, trend_spec
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.domain.measurement.metrics import MetricRow, group_rows, rates
from touchflow.services.channels import list_channels
from touchflow.services.context import ServiceContext
from touchflow.services.explain import Explanation, explain
from touchflow.services.journeys import JourneyError, list_journeys
from touchflow.services.metrics import local_today, metric_rows, workspace_zone

__all__ = ["BREAKDOWNS", "EXPLAIN_BY", "METRIC_NAMES", "router"]

router = APIRouter()

PERIODS = {"7": 7, "30": 30, "90": 90}
MAX_DAYS = 400
BREAKDOWNS = {"day": N_("Day"), "journey": N_("Journey"), "template": N_("Template"), "channel": N_("Channel"),
              "segment": N_("Segment"), "step": N_("Step")}
METRIC_NAMES = {"open_rate": N_("Open rate"), "click_rate": N_("Click rate"), "complaint_rate": N_("Complaint rate"),
                "hard_bounce_rate": N_("Hard bounce rate"), "unsubscribe_rate": N_("Unsubscribe rate"),
                "conversion_rate": N_("Conversion rate"), "delivery_rate": N_("Delivery rate"),
                "click_to_open_rate": N_("Click-to-open rate")}
CHART_METRICS = ("open_rate", "click_rate", "click_to_open_rate", "conversion_rate", "unsubscribe_rate",
                 "complaint_rate", "delivery_rate")
EXPLAIN_BY = {"template": N_("Template"), "send_hour": N_("Send hour"), "version": N_("Journey version"),
              "channel": N_("Channel"), "provider": N_("Mailbox provider"), "device": N_("Device")}
KPIS = (("sent", N_("Sent"), "count"), ("delivered", N_("Delivered"), "count"),
        ("open_rate", N_("Open rate"), "rate"), ("click_rate", N_("Click rate"), "rate"),
        ("conversion_rate", N_("Conversion rate"), "rate"), ("unsubscribe_rate", N_("Unsubscribe rate"), "rate"))


@dataclass(frozen=True)
class Filters:
    journey: str
    channel: str
    period: str
    start: date
    end: date
    by: str
    metric: str

    @property
    def previous(self) -> tuple[date, date]:
        length = (self.end - self.start).days + 1
        return self.start - timedelta(days=length), self.start - timedelta(days=1)


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "a day written YYYY-MM-DD") from None


def read_filters(ctx: ServiceContext, query: dict[str, str]) -> Filters:
    """The filters from the query string, defaults filled; ``FieldError`` names a field that is wrong."""
    period = query.get("period") or "30"
    today = local_today(ctx)
    if period in PERIODS:
        end = today
        start = end - timedelta(days=PERIODS[period] - 1)
    elif period == "custom":
        start = _day(query.get("from", ""), "from")
        end = _day(query.get("to", ""), "to")
        if end < start:
            raise FieldError("to", "is before from")
        if (end - start).days >= MAX_DAYS:
            raise FieldError("from", f"at most {MAX_DAYS} days")
    else:
        raise FieldError("period", "7, 30, 90 or custom")
    by = query.get("by") or "day"
    if by not in BREAKDOWNS:
        raise FieldError("by", f"one of {', '.join(BREAKDOWNS)}")
    metric = query.get("metric") or "open_rate"
    if metric not in CHART_METRICS:
        raise FieldError("metric", f"one of {', '.join(CHART_METRICS)}")
    return Filters(query.get("journey", "")[:64], query.get("channel", "")[:32], period, start, end, by, metric)


def _rows(ctx: ServiceContext, f: Filters, start: date, end: date, by: str) -> list[MetricRow]:
    """Rollup rows grouped by ``by``; a channel filter groups by channel too, keeps the one asked for, regroups."""
    dims = (by, "channel") if f.channel and by != "channel" else (by,)
    rows = metric_rows(ctx, start=start, end=end, journey=f.journey or None, by=dims)
    if f.channel:
        rows = [r for r in rows if r.channel == f.channel]
    return group_rows(rows, (by,))  # type: ignore[arg-type]


def _total(rows: list[MetricRow]) -> MetricRow:
    summed = group_rows(rows, ())
    return summed[0] if summed else MetricRow()


def _kpis(now: MetricRow, before: MetricRow) -> list[dict[str, Any]]:
    out = []
    for key, label, kind in KPIS:
        value = rates(now)[key] if kind == "rate" else getattr(now, key)
        previous = rates(before)[key] if kind == "rate" else getattr(before, key)
        change = None if value is None or previous is None else value - previous
        if kind == "count" and change is not None and previous:
            change = change / previous  # counts: relative change; rates: percentage points
        text = None if change is None else (f"{change * 100:+.1f}" if kind == "rate" else f"{change:+.1%}")
        out.append({"key": key, "label": label, "kind": kind, "value": value, "previous": previous,
                    "change": change, "change_text": text})
    return out


def _explain(ctx: ServiceContext, f: Filters, query: dict[str, str]) -> tuple[Explanation | None, dict[str, Any]]:
    wanted = {"metric": query.get("explain_metric") or "open_rate", "by": query.get("explain_by") or "template"}
    if "explain_by" not in query:
        return None, wanted
    if not f.journey:
        raise FieldError("journey", "choose a journey to explain")
    if wanted["by"] not in EXPLAIN_BY:
        raise FieldError("explain_by", f"one of {', '.join(EXPLAIN_BY)}")
    zone = workspace_zone(ctx)
    start = datetime.combine(f.start, time(), zone)
    end = datetime.combine(f.end + timedelta(days=1), time(), zone)
    try:
        return explain(ctx, wanted["metric"], f.journey, start, end, by=wanted["by"]), wanted
    except JourneyError as exc:
        raise FieldError("journey", str(exc)) from None


def _pp(value: float) -> str:
    return f"{value * 100:+.2f}"


def _explain_text(found: Explanation | None) -> dict[str, Any]:
    """Signed percentage points, as the CLI prints them (the template only places them)."""
    if found is None:
        return {"explain_text": None, "explain_rows": []}
    r = found.result
    return {"explain_text": {"change": _pp(r.change), "mix": _pp(r.mix), "rate": _pp(r.rate)},
            "explain_rows": [{"key": s.key, "weight0": s.weight0, "weight1": s.weight1, "rate0": s.rate0,
                              "rate1": s.rate1, "mix": _pp(s.mix), "rate": _pp(s.rate), "total": _pp(s.total),
                              "p": "—" if s.p_value is None else f"{s.p_value:.2g}"} for s in r.segments]}


def explorer(ctx: ServiceContext, query: dict[str, str], words: dict[str, str]) -> dict[str, Any]:
    """Everything the page shows (a plain function: the view runs it in the threadpool)."""
    journeys = list_journeys(ctx)
    try:
        f = read_filters(ctx, query)
    except FieldError as exc:
        f = read_filters(ctx, {})
        return {"filters": f, "journeys": journeys, "error": exc, "rows": [], "channels": []}
    try:
        rows = _rows(ctx, f, f.start, f.end, f.by)
        daily = rows if f.by == "day" else _rows(ctx, f, f.start, f.end, "day")
        before = _rows(ctx, f, *f.previous, "day")
        found, wanted = _explain(ctx, f, query)
        # the configured channels (a cheap read), not a scan of every rollup row of the period
        channels = sorted({c.name for c in list_channels(ctx)} | ({f.channel} if f.channel else set()))
    except FieldError as exc:
        return {"filters": f, "journeys": journeys, "error": exc, "rows": [], "channels": []}
    day_names = {"day": words["day"], "sent": words["sent"], "opened": words["opened"], "clicked": words["clicked"]}
    return {
        "filters": f, "journeys": journeys, "channels": channels, "error": None, "rows": rows,
        "table": [{"key": getattr(r, f.by), "row": r, "rates": rates(r)} for r in rows],
        "kpis": _kpis(_total(rows), _total(before)), "previous": f.previous,
        "trend_spec": trend_spec(daily, day_names) if daily else None,
        "rate_spec": rate_spec(daily, f.metric, words["metric"], words["day"]) if daily else None,
        "explanation": found, "explain": wanted, **_explain_text(found),
        "contribution_spec": contribution_spec(found.result, {"segment": words["segment"], "mix": words["mix"],
                                                              "rate": words["rate"], "pp": words["pp"]})
        if found is not None and found.result.segments else None,
    }


@router.get("/measure/metrics", **allow("reports.read"))
async def metrics_page(request: Request, me: Me) -> Response:
    gettext = translations(me.preferences.locale).gettext
    query = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    metric = query.get("metric") if query.get("metric") in METRIC_NAMES else "open_rate"
    words = {"day": gettext("Day"), "sent": gettext("Sent"), "opened": gettext("Opened"),
             "clicked": gettext("Clicked"), "metric": gettext(METRIC_NAMES[metric or "open_rate"]),
             "segment": gettext("Segment"), "mix": gettext("Mix shift"), "rate": gettext("Rate change"),
             "pp": gettext("Percentage points")}
    values = await run_in_threadpool(explorer, services(request), query, words)
    status = 422 if values.get("error") is not None else 200
    if values.get("error") is not None:
        values["problem"] = problem_of(values["error"])  # the field and reason through the catalogs
    return render(request, me, "measure/metrics.html",
                  {"title": N_("Metrics explorer"), "breakdowns": BREAKDOWNS, "metric_names": METRIC_NAMES,
                   "chart_metrics": CHART_METRICS, "explain_metrics": list(DAILY_METRICS), "explain_by": EXPLAIN_BY,
                   "periods": list(PERIODS), **values}, status_code=status)
