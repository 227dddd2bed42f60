"""Tier use cases: the thresholds (a workspace setting, audited) and computing a chunk's tiers (S2).

``tier_chunk`` answers what should change; ``services.lifecycle_pass`` writes it with the stage changes,
as custom attributes with lineage ``touchflow:tiers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from touchflow.domain.conditions.lookback import read_since
from touchflow.domain.conditions.predicates import ContactFacts
from touchflow.domain.events import EVENT_CATALOGUE
from touchflow.domain.scoring.tiers import (
    DEFAULT_TIERS,
    TIER_ATTRIBUTES,
    TierConfig,
    TierFacts,
    Tiers,
    compute_tiers,
    parse_tiers,
    tiers_document,
)
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.context import ServiceContext, save_setting

__all__ = [
    "NON_INTERACTION",
    "TIERS_KEY",
    "TIERS_SOURCE",
    "contact_tiers",
    "current_tiers",
    "set_tier_config",
    "tier_chunk",
    "tier_config",
]

TIERS_KEY = "tiers"
TIERS_SOURCE = "touchflow:tiers"
NON_INTERACTION = frozenset(t.name for t in EVENT_CATALOGUE.values() if not t.interaction)


def tier_config(uow: UnitOfWork) -> TierConfig:
    stored = uow.guards.setting(TIERS_KEY)
    return parse_tiers(DEFAULT_TIERS if stored is None else stored)


def set_tier_config(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> TierConfig:
    """Change the thresholds (audited); contacts follow at the next pass (``touchflow tiers refresh``)."""
    config = parse_tiers(document)  # raises PathError naming the element
    save_setting(ctx, TIERS_KEY, tiers_document(config), actor=actor, action="tiers.set")
    return config


def _compute(uow: UnitOfWork, config: TierConfig, ids: Sequence[str], now: datetime, span: bool,
             facts: Mapping[str, ContactFacts] | None = None
             ) -> tuple[dict[str, Tiers], dict[str, Mapping[str, object]]]:
    """The tiers of these contacts, and their stored values; ``facts``: loaded by the caller (the contact pass
    loads once for tiers and stages), at least the config's event types as far back as it reads them."""
    if facts is None:
        facts = uow.journeys.load_facts(ids, config.event_types(), read_since(config.lookback(), now))
    counts = uow.lifecycle.interaction_counts(ids, NON_INTERACTION, now - config.activity_window, now, span)
    tiers = {cid: compute_tiers(config, TierFacts(facts[cid], counts.get(cid, 0)), now) for cid in ids}
    return tiers, {cid: facts[cid].values for cid in ids}


def tier_chunk(uow: UnitOfWork, config: TierConfig, ids: Sequence[str], now: datetime,
               span: bool = False, facts: Mapping[str, ContactFacts] | None = None) -> dict[str, dict[str, str]]:
    """The tier attributes that differ from what each contact has now: ``{contact: {attribute: value}}``."""
    tiers, values = _compute(uow, config, ids, now, span, facts)
    changes: dict[str, dict[str, str]] = {}
    for cid, result in tiers.items():
        wanted = {name: value for name, value in result.attributes().items()
                  if values[cid].get(f"custom.{name}") != value}
        if wanted:
            changes[cid] = wanted
    return changes


def contact_tiers(ctx: ServiceContext, contact_ref: str) -> tuple[str, Tiers, dict[str, object]]:
    """A contact's tiers as computed now (with RFM) next to the stored attributes."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        cid = resolve_contact_id(uow, contact_ref)
        tiers, values = _compute(uow, tier_config(uow), [cid], now, False)
        return cid, tiers[cid], {name: values[cid].get(f"custom.{name}") for name in TIER_ATTRIBUTES}


def current_tiers(ctx: ServiceContext) -> dict[str, Any]:
    """The thresholds in force, as a document (the defaults until set)."""
    with ctx.reader() as uow:
        return tiers_document(tier_config(uow))
