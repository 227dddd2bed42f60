"""Accounts on SQL: users, recovery codes, login attempts and browser sessions (``AccountRepository``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from touchflow.domain.governance.account_ports import LoginAttempt, SessionRecord, UserRecord
from touchflow.store.tables import login_attempts, recovery_codes, sessions, users

__all__ = ["SqlAccountRepository"]


def _user(row: Any) -> UserRecord:
    return UserRecord(row.id, row.email, row.display_name, row.role, row.password_hash, row.created_at, row.locale,
                      row.time_zone, row.totp_secret, row.totp_enrolled_at,
                      None if row.totp_last_step is None else int(row.totp_last_step), row.disabled_at,
                      row.last_login_at)


def _session(row: Any) -> SessionRecord:
    return SessionRecord(row.id, row.user_id, row.stage, row.csrf_token, row.created_at, row.last_seen_at,
                         row.expires_at, row.revoked_at, row.ip, row.user_agent)


def _user_values(user: UserRecord) -> dict[str, Any]:
    return {"email": user.email, "display_name": user.display_name, "locale": user.locale,
            "time_zone": user.time_zone, "role": user.role, "password_hash": user.password_hash,
            "totp_secret": user.totp_secret, "totp_enrolled_at": user.totp_enrolled_at,
            "totp_last_step": user.totp_last_step, "disabled_at": user.disabled_at, "created_at": user.created_at,
            "last_login_at": user.last_login_at}


class SqlAccountRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # --- people ---

    def add_user(self, user: UserRecord) -> None:
        self._c.execute(insert(users).values(id=user.id, **_user_values(user)))

    def user(self, user_id: str) -> UserRecord | None:
        row = self._c.execute(select(users).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def user_by_email(self, email: str) -> UserRecord | None:
        row = self._c.execute(select(users).where(users.c.email == email)).first()
        return None if row is None else _user(row)

    def users(self) -> list[UserRecord]:
        return [_user(r) for r in self._c.execute(select(users).order_by(users.c.created_at, users.c.id))]

    def save_user(self, user: UserRecord) -> None:
        self._c.execute(update(users).where(users.c.id == user.id).values(**_user_values(user)))

    def count_admins(self) -> int:
        query = select(func.count()).select_from(users).where(users.c.role == "admin", users.c.disabled_at.is_(None))
        return int(self._c.execute(query).scalar_one())

    def claim_totp_step(self, user_id: str, step: int) -> bool:
        """One statement, so two requests with the same code cannot both pass (the second updates no row)."""
        result = self._c.execute(update(users).where(
            users.c.id == user_id,
            (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step)).values(totp_last_step=step))
        return bool(result.rowcount)

    def sealed_totp_secrets(self) -> list[tuple[str, str]]:
        rows = self._c.execute(select(users.c.id, users.c.totp_secret).where(users.c.totp_secret.is_not(None))
                               .order_by(users.c.id))
        return [(str(r.id), str(r.totp_secret)) for r in rows]

    def set_totp_secret(self, user_id: str, sealed: str | None) -> None:
        self._c.execute(update(users).where(users.c.id == user_id).values(totp_secret=sealed))

    # --- recovery codes ---

    def replace_recovery_codes(self, user_id: str, hashes: Sequence[str], now: datetime) -> None:
        self._c.execute(recovery_codes.delete().where(recovery_codes.c.user_id == user_id))
        if hashes:
            self._c.execute(insert(recovery_codes), [
                {"user_id": user_id, "code_hash": h, "created_at": now, "used_at": None} for h in hashes])

    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        result = self._c.execute(update(recovery_codes).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None)).values(used_at=now))
        return bool(result.rowcount)

    def recovery_codes_left(self, user_id: str) -> int:
        query = select(func.count()).select_from(recovery_codes).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
        return int(self._c.execute(query).scalar_one())

    # --- login attempts ---

    def add_attempt(self, attempt: LoginAttempt) -> None:
        self._c.execute(insert(login_attempts).values(at=attempt.at, email=attempt.email, user_id=attempt.user_id,
                                                      ip=attempt.ip, succeeded=attempt.succeeded))

    def failures_for_email(self, email: str, since: datetime) -> list[datetime]:
        t = login_attempts
        last_ok = self._c.execute(select(func.max(t.c.at)).where(t.c.email == email, t.c.succeeded.is_(True),
                                                                  t.c.at >= since)).scalar()
        start = max(since, last_ok) if last_ok is not None else since
        query = select(t.c.at).where(t.c.email == email, t.c.succeeded.is_(False), t.c.at >= start)
        return [r.at for r in self._c.execute(query.order_by(t.c.at))]

    def failures_from_ip(self, ip: str, since: datetime) -> list[datetime]:
        t = login_attempts
        query = select(t.c.at).where(t.c.ip == ip, t.c.succeeded.is_(False), t.c.at >= since).order_by(t.c.at)
        return [r.at for r in self._c.execute(query)]

    # --- sessions ---

    def add_session(self, session: SessionRecord) -> None:
        self._c.execute(insert(sessions).values(
            id=session.id, user_id=session.user_id, stage=session.stage, csrf_token=session.csrf_token,
            created_at=session.created_at, last_seen_at=session.last_seen_at, expires_at=session.expires_at,
            revoked_at=session.revoked_at, ip=session.ip, user_agent=session.user_agent))

    def session(self, session_id: str) -> SessionRecord | None:
        row = self._c.execute(select(sessions).where(sessions.c.id == session_id)).first()
        return None if row is None else _session(row)

    def revoke_session(self, session_id: str, now: datetime) -> bool:
        result = self._c.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                                 .values(revoked_at=now))
        return bool(result.rowcount)

    def revoke_sessions_of(self, user_id: str, now: datetime) -> int:
        result = self._c.execute(update(sessions).where(sessions.c.user_id == user_id,
                                                        sessions.c.revoked_at.is_(None)).values(revoked_at=now))
        return int(result.rowcount)

    def touch_session(self, session_id: str, now: datetime) -> None:
        self._c.execute(update(sessions).where(sessions.c.id == session_id, sessions.c.last_seen_at < now)
                        .values(last_seen_at=now))

    def live_sessions_of(self, user_id: str, now: datetime) -> list[SessionRecord]:
        rows = self._c.execute(select(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None),
                                                      sessions.c.expires_at > now).order_by(sessions.c.created_at))
        return [_session(r) for r in rows]
