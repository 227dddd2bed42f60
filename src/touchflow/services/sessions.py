"""Browser sessions (server-side rows behind an HttpOnly cookie). Placeholder until accounts land: no session
authenticates. The API's permission layer calls ``authenticate_session`` for the ``touchflow_session`` cookie."""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.domain.governance.principals import Principal
from touchflow.services.context import ServiceContext

__all__ = ["SESSION_COOKIE", "AuthenticatedSession", "authenticate_session"]

SESSION_COOKIE = "touchflow_session"


@dataclass(frozen=True)
class AuthenticatedSession:
    principal: Principal
    csrf_token: str  # state-changing requests by cookie must echo it (X-CSRF-Token header or csrf_token field)


def authenticate_session(ctx: ServiceContext, token: str) -> AuthenticatedSession | None:
    """The live session behind ``token`` (touching its idle timer), or None."""
    return None
