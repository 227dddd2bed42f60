"""Browser sessions: server-side rows behind an HttpOnly cookie (ADR 0022).

The cookie carries a random token; the row's id is its SHA-256, so a copy of the database opens no session.
A session is *pending* (``password_ok``, ``needs_enrolment``) until the second factor, then ``active``; only an
active session authenticates. Every stage change issues a new token and revokes the old row (session
fixation), as does a change of the account's role (``services.accounts.set_role`` revokes every session).
Timeouts (``domain.governance.accounts.session_end``): idle 30 min, absolute 12 h, pending 10 min.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from touchflow.domain.actors import Actor
from touchflow.domain.governance.account_ports import SessionRecord, UserRecord
from touchflow.domain.governance.accounts import SESSION_POLICY, Stage, session_end
from touchflow.domain.governance.permissions import ROLE_NAMES, permissions_of
from touchflow.domain.governance.principals import Principal
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "AuthenticatedSession", "CsrfRefused", "NoSession",
           "authenticate_session", "csrf_matches", "live_session", "logout", "logout_everywhere", "open_session",
           "principal_of", "session_account", "token_id", "user_actor"]

SESSION_COOKIE = "touchflow_session"
CSRF_HEADER = "X-CSRF-Token"
_UA_MAX = 300


@dataclass(frozen=True)
class AuthenticatedSession:
    principal: Principal
    csrf_token: str  # state-changing requests by cookie must echo it (X-CSRF-Token header or csrf_token field)


class NoSession(LookupError):
    """No live session behind this cookie (missing, unknown, revoked, expired, or not at the needed stage)."""


class CsrfRefused(PermissionError):
    """A state-changing request by cookie without the session's CSRF token."""


def token_id(token: str) -> str:
    """The session's id: SHA-256 of the cookie token (what is stored; the token never is)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_actor(user: UserRecord) -> Actor:
    return Actor(f"user:{user.id}", user.display_name)


def principal_of(user: UserRecord, session_id: str | None) -> Principal:
    return Principal(user_actor(user), user.role, permissions_of(user.role), user_id=user.id, session_id=session_id)


def open_session(uow: UnitOfWork, user: UserRecord, stage: Stage, now: datetime, *, ip: str | None,
                 user_agent: str | None) -> tuple[str, SessionRecord]:
    """A new session row for ``user`` at ``stage``, in the caller's transaction: (cookie token, record)."""
    token = secrets.token_urlsafe(32)
    life = SESSION_POLICY.absolute if stage == "active" else SESSION_POLICY.pending
    record = SessionRecord(token_id(token), user.id, stage, secrets.token_urlsafe(32), now, now, now + life,
                           ip=(ip or None) and ip[:64], user_agent=(user_agent or None) and user_agent[:_UA_MAX])
    uow.accounts.add_session(record)
    return token, record


def live_session(uow: UnitOfWork, token: str, now: datetime,
                 stages: tuple[Stage, ...]) -> tuple[SessionRecord, UserRecord] | None:
    """The session behind ``token`` and its account, if it lives at ``now`` at one of ``stages``."""
    if not token or len(token) > 200:
        return None
    record = uow.accounts.session(token_id(token))
    if record is None or record.revoked_at is not None or record.stage not in stages or now >= record.expires_at:
        return None
    if session_end(record.stage, record.created_at, record.last_seen_at, now) is not None:
        return None
    user = uow.accounts.user(record.user_id)
    if user is None or user.disabled_at is not None or user.role not in ROLE_NAMES:
        return None
    return record, user


def authenticate_session(ctx: ServiceContext, token: str) -> AuthenticatedSession | None:
    """The live, active session behind ``token`` (touching its idle timer), or None."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        found = live_session(uow, token, now, ("active",))
    if found is None:
        return None
    record, user = found
    if now - record.last_seen_at >= SESSION_POLICY.touch_every:  # not a write on every request
        with ctx.uow() as uow:
            uow.accounts.touch_session(record.id, now)
            uow.commit()
    return AuthenticatedSession(principal_of(user, record.id), record.csrf_token)


def csrf_matches(expected: str, presented: str | None) -> bool:
    """Whether a request echoed the session's CSRF token (``AuthenticatedSession.csrf_token``); constant time."""
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode("utf-8", "replace"))


def _active_with_csrf(uow: UnitOfWork, token: str, csrf: str | None,
                      now: datetime) -> tuple[SessionRecord, UserRecord]:
    found = live_session(uow, token, now, ("active",))
    if found is None:
        raise NoSession("no active session: log in first")
    if not csrf_matches(found[0].csrf_token, csrf):
        raise CsrfRefused("the X-CSRF-Token header is missing or does not match this session")
    return found


def logout(ctx: ServiceContext, token: str, csrf: str | None) -> None:
    """End this session (the cookie's); CSRF-checked, audited."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record, user = _active_with_csrf(uow, token, csrf, now)
        uow.accounts.revoke_session(record.id, now)
        uow.audit.record(user_actor(user).label, "auth.logout", f"user:{user.id}", {"session": record.id[:12]}, now)
        uow.commit()


def logout_everywhere(ctx: ServiceContext, token: str, csrf: str | None) -> int:
    """End every session of the cookie's account (a lost laptop); how many were ended."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _, user = _active_with_csrf(uow, token, csrf, now)
        ended = uow.accounts.revoke_sessions_of(user.id, now)
        uow.audit.record(user_actor(user).label, "auth.logout_all", f"user:{user.id}", {"sessions": ended}, now)
        uow.commit()
    return ended


def session_account(ctx: ServiceContext, token: str) -> tuple[AuthenticatedSession, UserRecord] | None:
    """``authenticate_session`` and the account behind it (``GET /v1/auth/me``)."""
    found = authenticate_session(ctx, token)
    if found is None or found.principal.user_id is None:
        return None
    with ctx.reader() as uow:
        user = uow.accounts.user(found.principal.user_id)
    return None if user is None else (found, user)
