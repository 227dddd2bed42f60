"""``/lifecycle``: stage counts and moves between stages, the scoring model in force with the open calibration
proposals, and personas with their coverage and journey maps (S3–S5) — reads of the services the API's
``/v1/lifecycle`` and ``/v1/personas`` use, so the permission is theirs (``segments.read``). The scoring model
is edited as its YAML document through ``save_model`` (the CLI's ``score model set``; ``segments.write``)."""

from __future__ import annotations

import yaml
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_, translations
from touchflow.console.lifecycle_charts import stage_counts_chart, stage_flows_chart
from touchflow.console.templating import render
from touchflow.domain.errors import PathError
from touchflow.domain.safe_yaml import load_yaml
from touchflow.domain.scoring.model import ScoringModel, model_document
from touchflow.services.context import ServiceContext
from touchflow.services.lifecycle_overview import StageOverview, stage_overview
from touchflow.services.personas import SavedPersona, list_personas, persona_coverage
from touchflow.services.scoring import list_proposals, model_in_force, save_model

__all__ = ["router"]

router = APIRouter()


def _read(ctx: ServiceContext) -> dict[str, object]:
    overview: StageOverview = stage_overview(ctx)
    personas: list[SavedPersona] = list_personas(ctx)
    return {"overview": overview, "model": model_in_force(ctx), "proposals": list_proposals(ctx, "open"),
            "personas": personas, "coverage": persona_coverage(ctx) if personas else None}


@router.get("/lifecycle", **allow("segments.read"))
async def lifecycle_page(request: Request, me: Me, saved: int | None = None) -> Response:
    return await _page(request, me, saved=saved)


async def _page(request: Request, me: ConsoleUser, *, saved: int | None = None, status: int = 200,
                error: str | None = None, draft: str | None = None) -> Response:
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
    model = found["model"]
    assert isinstance(model, ScoringModel)
    text = draft if draft is not None else yaml.safe_dump(model_document(model), allow_unicode=True,
                                                          sort_keys=False, width=120)
    return render(request, me, "lifecycle.html", {"title": N_("Lifecycle, scoring and personas"), **found,
                                                  "charts": charts, "can_edit": me.can("segments.write"),
                                                  "model_yaml": text, "saved": saved, "error": error},
                  status_code=status)


@router.post("/lifecycle/model", **allow("segments.write"))
async def save_scoring_model(request: Request, me: Me) -> Response:
    """A new model version from the edited YAML (audited as the signed-in person); errors name the element."""
    state = api_state(request)
    draft = None
    try:
        form = await read_form(request)
        draft, note = form.get("document", ""), form.get("note", "").strip()[:500]
        if not draft.strip():
            raise FormError("document", "paste the model's YAML")
        document = load_yaml(draft.encode())
        model = await state.write(save_model, state.services, document, actor=me.principal.actor.label, note=note)
    except (FormError, PathError, yaml.YAMLError, ValueError) as exc:
        return await _page(request, me, status=422, error=str(exc), draft=draft)
    return RedirectResponse(f"/lifecycle?saved={model.version}", status_code=303)
