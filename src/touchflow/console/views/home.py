"""``/dashboard`` (A2): KPIs with sparklines against the previous period, paused journeys and alerts, goal
progress, tasks due today. One service call (``services.dashboard``); the page only lays it out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.console.auth import Me, allow, services
from touchflow.console.charts import sparkline, trend
from touchflow.console.i18n import N_, translations
from touchflow.console.templating import render
from touchflow.domain.governance.scope import assignee_scope
from touchflow.services.dashboard import dashboard

__all__ = ["KPI_NAMES", "router"]

router = APIRouter()

KPI_NAMES = {"entered": N_("Entered journeys"), "sent": N_("Messages sent"), "converted": N_("Conversions"),
             "delivery_rate": N_("Delivery rate"), "open_rate": N_("Open rate"), "click_rate": N_("Click rate"),
             "conversion_rate": N_("Conversion rate"), "unsubscribe_rate": N_("Unsubscribe rate")}
_SERIES = {"sent": N_("Sent"), "opened": N_("Opened"), "clicked": N_("Clicked"), "day": N_("Day")}


@router.get("/dashboard", **allow("reports.read"))
async def home(request: Request, me: Me) -> Response:
    found = await run_in_threadpool(dashboard, services(request), assignee=assignee_scope(me.principal),
                                    with_goals=me.can("reports.read"))
    words = translations(me.preferences.locale)
    charts = {"trend": trend(found.daily, {k: words.gettext(v) for k, v in _SERIES.items()}),
              **{f"spark-{line.kpi.key}": sparkline(line.daily) for line in found.kpis}}
    return render(request, me, "dashboard.html", {"title": N_("Dashboard"), "board": found, "charts": charts,
                                                   "kpi_names": KPI_NAMES,
                                                   "can_tasks": me.can("tasks.read")})
