"""``/`` (to the reader's first page) and ``/preferences``: language, time zone and theme (ADR 0037)."""

from __future__ import annotations

from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from touchflow.api.routes import api_state
from touchflow.console.auth import Me, signed_in
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.nav import first_page
from touchflow.console.templating import render
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.preferences import LOCALES, THEMES
from touchflow.services.preferences import save_preferences

__all__ = ["router"]

router = APIRouter()
_COMMON_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
                 "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC")


@router.get("/", **signed_in("sends the reader to the first page their role may open"))
async def root(me: Me) -> Response:
    return RedirectResponse(first_page(me.principal), status_code=303)


def _form_page(request: Request, me: Me, status: int = 200, error: str | None = None,
               saved: bool = False) -> Response:
    zones = sorted(available_timezones())
    return render(request, me, "preferences.html",
                  {"locales": LOCALES, "themes": THEMES, "common_zones": _COMMON_ZONES, "zones": zones,
                   "error": error, "saved": saved, "title": N_("Preferences")}, status_code=status)


@router.get("/preferences", **signed_in("the reader's own language, time zone and theme"))
async def preferences_form(request: Request, me: Me, saved: str | None = None) -> Response:
    return _form_page(request, me, saved=saved == "1")


@router.post("/preferences", **signed_in("the reader's own language, time zone and theme (CSRF-checked)"))
async def preferences_save(request: Request, me: Me) -> Response:
    """Saves any of the three fields sent (the top bar's switches send one); back to where the reader was."""
    if me.principal.user_id is None:
        return _form_page(request, me, 422, error="a service key has no person to keep preferences for")
    try:
        form = await read_form(request)
        state = api_state(request)
        current = me.preferences
        await state.write(save_preferences, state.services, me.principal.user_id,
                          form.get("locale", current.locale), form.get("time_zone", current.time_zone),
                          form.get("theme", current.theme), actor=me.principal.actor)
    except (FormError, FieldError) as exc:
        return _form_page(request, me, 422, error=str(exc))
    back = form.get("back", "")
    target = back if back.startswith("/") and not back.startswith("//") else "/preferences?saved=1"
    return RedirectResponse(target, status_code=303)
