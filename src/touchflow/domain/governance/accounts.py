"""Accounts (P3): the pure rules — who may have which password, when a login is throttled, when a session ends,
which TOTP time step is still acceptable. Every function takes ``now``; nothing here reads a clock or a store."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from touchflow.domain.errors import FieldError

__all__ = [
    "ACCOUNT_THROTTLE",
    "IP_THROTTLE",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "SESSION_POLICY",
    "STAGES",
    "TOTP_DRIFT",
    "TOTP_PERIOD",
    "SessionPolicy",
    "Stage",
    "Throttle",
    "check_password",
    "locked_until",
    "normalise_email",
    "password_problems",
    "session_end",
    "totp_step",
    "totp_window",
    "unused_step",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is a denial of service
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}")


def normalise_email(text: str) -> str:
    """The account's login name: trimmed, NFKC, lower-case; FieldError when it is not an address."""
    email = unicodedata.normalize("NFKC", text).strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise FieldError("email", f"{text[:80]!r} is not an email address")
    return email


def _classes(password: str) -> int:
    kinds = (str.islower, str.isupper, str.isdigit)
    found = {i for ch in password for i, test in enumerate(kinds) if test(ch)}
    if any(not (ch.islower() or ch.isupper() or ch.isdigit()) for ch in password):
        found.add(3)  # symbols, spaces and letters without case (汉字) count as one more class
    return len(found)


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Why ``password`` is refused (empty: accepted). NIST 800-63B style: length first, then the obvious."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters (got {len(password)})")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    if password and _classes(password) < 2:
        problems.append("not all of one kind: mix letters with digits, capitals or symbols")
    folded = password.casefold()
    local = email.partition("@")[0].casefold()
    if email and (email.casefold() in folded or (len(local) >= 4 and local in folded)):
        problems.append("must not contain the account's email address")
    words = [w for w in re.split(r"\s+", name.casefold()) if len(w) >= 3]
    joined = "".join(name.casefold().split())
    if name and ((len(joined) >= 3 and joined in folded) or any(w in folded for w in words)):
        problems.append("must not contain the account's name")
    if password and len(set(password)) <= 2:
        problems.append("not one or two characters repeated")
    return problems


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """FieldError("password", …) naming every reason at once, so a person fixes it in one go."""
    problems = password_problems(password, email=email, name=name)
    if problems:
        raise FieldError("password", "; ".join(problems))


# --- login throttling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """``failures`` failed attempts within ``window`` lock for ``base_lock``; each later lock doubles, up to
    ``cap``. Failures older than ``memory`` are forgotten (the caller passes only the history since the last
    successful login for an account)."""

    failures: int
    window: timedelta
    base_lock: timedelta
    cap: timedelta
    memory: timedelta = timedelta(days=7)

    def lock_for(self, level: int) -> timedelta:
        longer: timedelta = self.base_lock * (2 ** min(level, 20))
        return min(longer, self.cap)


ACCOUNT_THROTTLE = Throttle(5, timedelta(minutes=15), timedelta(minutes=15), timedelta(hours=24))
# One office behind one NAT: many people, some typos; an address trying passwords on many accounts still stops.
IP_THROTTLE = Throttle(20, timedelta(minutes=15), timedelta(minutes=15), timedelta(hours=24))


def locked_until(failures: Sequence[datetime], now: datetime, throttle: Throttle) -> datetime | None:
    """When the lock in force at ``now`` ends, or None: a pure function of the failure times.

    Failures while a lock is in force do not count (they were refused unseen); after a lock the count starts
    again, and the next lock is twice as long (back-off), up to the cap.
    """
    horizon = now - throttle.memory
    recent: list[datetime] = []
    level = 0
    until: datetime | None = None
    for at in sorted(f for f in failures if horizon <= f <= now):
        if until is not None and at < until:
            continue
        recent = [f for f in recent if f > at - throttle.window] + [at]
        if len(recent) >= throttle.failures:
            until = at + throttle.lock_for(level)
            level += 1
            recent = []
    return until if until is not None and until > now else None


# --- sessions --------------------------------------------------------------------------------------------

Stage = str  # "password_ok" (TOTP next), "needs_enrolment" (enrol, then TOTP), "active" (second factor done)
STAGES = ("password_ok", "needs_enrolment", "active")


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    pending: timedelta = timedelta(minutes=10)  # from the password to the second factor
    touch_every: timedelta = timedelta(minutes=1)  # last_seen_at is written at most this often


SESSION_POLICY = SessionPolicy()


def session_end(stage: Stage, created_at: datetime, last_seen_at: datetime, now: datetime,
                policy: SessionPolicy = SESSION_POLICY) -> str | None:
    """Why the session is over at ``now`` ("idle", "absolute", "pending"), or None while it lives."""
    if stage != "active":
        return "pending" if now >= created_at + policy.pending else None
    if now >= created_at + policy.absolute:
        return "absolute"
    if now >= last_seen_at + policy.idle:
        return "idle"
    return None


# --- TOTP (RFC 6238) -------------------------------------------------------------------------------------

TOTP_PERIOD = 30
TOTP_DRIFT = 1  # steps either side of now: a phone clock 30 s off still works


def totp_step(now: datetime, period: int = TOTP_PERIOD) -> int:
    """The RFC 6238 counter at ``now``."""
    return int(now.timestamp()) // period


def totp_window(now: datetime, drift: int = TOTP_DRIFT) -> tuple[int, ...]:
    """The counters a code may match at ``now``, the current one first."""
    step = totp_step(now)
    return (step, *(step + d for k in range(1, drift + 1) for d in (-k, k)))


def unused_step(matched: int, last_used: int | None) -> bool:
    """A code is good once: the matched step must be later than the last one used (a replayed code, or an
    older one still inside the window, is refused)."""
    return last_used is None or matched > last_used
