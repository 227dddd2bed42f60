"""``/journeys/{key}/versions``: a journey's published versions on a server-rendered page — who published each,
when (in the reader's zone, labelled with it), what it changed against the version before, how many contacts still
run on it — and restoring one as the draft. Thin: ``services/journey_history.py`` reads, and
``journey_drafts.restore_version`` restores (If-Match on the draft token the page showed; audit
``journey.restore``), as ``POST /v1/journeys/{key}/versions/{n}/restore`` does. Reading needs ``journeys.read``;
restoring needs ``journeys.write``. Nothing runs differently until the draft is published.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back
from touchflow.services.journey_drafts import DraftConflict, NoSuchVersion, restore_version
from touchflow.services.journey_history import journey_history
from touchflow.services.journeys import JourneyError

__all__ = ["router"]

router = APIRouter()
Key = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]


async def _page(request: Request, me: ConsoleUser, key: str, *, restored: int | None = None, problem: object = None,
                code: int = 200) -> Response:
    try:
        history = await run_in_threadpool(journey_history, services(request), key)
    except JourneyError as exc:
        return render(request, me, "journeys/missing.html", {"title": N_("Journey not found"),
                                                             "problem": problem_of(exc)}, status_code=404)
    return render(request, me, "journeys/versions.html",
                  {"title": N_("Versions of a journey"), "history": history, "can_restore": me.can("journeys.write"),
                   "restored": restored, "problem": problem}, status_code=code)


@router.get("/journeys/{key}/versions", **allow("journeys.read"))
async def versions_page(request: Request, me: Me, key: Key,
                        restored: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> Response:
    return await _page(request, me, key, restored=restored)


@router.post("/journeys/{key}/versions/{version}/restore", **allow("journeys.write"))
async def restore(request: Request, me: Me, key: Key, version: Version) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(restore_version, state.services, key, version, if_match=form.get("token") or None,
                          actor=me.principal.actor.label)
    except DraftConflict as exc:
        return await _page(request, me, key, problem=problem_of(exc), code=409)
    except NoSuchVersion as exc:
        return await _page(request, me, key, problem=problem_of(exc), code=404)
    except (FormError, JourneyError) as exc:
        return await _page(request, me, key, problem=problem_of(exc), code=422)
    return back(f"/journeys/{key}/versions", restored=str(version))
