"""Console preferences of a person (issue 15): read with the account's defaults, saved with an audit row."""

from __future__ import annotations

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.preferences import Preferences, check_preferences
from touchflow.services.context import ServiceContext

__all__ = ["preferences_of", "save_preferences"]


def preferences_of(ctx: ServiceContext, user_id: str | None) -> Preferences:
    """Saved preferences; else the account's language and zone; else the defaults (zh-CN, Asia/Shanghai, light).
    API keys without an owner (``user_id`` None) get the defaults."""
    if user_id is None:
        return Preferences()
    with ctx.reader() as uow:
        saved = uow.preferences.preferences(user_id)
        if saved is not None:
            return saved
        user = uow.accounts.user(user_id)
    if user is None:
        return Preferences()
    try:
        return check_preferences(user.locale, user.time_zone, "light")
    except FieldError:  # an account created with a value the console does not offer: fall back, do not fail
        return Preferences()


def save_preferences(ctx: ServiceContext, user_id: str, locale: str, time_zone: str, theme: str, *,
                     actor: Actor) -> Preferences:
    """Check and store ``user_id``'s preferences; one audit row naming what changed."""
    wanted = check_preferences(locale, time_zone, theme)
    before = preferences_of(ctx, user_id)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if uow.accounts.user(user_id) is None:
            raise FieldError("user", f"no account {user_id!r}")
        uow.preferences.save_preferences(user_id, wanted, now)
        changed = {name: getattr(wanted, name) for name in ("locale", "time_zone", "theme")
                   if getattr(wanted, name) != getattr(before, name)}
        uow.audit.record(actor.label, "console.preferences_saved", f"user:{user_id}", {"changed": changed}, now)
        uow.commit()
    return wanted
