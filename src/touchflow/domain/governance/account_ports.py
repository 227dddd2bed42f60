"""Repositories accounts and sessions need, as Protocols (``store/accounts.py`` implements them on SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["AccountRepository", "ApiKeyRecord", "ApiKeyRepository", "LoginAttempt", "SessionRecord", "UserRecord"]


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str  # normalised: trimmed, lower-case (domain.governance.accounts.normalise_email)
    display_name: str
    role: str  # a name of domain/governance/permissions.ROLE_NAMES
    password_hash: str  # argon2id, PHC string
    created_at: datetime
    locale: str = "zh-CN"
    time_zone: str = "Asia/Shanghai"
    totp_secret: str | None = None  # sealed with the key ring (context "totp:<user id>"); never plain
    totp_enrolled_at: datetime | None = None  # None: the next login enrols (a secret may be pending)
    totp_last_step: int | None = None  # the last RFC 6238 counter accepted: a replay is refused
    disabled_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def enrolled(self) -> bool:
        return self.totp_enrolled_at is not None and self.totp_secret is not None


@dataclass(frozen=True)
class SessionRecord:
    id: str  # sha256 hex of the cookie token: the token itself is never stored
    user_id: str
    stage: str  # "password_ok" | "needs_enrolment" | "active"
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute end (12 h, or 10 min for a pending stage)
    revoked_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class LoginAttempt:
    at: datetime
    email: str  # as attempted, normalised (it may name no account)
    ip: str | None
    succeeded: bool
    user_id: str | None = None


class AccountRepository(Protocol):
    # people
    def add_user(self, user: UserRecord) -> None: ...
    def user(self, user_id: str) -> UserRecord | None: ...
    def user_by_email(self, email: str) -> UserRecord | None: ...
    def users(self) -> list[UserRecord]: ...
    def save_user(self, user: UserRecord) -> None: ...
    def count_admins(self) -> int: ...
    def claim_totp_step(self, user_id: str, step: int) -> bool:
        """Set ``totp_last_step`` to ``step`` only if it is later than the stored one (atomic; True if set)."""
        ...
    def sealed_totp_secrets(self) -> list[tuple[str, str]]:
        """(user id, sealed secret) of every account with a TOTP secret, for a key rotation."""
        ...
    def set_totp_secret(self, user_id: str, sealed: str | None) -> None: ...
    # recovery codes (sha256 hex of the code)
    def replace_recovery_codes(self, user_id: str, hashes: Sequence[str], now: datetime) -> None: ...
    def use_recovery_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        """Mark the unused code used (atomic); True when it was there and unused."""
        ...
    def recovery_codes_left(self, user_id: str) -> int: ...
    # login attempts (throttling)
    def add_attempt(self, attempt: LoginAttempt) -> None: ...
    def failures_for_email(self, email: str, since: datetime) -> list[datetime]:
        """Failed attempts for ``email`` after ``since`` and after its last success."""
        ...
    def failures_from_ip(self, ip: str, since: datetime) -> list[datetime]: ...
    # sessions
    def add_session(self, session: SessionRecord) -> None: ...
    def session(self, session_id: str) -> SessionRecord | None: ...
    def revoke_session(self, session_id: str, now: datetime) -> bool: ...
    def revoke_sessions_of(self, user_id: str, now: datetime) -> int: ...
    def touch_session(self, session_id: str, now: datetime) -> None: ...
    def live_sessions_of(self, user_id: str, now: datetime) -> list[SessionRecord]: ...


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key and what it may do: its ``role``, narrowed to ``scopes`` when set (never widened).

    A personal key (``owner_user_id``) carries its owner's role, copied at creation and kept in step by
    ``services.apikeys.set_owner_role``; a service account's key (``service_account``) has a role of its own.
    Site keys and callback tokens live in the same table with no role (``""``): they reach no ``/v1`` route."""

    id: str
    name: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None
    role: str = ""
    scopes: frozenset[str] | None = None
    owner_user_id: str | None = None
    service_account: str | None = None
    last_used_at: datetime | None = None


class ApiKeyRepository(Protocol):
    def add(self, record: ApiKeyRecord) -> None: ...
    def by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def all(self) -> list[ApiKeyRecord]: ...
    def revoke(self, key_id: str, at: datetime) -> bool: ...
    def touch(self, key_id: str, at: datetime) -> None: ...
    def set_owner_role(self, owner_user_id: str, role: str) -> int: ...
    def revoke_owned_by(self, owner_user_id: str, at: datetime) -> int: ...
