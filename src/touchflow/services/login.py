"""The login flow (P3): password → (first time: enrol TOTP) → TOTP or a recovery code → an active session.

Each step that succeeds replaces the session with a new one (new token, old row revoked). Throttling is per
account (by the email as typed, so an unknown email behaves like a known one) and per IP, from the stored
failure history (``domain.governance.accounts.locked_until``). A wrong email, a wrong password and a disabled
account give the same answer after the same argon2 work. Every outcome writes one audit row in its
transaction; no password or code is ever stored or audited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from touchflow.domain.events import JSONValue
from touchflow.domain.governance.account_ports import LoginAttempt, SessionRecord, UserRecord
from touchflow.domain.governance.accounts import (
    ACCOUNT_THROTTLE,
    IP_THROTTLE,
    locked_until,
    normalise_email,
)
from touchflow.domain.governance.principals import Principal
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security import totp
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.security.passwords import dummy_verify, verify_password
from touchflow.services.context import ServiceContext
from touchflow.services.sessions import NoSession, live_session, open_session, principal_of, user_actor

__all__ = ["ANONYMOUS", "ActiveLogin", "Enrolment", "LoginRefused", "LoginThrottled", "PendingLogin", "WrongStage",
           "begin_enrolment", "login_password", "verify_second_factor"]

ANONYMOUS = "anonymous"
_GENERIC = "wrong email or password"


class LoginRefused(PermissionError):
    """Wrong credentials (never says which)."""


class LoginThrottled(PermissionError):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many failed attempts: try again in {int(retry_after.total_seconds()) + 1} s")
        self.retry_after = retry_after


class WrongStage(RuntimeError):
    """The pending session is not at the step this call is for (e.g. verify before enrolling)."""


@dataclass(frozen=True)
class PendingLogin:
    token: str  # the new cookie value
    stage: str  # "password_ok" (send a TOTP or recovery code) or "needs_enrolment" (enrol first)


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app by hand
    provisioning_uri: str
    qr_svg: str
    recovery_codes: tuple[str, ...]  # shown once


@dataclass(frozen=True)
class ActiveLogin:
    token: str
    session: SessionRecord
    principal: Principal


def _throttled(uow: UnitOfWork, email: str, ip: str | None, now: datetime) -> datetime | None:
    ends = [locked_until(uow.accounts.failures_for_email(email, now - ACCOUNT_THROTTLE.memory), now,
                         ACCOUNT_THROTTLE)]
    if ip:
        ends.append(locked_until(uow.accounts.failures_from_ip(ip, now - IP_THROTTLE.memory), now, IP_THROTTLE))
    found = [e for e in ends if e is not None]
    return max(found) if found else None


def _check_throttle(ctx: ServiceContext, email: str, ip: str | None, now: datetime) -> None:
    with ctx.reader() as uow:
        until = _throttled(uow, email, ip, now)
    if until is not None:
        raise LoginThrottled(until - now)


def _fail(uow: UnitOfWork, email: str, ip: str | None, user: UserRecord | None, now: datetime, step: str,
          reason: str, user_agent: str | None) -> datetime | None:
    """Record a failed attempt and its audit row ("auth.lockout" when this failure starts a lock)."""
    uow.accounts.add_attempt(LoginAttempt(now, email, ip, False, user.id if user else None))
    until = _throttled(uow, email, ip, now)
    details: dict[str, JSONValue] = {"email": email, "ip": ip, "step": step, "reason": reason,
                                     "user_agent": (user_agent or "")[:200] or None}
    if until is not None:
        details["locked_until"] = until.isoformat()
    uow.audit.record(ANONYMOUS, "auth.lockout" if until else "auth.login_failed",
                     f"user:{user.id}" if user else f"email:{email}", details, now)
    return until


def login_password(ctx: ServiceContext, email_text: str, password: str, *, ip: str | None,
                   user_agent: str | None) -> PendingLogin:
    """Step one: the password. A pending session on success; LoginRefused / LoginThrottled otherwise."""
    email = normalise_email(email_text)
    now = ctx.clock.now()
    _check_throttle(ctx, email, ip, now)  # before the argon2 work: a locked account costs nothing
    with ctx.reader() as uow:
        user = uow.accounts.user_by_email(email)
    if user is None:
        dummy_verify(password)
        checked_ok, new_hash = False, None
    else:
        verified = verify_password(user.password_hash, password)
        checked_ok, new_hash = verified.ok, verified.new_hash
    with ctx.uow() as uow:
        if not checked_ok or user is None or user.disabled_at is not None:
            reason = "unknown email" if user is None else ("disabled" if checked_ok else "wrong password")
            _fail(uow, email, ip, user, now, "password", reason, user_agent)
            uow.commit()
            raise LoginRefused(_GENERIC)
        if new_hash is not None:
            user = replace(user, password_hash=new_hash)
            uow.accounts.save_user(user)
        stage = "password_ok" if user.enrolled else "needs_enrolment"
        token, record = open_session(uow, user, stage, now, ip=ip, user_agent=user_agent)
        uow.audit.record(ANONYMOUS, "auth.password_ok", f"user:{user.id}",
                         {"email": email, "ip": ip, "next": stage, "session": record.id[:12],
                          "rehashed": new_hash is not None}, now)
        uow.commit()
    return PendingLogin(token, stage)


def begin_enrolment(ctx: ServiceContext, box: SecretBox, token: str) -> Enrolment:
    """A new TOTP secret (sealed) and ten recovery codes for a pending ``needs_enrolment`` session; the secret
    counts only once a first code confirms it (``verify_second_factor``). Calling again starts over."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        found = live_session(uow, token, now, ("needs_enrolment", "password_ok"))
        if found is None:
            raise NoSession("no pending login: POST /v1/auth/login first")
        record, user = found
        if record.stage != "needs_enrolment":
            raise WrongStage("this account already has two-factor authentication: send a code to /v1/auth/verify")
        secret = totp.new_secret()
        codes = totp.new_recovery_codes()
        uow.accounts.set_totp_secret(user.id, box.seal({"secret": secret}, totp.sealing_context(user.id)))
        uow.accounts.replace_recovery_codes(user.id, [totp.hash_recovery_code(c) for c in codes], now)
        uow.audit.record(ANONYMOUS, "auth.2fa_enrolment_started", f"user:{user.id}",
                         {"email": user.email, "session": record.id[:12]}, now)
        uow.commit()
    uri = totp.provisioning_uri(secret, user.email)
    return Enrolment(secret, uri, totp.qr_svg(uri), tuple(codes))


