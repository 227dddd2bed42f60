"""``/settings/users`` actions on one account (P2, P3): disable it, enable it again, reset its second factor (a
lost phone: the next sign-in enrols again). The accounts service applies the rules — never one's own account, never
the last administrator — ends the account's sessions and writes the audit row with the signed-in administrator as
actor. The page itself is ``settings_access.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import Me, allow
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.views.settings_access import users_response
from touchflow.console.views.settings_support import back
from touchflow.domain.errors import FieldError
from touchflow.services.accounts import UserNotFound, disable_user, enable_user, list_users, reset_2fa

__all__ = ["router"]

router = APIRouter()
_ACTIONS = {"disable": disable_user, "enable": enable_user, "reset-2fa": reset_2fa}
DONE = {"disable": "disabled", "enable": "enabled", "reset-2fa": "2fa_reset"}


@router.post("/settings/users/{user_id}/{action}", **allow("users.manage"))
async def account_action(request: Request, me: Me, user_id: Annotated[str, Path(max_length=64)],
                         action: Annotated[str, Path(max_length=20)]) -> Response:
    state = api_state(request)
    try:
        await read_form(request)  # the CSRF token was checked; nothing else is read
        if action not in _ACTIONS:
            raise FieldError("action", f"one of {', '.join(_ACTIONS)}")
        found = await run_in_threadpool(list_users, state.services)
        user = next((s.user for s in found if s.user.id == user_id), None)
        if user is None:
            raise UserNotFound(user_id)
        await state.write(_ACTIONS[action], state.services, user.email, actor=me.principal.actor)
    except UserNotFound as exc:
        return await users_response(request, me, 404, problem=problem_of(exc))
    except (FieldError, FormError) as exc:
        return await users_response(request, me, 409 if problem_of(exc).kind == "conflict" else 422,
                                    problem=problem_of(exc))
    return back("/settings/users", done=DONE[action])
