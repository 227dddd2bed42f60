"""A demo account for the console, so a newcomer sees the sample company in the browser after ``touchflow demo``.

The password is random, made here and shown once (never hard-coded, never on a command line); a second demo run
finds the account and says how to set a new password instead. Its first sign-in enrols TOTP like any account's.
"""

from __future__ import annotations

import secrets

from touchflow.domain.actors import Actor
from touchflow.services.accounts import create_user
from touchflow.services.context import ServiceContext

__all__ = ["DEMO_EMAIL", "ensure_demo_login"]

DEMO_EMAIL = "demo@touchflow.example"


def ensure_demo_login(ctx: ServiceContext, actor: Actor) -> str | None:
    """The new account's password, or None when the demo account already exists."""
    with ctx.reader() as uow:
        if uow.accounts.user_by_email(DEMO_EMAIL) is not None:
            return None
    password = secrets.token_urlsafe(12)
    create_user(ctx, DEMO_EMAIL, "演示管理员", "admin", password, actor=actor)
    return password
