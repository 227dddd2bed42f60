"""Who is acting, as authenticated: a person (by session or by their API key), a service account's key, or the
local administrator at the CLI. Rules compare ``actor.id``; records show ``actor.label``."""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.domain.actors import Actor
from touchflow.domain.governance.permissions import ASSIGNED_ONLY_ROLES, PERMISSIONS

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    actor: Actor
    role: str
    permissions: frozenset[str]
    user_id: str | None = None  # the account behind a session or a personal key; None for service keys and CLI
    session_id: str | None = None  # set when authenticated by a browser session (CSRF applies)
    key_id: str | None = None  # set when authenticated by an API key

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        return permission in self.permissions

    @property
    def assigned_only(self) -> bool:
        """An agent: sees only the tasks and contacts assigned to them."""
        return self.role in ASSIGNED_ONLY_ROLES

    @classmethod
    def local_admin(cls, actor: Actor) -> Principal:
        """The CLI: local administrator power, recorded as the OS user."""
        return cls(actor, "admin", frozenset(PERMISSIONS))
