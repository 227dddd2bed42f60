"""Lifecycle use cases: the stage machine's configuration (a workspace setting, audited), a chunk's moves,
and a contact's stage history (S1).

``stage_chunk`` answers which contacts move and why; ``services.lifecycle_pass`` writes the moves with the
tier changes. A stage set elsewhere (a journey's ``update_contact``, an import, a person) is noticed and
recorded in the history as ``set_elsewhere`` before the machine moves on from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from touchflow.domain.conditions.lookback import read_since
from touchflow.domain.conditions.predicates import ContactFacts
from touchflow.domain.scoring.lifecycle import (
    DEFAULT_LIFECYCLE,
    LifecycleConfig,
    LifecycleFacts,
    advance_stage,
    lifecycle_document,
    parse_lifecycle,
)
from touchflow.domain.scoring.ports import StageChange
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.context import ServiceContext, save_setting
from touchflow.services.tiers import NON_INTERACTION

__all__ = [
    "LIFECYCLE_KEY",
    "LIFECYCLE_SOURCE",
    "current_lifecycle",
    "lifecycle_config",
    "set_lifecycle_config",
    "stage_chunk",
    "stage_history",
]

LIFECYCLE_KEY = "lifecycle"
LIFECYCLE_SOURCE = "touchflow:lifecycle"


def lifecycle_config(uow: UnitOfWork) -> LifecycleConfig:
    stored = uow.guards.setting(LIFECYCLE_KEY)
    return parse_lifecycle(DEFAULT_LIFECYCLE if stored is None else stored)


def set_lifecycle_config(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> LifecycleConfig:
    """Change the stages and rules (audited); contacts follow at the next pass (``touchflow lifecycle refresh``)."""
    config = parse_lifecycle(document)  # raises PathError naming the element
    save_setting(ctx, LIFECYCLE_KEY, lifecycle_document(config), actor=actor, action="lifecycle.set")
    return config


def stage_chunk(uow: UnitOfWork, config: LifecycleConfig, ids: Sequence[str], scores: Mapping[str, float],
                now: datetime, span: bool = False, facts: Mapping[str, ContactFacts] | None = None
                ) -> list[StageChange]:
    """History rows for these contacts: stages noticed (set elsewhere) and the machine's moves, in order.

    ``scores`` are the lead scores just computed; conditions read them as ``custom.lead_score``. ``facts``: loaded
    by the caller, at least the rules' event types as far back as they read them."""
    if facts is None:
        facts = uow.journeys.load_facts(ids, config.event_types(), read_since(config.lookback(), now))
    created = uow.lifecycle.created_at(ids)
    last_seen = uow.lifecycle.last_interactions(ids, NON_INTERACTION, now, span)
    history = uow.lifecycle.last_stage_changes(ids)
    rows: list[StageChange] = []
    for cid in ids:
        if cid not in created:
            continue
        contact = facts[cid]
        if cid in scores:
            contact = replace(contact, values={**contact.values, "custom.lead_score": scores[cid]})
        raw = contact.values.get("lifecycle_stage")
        current = str(raw) if raw is not None else None
        last = history.get(cid)
        if current is not None and (last is None or last.stage != current):
            last = StageChange(cid, current, last.stage if last else None, now, "set_elsewhere", "elsewhere")
            rows.append(last)
        dormant = last is not None and last.stage == config.dormant_stage
        lifecycle_facts = LifecycleFacts(contact, created[cid], last_seen.get(cid),
                                         last.at if dormant and last else None,
                                         last.from_stage if dormant and last else None)
        floor = last.at if last is not None else None
        for from_stage, to, rule, at in advance_stage(config, current, lifecycle_facts, now):
            rows.append(StageChange(cid, to, from_stage, max(at, floor) if floor is not None else at, rule,
                                    LIFECYCLE_SOURCE))
    return rows


def stage_history(ctx: ServiceContext, contact_ref: str, limit: int = 100) -> tuple[str, list[StageChange]]:
    with ctx.reader() as uow:
        cid = resolve_contact_id(uow, contact_ref)
        return cid, uow.lifecycle.stage_history(cid, limit)


def current_lifecycle(ctx: ServiceContext) -> dict[str, Any]:
    """The configuration in force, as a document (the defaults until one is set)."""
    with ctx.reader() as uow:
        return lifecycle_document(lifecycle_config(uow))
