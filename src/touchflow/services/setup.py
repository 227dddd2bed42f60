"""First-run defaults: the standard tag rules, the built-in sources and the seeds' goal table (launching today)."""

from __future__ import annotations

from touchflow.domain.sources import default_source
from touchflow.domain.tagging import DEFAULT_TAG_RULES
from touchflow.services.context import ServiceContext
from touchflow.services.goals import GOALS_KEY, launched_goals

__all__ = ["seed_defaults"]

_BUILT_IN_SOURCES = ("crm", "website", "ecommerce", "social", "offline", "manual", "api")


def seed_defaults(ctx: ServiceContext) -> None:
    """Insert what is missing; never overwrite what a person configured."""
    with ctx.uow() as uow:
        existing_rules = {r.name for r in uow.tag_rules.all()}
        if not existing_rules:
            for rule in DEFAULT_TAG_RULES:
                uow.tag_rules.save(rule)
        for name in _BUILT_IN_SOURCES:
            if uow.sources.get(name) is None:
                uow.sources.save(default_source(name))
        if uow.guards.setting(GOALS_KEY) is None:  # launch = today, so the deadlines stay put from here on
            uow.guards.set_setting(GOALS_KEY, launched_goals(ctx), "touchflow", ctx.clock.now())
        uow.commit()