def _open_secret(box: SecretBox, user: UserRecord) -> str | None:
    if user.totp_secret is None:
        return None
    try:
        return str(box.open(user.totp_secret, totp.sealing_context(user.id))["secret"])
    except (SecretError, KeyError, ValueError):
        return None


def verify_second_factor(ctx: ServiceContext, box: SecretBox, token: str, code: str, *, ip: str | None,
                         user_agent: str | None) -> ActiveLogin:
    """Step two: a TOTP code (or, once enrolled, a recovery code). Success: a new active session."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        found = live_session(uow, token, now, ("needs_enrolment", "password_ok"))
    if found is None:
        raise NoSession("no pending login: POST /v1/auth/login first")
    record, user = found
    if record.stage == "needs_enrolment" and user.totp_secret is None:
        raise WrongStage("enrol first: POST /v1/auth/enrol")
    _check_throttle(ctx, user.email, ip, now)
    secret = _open_secret(box, user)
    code = code.strip()
    with ctx.uow() as uow:
        how = ""
        step = totp.match_step(secret, code, now) if secret else None
        if step is not None and uow.accounts.claim_totp_step(user.id, step):
            how = "totp"
        elif step is None and record.stage == "password_ok" and not totp.looks_like_totp(code) and \
                uow.accounts.use_recovery_code(user.id, totp.hash_recovery_code(code), now):
            how = "recovery_code"
        if not how:
            reason = "replayed code" if step is not None else "wrong code"
            _fail(uow, user.email, ip, user, now, "second_factor", reason, user_agent)
            uow.commit()
            raise LoginRefused("wrong or already used code")
        if not uow.accounts.revoke_session(record.id, now):  # a concurrent request finished this login first
            raise NoSession("this login step was already completed: log in again")
        actor = user_actor(user).label
        if record.stage == "needs_enrolment":
            user = replace(user, totp_enrolled_at=now, totp_last_step=step)
            uow.audit.record(actor, "auth.2fa_enrolled", f"user:{user.id}", {"email": user.email}, now)
        if how == "recovery_code":
            uow.audit.record(actor, "auth.recovery_code_used", f"user:{user.id}",
                             {"left": uow.accounts.recovery_codes_left(user.id)}, now)
        current = uow.accounts.user(user.id) or user  # totp_last_step as just claimed
        user = replace(current, totp_enrolled_at=user.totp_enrolled_at, last_login_at=now)
        uow.accounts.save_user(user)
        uow.accounts.add_attempt(LoginAttempt(now, user.email, ip, True, user.id))
        new_token, active = open_session(uow, user, "active", now, ip=ip, user_agent=user_agent)
        uow.audit.record(actor, "auth.login", f"user:{user.id}",
                         {"ip": ip, "second_factor": how, "session": active.id[:12]}, now)
        uow.commit()
    return ActiveLogin(new_token, active, principal_of(user, active.id))
