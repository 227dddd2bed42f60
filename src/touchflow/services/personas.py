"""Persona use cases (S3, S4): save, list, show, coverage, and the journey map's export.

A persona's members are the contacts its defining condition holds for — its own condition, or
``in_segment: KEY`` for a persona defined by a segment (membership as last computed) — found by the
same SQL compiler segments and journeys use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from touchflow.domain.conditions.predicates import Condition, EvalContext, InSegment, segments_used
from touchflow.domain.journeys.maps import linked_journeys, render_csv, render_markdown
from touchflow.domain.scoring.personas import (
    CoverageReport,
    Persona,
    PersonaError,
    coverage,
    parse_persona,
    persona_to_data,
)
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

__all__ = [
    "MapFormat",
    "PersonaNotFound",
    "SavedPersona",
    "defining_condition",
    "export_journey_map",
    "list_personas",
    "persona_coverage",
    "save_persona",
    "show_persona",
]

MapFormat = Literal["md", "csv"]


class PersonaNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SavedPersona:
    persona: Persona
    created: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str


def defining_condition(persona: Persona) -> Condition:
    """Who the persona covers: its own condition, or membership of its segment."""
    if persona.condition is not None:
        return persona.condition
    assert persona.segment is not None
    return InSegment(persona.segment)


def _check_links(uow: UnitOfWork, persona: Persona) -> None:
    """The segment it names (or its condition nests) and every journey its map links to must exist."""
    segments = {persona.segment} if persona.segment else set(segments_used(defining_condition(persona)))
    for key in sorted(segments):
        record = uow.segments.get(key)
        if record is None or record.status != "active":
            raise PersonaError("segment" if persona.segment else "condition", f"no segment {key!r}")
    known = {r.key for r in uow.journeys.all()}
    for i, stage in enumerate(persona.journey_map.stages):
        for j, key in enumerate(stage.journeys):
            if key not in known:
                raise PersonaError(f"map.stages[{i}].journeys[{j}]", f"no journey {key!r} (publish it first)")


def save_persona(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str) -> SavedPersona:
    """Create or replace a persona; every journey its map links to must exist. Audited."""
    if not actor.strip():
        raise ValueError("actor: name the person saving the persona")
    persona = parse_persona(document)
    definition = persona_to_data(persona)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _check_links(uow, persona)
        before = uow.personas.get(persona.key)
        created = uow.personas.save(persona.key, persona.name, definition, actor, now)
        uow.audit.record(actor, "persona.save", persona.key,
                         {"created": created, "journeys": list(linked_journeys(persona.journey_map))}, now)
        uow.commit()
    return SavedPersona(persona, created, now if before is None else before.created_at, now, actor)


def _load(uow: UnitOfWork, key: str) -> SavedPersona:
    record = uow.personas.get(key)
    if record is None:
        raise PersonaNotFound(f"no persona {key!r}")
    return SavedPersona(parse_persona(record.definition), False, record.created_at, record.updated_at,
                        record.updated_by)


def list_personas(ctx: ServiceContext) -> list[SavedPersona]:
    with ctx.reader() as uow:
        return [_load(uow, r.key) for r in uow.personas.all()]


def show_persona(ctx: ServiceContext, key: str) -> SavedPersona:
    with ctx.reader() as uow:
        return _load(uow, key)


def persona_coverage(ctx: ServiceContext) -> CoverageReport:
    """How many contacts each persona holds, their overlaps, and the share in at least one (KR ≥ 80%)."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        found = [parse_persona(r.definition) for r in uow.personas.all()]
        total = uow.contacts.count()
        members = {p.key: uow.journeys.matching_contacts(defining_condition(p), EvalContext(now=now)) for p in found}
    return coverage(total, members)


def export_journey_map(ctx: ServiceContext, key: str, fmt: MapFormat = "md") -> str:
    """The persona's journey map as Markdown (with the persona card) or CSV."""
    persona = show_persona(ctx, key).persona
    if fmt == "csv":
        return render_csv(persona.journey_map)
    if fmt == "md":
        return render_markdown(f"{persona.name} ({persona.key})", persona.journey_map, persona.profile.modules())
    raise ValueError(f"format: md or csv, not {fmt!r}")
