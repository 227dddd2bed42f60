"""``/lifecycle``: stage counts and moves between stages, the scoring model in force with the open calibration
proposals, and personas with their coverage and journey maps (S3–S5) — reads of the services the API's
``/v1/lifecycle`` and ``/v1/personas`` use, so the permission is theirs (``segments.read``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.console.auth import Me, allow, services
from touchflow.console.i18n import N_, translations
from touchflow.console.lifecycle_charts import stage_counts_chart, stage_flows_chart
from touchflow.console.templating import render
from touchflow.services.context import ServiceContext
from touchflow.services.lifecycle_overview import StageOverview, stage_overview
from touchflow.services.personas import SavedPersona, list_personas, persona_coverage
from touchflow.services.scoring import list_proposals, model_in_force

__all__ = ["router"]

router = APIRouter()


def _read(ctx: ServiceContext) -> dict[str, object]:
    overview: StageOverview = stage_overview(ctx)
    personas: list[SavedPersona] = list_personas(ctx)
    return {"overview": overview, "model": model_in_force(ctx), "proposals": list_proposals(ctx, "open"),
            "personas": personas, "coverage": persona_coverage(ctx) if personas else None}


@router.get("/lifecycle", **allow("segments.read"))
async def lifecycle_page(request: Request, me: Me) -> Response:
    found = await run_in_threadpool(_read, services(request))
    gettext = translations(me.preferences.locale).gettext
    overview = found["overview"]
    assert isinstance(overview, StageOverview)
    charts = {}
    if overview.counts:
        charts["stages"] = stage_counts_chart(overview.counts, gettext("Stage"), gettext("Contacts"))
    if overview.flows:
        charts["flows"] = stage_flows_chart(overview.flows, gettext("(first stage)"),
                                            (gettext("From stage"), gettext("To stage"), gettext("Contacts")))
    return render(request, me, "lifecycle.html", {"title": N_("Lifecycle, scoring and personas"), **found,
                                                  "charts": charts})
