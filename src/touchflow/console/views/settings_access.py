"""``/settings/users`` and ``/settings/keys`` (P2–P4): accounts and roles, API keys — for administrators.

A change that grants the power to export or to administer is not made here but requested: the administrator
role (``role_admin``) and a key whose role can export (``apikey_export_scope``) become approval requests, decided
by a second person on ``/settings/approvals`` — the same kinds the CLI's ``user set-role`` and ``approval
request-key`` use. A new key's secret is shown once, in the answer to the form, and never again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back, masked
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.permissions import ROLE_NAMES, role
from touchflow.domain.masking import mask_email
from touchflow.services.accounts import UserNotFound, create_user, list_users, set_role
from touchflow.services.apikeys import (
    KeySpec,
    NeedsApproval,
    create_api_key,
    list_api_keys,
    owner_account,
    revoke_api_key,
)
from touchflow.services.approval_files import PickupRefused
from touchflow.services.approval_kinds import APIKEY_KIND, ROLE_ADMIN_KIND, pick_up_key
from touchflow.services.approvals import ApprovalNotFound, ApprovalRefused, list_requests, request_approval

__all__ = ["router"]

router = APIRouter()


def _roles(me: ConsoleUser) -> list[tuple[str, str]]:
    return [(name, role(name).zh if me.preferences.locale == "zh-CN" else role(name).en) for name in ROLE_NAMES]


def _users(request: Request, me: ConsoleUser) -> dict[str, Any]:
    found = list_users(services(request))
    return {"users": [{"u": s.user, "email": mask_email(s.user.email), "sessions": s.live_sessions,
                       "me": s.user.id == me.principal.user_id} for s in found],
            "roles": _roles(me), "role_names": dict(_roles(me))}


async def users_response(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    """The users page (with ``problem``, ``field_error`` or ``done`` to show); shared with ``settings_users``."""
    return await _users_page(request, me, status, **values)


async def _users_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(_users, request, me)
    return render(request, me, "settings/users.html", {"title": N_("Users and roles"), "form": {}, **found,
                                                        **values}, status_code=status)


@router.get("/settings/users", **allow("users.manage"))
async def users_page(request: Request, me: Me, done: str = "") -> Response:
    return await _users_page(request, me, done=done if done in ("created", "role", "requested", "disabled", "enabled",
                                                                "2fa_reset") else "")


@router.post("/settings/users", **allow("users.manage"))
async def users_create(request: Request, me: Me) -> Response:
    """A new account; a new administrator is created as a viewer and the admin role requested for it."""
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        wanted = form.get("role", "")
        if wanted not in ROLE_NAMES:
            raise FieldError("role", f"one of {', '.join(ROLE_NAMES)}")
        first = "viewer" if wanted == "admin" else wanted
        user = await state.write(create_user, state.services, form.get("email", "")[:320],
                                 form.get("name", "")[:200], first, form.get("password", "")[:1024],
                                 actor=me.principal.actor)
        if wanted == "admin":
            await state.write(request_approval, state.services, me.principal.actor, ROLE_ADMIN_KIND,
                              f"user:{user.email}", {"user_email": user.email, "role": "admin"},
                              reason=form.get("reason", "").strip() or "new administrator")
            return back("/settings/users", done="requested")
    except (FieldError, FormError) as exc:
        form.pop("password", None)  # never sent back
        return await _users_page(request, me, 422, field_error=exc, form=form)
    return back("/settings/users", done="created")


@router.post("/settings/users/{user_id}/role", **allow("users.manage"))
async def users_set_role(request: Request, me: Me, user_id: str) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        wanted = form.get("role", "")
        if wanted not in ROLE_NAMES:
            raise FieldError("role", f"one of {', '.join(ROLE_NAMES)}")
        found = await run_in_threadpool(list_users, state.services)
        user = next((s.user for s in found if s.user.id == user_id), None)
        if user is None:
            raise UserNotFound(user_id)
        if wanted == "admin":
            reason = form.get("reason", "").strip()
            if not reason:
                raise FieldError("reason", "say why this person needs the administrator role")
            await state.write(request_approval, state.services, me.principal.actor, ROLE_ADMIN_KIND,
                              f"user:{user.email}", {"user_email": user.email, "role": "admin"}, reason=reason)
            return back("/settings/users", done="requested")
        await state.write(set_role, state.services, user.email, wanted, actor=me.principal.actor)
    except UserNotFound:
        return await _users_page(request, me, 404, field_error=FieldError("user", "no such account"))
    except (FieldError, FormError) as exc:
        return await _users_page(request, me, 422, field_error=exc)
    return back("/settings/users", done="role")


# --- API keys ----------------------------------------------------------------------------------------------------


def _keys(request: Request, me: ConsoleUser) -> dict[str, Any]:
    ctx = services(request)
    people = {s.user.id: mask_email(s.user.email) for s in list_users(ctx)}
    keys = [k for k in list_api_keys(ctx) if k.role]  # site keys and callback tokens have their own pages
    mine = [r for r in list_requests(ctx, kind=APIKEY_KIND) if r.requested_by == me.principal.actor.id
            and r.state in ("pending", "executed")]
    return {"requests": mine,
            "keys": [{"k": k, "owner": people.get(k.owner_user_id or "", "") or masked(k.service_account)}
                     for k in sorted(keys, key=lambda k: k.created_at, reverse=True)],
            "roles": _roles(me), "role_names": dict(_roles(me))}


async def _keys_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(_keys, request, me)
    return render(request, me, "settings/keys.html", {"title": N_("API keys"), "form": {}, "issued": None,
                                                       **found, **values}, status_code=status)


@router.get("/settings/keys", **allow("apikeys.manage"))
async def keys_page(request: Request, me: Me, done: str = "") -> Response:
    return await _keys_page(request, me, done=done if done in ("requested", "revoked") else "")


@router.post("/settings/keys", **allow("apikeys.manage"))
async def keys_create(request: Request, me: Me) -> Response:
    """A key for a person (their role) or a service account; one that could export becomes a request."""
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        name, owner, service = form.get("name", ""), form.get("owner", "").strip(), form.get("service", "").strip()
        account = await run_in_threadpool(owner_account, state.services, owner) if owner else None
        chosen = form.get("role") or (account.role if account else "") or ""
        spec = KeySpec(name, chosen, owner_user_id=account.user_id if account else None,
                       service_account=None if account else (service or None))
        try:
            issued = await state.write(create_api_key, state.services, spec, actor=me.principal.actor)
        except NeedsApproval:
            reason = form.get("reason", "").strip()
            if not reason:
                raise FieldError("reason", "this key could export personal data: say why it is needed, "
                                           "a second person approves it") from None
            payload = {"name": name, "role": chosen, **({"owner": owner} if owner else {"service": service})}
            await state.write(request_approval, state.services, me.principal.actor, APIKEY_KIND, f"key:{name}",
                              payload, reason=reason)
            return back("/settings/keys", done="requested")
    except (FieldError, FormError) as exc:
        return await _keys_page(request, me, 422, field_error=exc, form=form)
    except ApprovalRefused as exc:
        return await _keys_page(request, me, 409, field_error=FieldError("reason", exc.message), form=form)
    # the secret, once: this answer is not stored (no-store) and is never shown again
    return await _keys_page(request, me, 201, issued=issued)


@router.post("/settings/keys/pickup/{request_id}", **allow("apikeys.manage"))
async def keys_pickup(request: Request, me: Me, request_id: str) -> Response:
    """The secret of an approved export-capable key, once, for the person who asked for it."""
    state = api_state(request)
    try:
        found = await state.write(pick_up_key, state.services, me.principal.actor, request_id[:64])
    except ApprovalNotFound:
        return await _keys_page(request, me, 404, field_error=FieldError("request", "no such request of yours"))
    except PickupRefused as exc:
        return await _keys_page(request, me, 410 if exc.code == "gone" else 409,
                                field_error=FieldError("request", exc.message))
    issued = {"id": found.get("id"), "name": found.get("name"), "secret": found.get("secret")}
    return await _keys_page(request, me, 200, issued=issued)


@router.post("/settings/keys/{key_id}/revoke", **allow("apikeys.manage"))
async def keys_revoke(request: Request, me: Me, key_id: str) -> Response:
    state = api_state(request)
    await state.write(revoke_api_key, state.services, key_id[:64], actor=me.principal.actor)
    return back("/settings/keys", done="revoked")
