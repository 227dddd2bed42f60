"""First-run defaults: the standard tag rules and the built-in sources."""

from __future__ import annotations

from touchflow.domain.sources import default_source
from touchflow.domain.tagging import DEFAULT_TAG_RULES
from touchflow.services.context import ServiceContext

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
        uow.commit()
