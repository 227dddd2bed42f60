"""``/settings/channels`` (channels and their credentials) and ``/settings/guardrails`` (the guardrail policy).

Credentials are write-only: a secret field is always empty when the page is drawn, the service only says
whether one is stored, and a new one is sealed with the database's key before ``save_channel`` sees it (as
``touchflow channel set`` does). An empty secret field keeps the stored secret. The guardrail policy is edited
as the document ``touchflow guardrails set`` takes; "preview" shows what would change, field by field, and what
the current and the proposed policy would have done to the last week's messages (``services.guardrail_preview``),
before anything is saved.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import yaml
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back
from touchflow.domain.errors import FieldError
from touchflow.domain.guardrails.model import policy_document
from touchflow.domain.safe_yaml import load_yaml
from touchflow.engine.channel_registry import build_channel
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.services.channels import KNOWN_KINDS, current_guardrail_policy, list_channels, save_channel
from touchflow.services.guarding import message_outcomes, set_guardrail_policy
from touchflow.services.guardrail_preview import preview_policy

__all__ = ["router"]

router = APIRouter()


def pairs(text: str, field: str, *, typed: bool = False) -> dict[str, Any]:
    """``key=value`` lines (blank lines skipped); ``FieldError`` names the line number, never the value.
    ``typed``: a value that reads as JSON is that (465 → a number, true → a boolean), as ``channel set`` does."""
    found: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise FieldError(field, f"line {number} is not key=value")
        found[key.strip()] = value.strip()
        if typed:
            with contextlib.suppress(orjson.JSONDecodeError):
                found[key.strip()] = orjson.loads(value.strip())
    return found


async def _channels_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(list_channels, services(request))
    return render(request, me, "settings/channels.html",
                  {"title": N_("Channels"), "channels": found, "kinds": sorted(KNOWN_KINDS), "form": {}, **values},
                  status_code=status)


@router.get("/settings/channels", **allow("channels.manage"))
async def channels_page(request: Request, me: Me, done: str = "") -> Response:
    return await _channels_page(request, me, done=done == "saved")


def _box(request: Request) -> SecretBox:
    opener = getattr(request.app.state, "auth_box", None)
    box = opener() if opener is not None else None
    if not isinstance(box, SecretBox):
        raise FieldError("secret", "the database's secret key is not available to this server")
    return box


@router.post("/settings/channels", **allow("channels.manage"))
async def channels_save(request: Request, me: Me) -> Response:
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        name, kind = form.get("name", "").strip(), form.get("kind", "")
        settings = pairs(form.get("settings", ""), "settings", typed=True)
        secret = pairs(form.get("secret", ""), "secret")
        rate_text = form.get("rate", "").strip()
        try:
            rate = float(rate_text) if rate_text else None
            concurrency = int(form.get("concurrency", "4") or "4")
        except ValueError:
            raise FieldError("rate" if rate_text else "concurrency", "a number") from None
        sealed = None
        if secret:
            try:
                build_channel(name, kind, settings, secret).close()  # a wrong setting fails here, not in the worker
            except ValueError as exc:
                raise FieldError("settings", str(exc)) from None
            sealed = _box(request).seal(secret, f"channel:{name}")
        await state.write(save_channel, state.services, name, kind, settings, sealed, rate, concurrency,
                          form.get("enabled") == "1", actor=me.principal.actor.label)
    except (FieldError, FormError) as exc:
        form.pop("secret", None)  # a credential is never drawn back into the page
        return await _channels_page(request, me, 422, field_error=exc, form=form)
    except SecretError as exc:
        form.pop("secret", None)
        return await _channels_page(request, me, 503, field_error=FieldError("secret", str(exc)), form=form)
    return back("/settings/channels", done="saved")


# --- guardrail policy ------------------------------------------------------------------------------------------


def _policy(request: Request) -> dict[str, Any]:
    ctx = services(request)
    current = policy_document(current_guardrail_policy(ctx))
    return {"current": current, "text": yaml.safe_dump(current, allow_unicode=True, sort_keys=False),
            "outcomes": message_outcomes(ctx).get("skipped", {})}


async def _guardrails_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(_policy, request)
    return render(request, me, "settings/guardrails.html",
                  {"title": N_("Guardrails"), "changes": None, **found, **values}, status_code=status)


@router.get("/settings/guardrails", **allow("guardrails.manage"))
async def guardrails_page(request: Request, me: Me, done: str = "") -> Response:
    return await _guardrails_page(request, me, done=done == "saved")


@router.post("/settings/guardrails", **allow("guardrails.manage"))
async def guardrails_save(request: Request, me: Me) -> Response:
    """``action=preview`` shows the changes; ``action=save`` stores them (audited as ``guardrails.set``)."""
    state = api_state(request)
    text = ""
    try:
        form = await read_form(request)
        text = form.get("policy", "")
        change = load_yaml(text.encode())
        if not isinstance(change, dict):
            raise FieldError("policy", "a mapping of the fields to change")
        if form.get("action") != "save":
            seen = await run_in_threadpool(preview_policy, state.services, change)
            return await _guardrails_page(request, me, changes=seen.changed, preview=seen, draft=text)
        await state.write(set_guardrail_policy, state.services, change, actor=me.principal.actor.label)
    except (FieldError, FormError) as exc:
        return await _guardrails_page(request, me, 422, field_error=exc, draft=text)
    except (yaml.YAMLError, ValueError) as exc:
        field, _, reason = str(exc).partition(": ")
        return await _guardrails_page(request, me, 422, field_error=FieldError(field or "policy", reason or str(exc)),
                                      draft=text)
    return back("/settings/guardrails", done="saved")
