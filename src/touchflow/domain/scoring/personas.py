"""Personas (S3): who the customers are, in five modules of text, and which contacts each one covers.

A persona is defined either by its own condition (the one condition language) or by a segment's key;
its coverage is the share of all live contacts that fall in at least one persona (KR ≥ 80%).
The journey map attached to each persona lives in ``domain/journeys/maps.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from touchflow.domain.conditions.parse import condition_to_data, parse_condition
from touchflow.domain.conditions.predicates import Condition, uses_run_context
from touchflow.domain.errors import PathError
from touchflow.domain.journeys.maps import JourneyMap, journey_map_to_data, parse_journey_map

__all__ = [
    "COVERAGE_TARGET",
    "PROFILE_MODULES",
    "CoverageReport",
    "Overlap",
    "Persona",
    "PersonaCount",
    "PersonaError",
    "PersonaProfile",
    "coverage",
    "parse_persona",
    "persona_to_data",
]

COVERAGE_TARGET = 0.8  # S3's key result: at least 80% of contacts belong to some persona
PROFILE_MODULES: tuple[tuple[str, str], ...] = (  # (key, heading) in the order a persona card reads
    ("basic_attributes", "基本属性 Basic attributes"),
    ("interests", "兴趣偏好 Interests"),
    ("behaviour_habits", "行为习惯 Behaviour habits"),
    ("pain_points", "决策痛点 Decision pain points"),
    ("core_needs", "核心需求 Core needs"),
)
_KEY = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_TOP = ("key", "name", "profile", "condition", "segment", "map")


class PersonaError(PathError):
    """A persona definition is unusable; ``path`` names the element (``map.stages[2].journeys``)."""


@dataclass(frozen=True)
class PersonaProfile:
    basic_attributes: str
    interests: str
    behaviour_habits: str
    pain_points: str
    core_needs: str

    def modules(self) -> list[tuple[str, str]]:
        """(heading, text) pairs in card order."""
        return [(heading, str(getattr(self, key))) for key, heading in PROFILE_MODULES]


@dataclass(frozen=True)
class Persona:
    key: str
    name: str
    profile: PersonaProfile
    condition: Condition | None = None  # exactly one of condition and segment
    segment: str | None = None
    journey_map: JourneyMap = field(default_factory=JourneyMap)


def _text(data: Mapping[str, Any], name: str, path: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PersonaError(f"{path}.{name}" if path else name, "write some text")
    return value.strip()


def parse_persona(data: object) -> Persona:
    """A persona from YAML/JSON data; errors name the element."""
    if not isinstance(data, Mapping):
        raise PersonaError("persona", "must be a mapping with key, name, profile, condition or segment, map")
    unknown = sorted(set(map(str, data)) - set(_TOP))
    if unknown:
        raise PersonaError(unknown[0], f"unknown field; a persona has {', '.join(_TOP)}")
    key = data.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise PersonaError("key", "lower-case letters, digits, _ or -, starting with a letter (at most 64)")
    name = _text(data, "name", "")
    profile_data = data.get("profile")
    if not isinstance(profile_data, Mapping):
        raise PersonaError("profile", f"a mapping of the five modules: {', '.join(k for k, _ in PROFILE_MODULES)}")
    extra = sorted(set(map(str, profile_data)) - {k for k, _ in PROFILE_MODULES})
    if extra:
        raise PersonaError(f"profile.{extra[0]}", "unknown module")
    profile = PersonaProfile(*(_text(profile_data, k, "profile") for k, _ in PROFILE_MODULES))
    condition: Condition | None = None
    segment: str | None = None
    if ("condition" in data) == ("segment" in data):
        raise PersonaError("condition", "give exactly one of condition (the condition language) or segment (a key)")
    if "condition" in data:
        condition = parse_condition(data["condition"], "condition")
        if uses_run_context(condition):
            raise PersonaError("condition", "message engagement (opened/clicked) only makes sense inside a journey")
    else:
        raw = data["segment"]
        if not isinstance(raw, str) or not raw.strip():
            raise PersonaError("segment", "the key of a segment")
        segment = raw.strip()
    journey_map = parse_journey_map(data.get("map"), "map")
    return Persona(key, name, profile, condition, segment, journey_map)


def persona_to_data(persona: Persona) -> dict[str, Any]:
    """The data ``parse_persona`` reads back as an equal persona (what the store keeps)."""
    data: dict[str, Any] = {"key": persona.key, "name": persona.name,
                            "profile": {k: getattr(persona.profile, k) for k, _ in PROFILE_MODULES}}
    if persona.condition is not None:
        data["condition"] = condition_to_data(persona.condition)
    else:
        data["segment"] = persona.segment
    data["map"] = journey_map_to_data(persona.journey_map)
    return data


# --- coverage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaCount:
    key: str
    members: int
    share: float  # of all contacts
    only_here: int  # members in no other persona


@dataclass(frozen=True)
class Overlap:
    first: str
    second: str
    both: int


@dataclass(frozen=True)
class CoverageReport:
    total: int  # live contacts
    covered: int  # in at least one persona
    in_several: int  # in two or more personas
    personas: tuple[PersonaCount, ...]
    overlaps: tuple[Overlap, ...]  # pairs with at least one shared contact
    target: float = COVERAGE_TARGET

    @property
    def share(self) -> float:
        return 0.0 if self.total == 0 else self.covered / self.total

    @property
    def uncovered(self) -> int:
        return self.total - self.covered

    @property
    def meets_target(self) -> bool:
        return self.total > 0 and self.share >= self.target


def coverage(total: int, members: Mapping[str, Sequence[str] | set[str] | frozenset[str]],
             target: float = COVERAGE_TARGET) -> CoverageReport:
    """Coverage of ``total`` contacts by the personas' member sets (keyed by persona)."""
    sets = {key: set(ids) for key, ids in members.items()}
    seen: dict[str, int] = {}
    for ids in sets.values():
        for cid in ids:
            seen[cid] = seen.get(cid, 0) + 1
    if len(seen) > total:
        raise ValueError(f"{len(seen)} covered contacts but only {total} in all")
    counts = tuple(PersonaCount(key, len(ids), 0.0 if total == 0 else len(ids) / total,
                                sum(1 for cid in ids if seen[cid] == 1))
                   for key, ids in sorted(sets.items()))
    overlaps = tuple(Overlap(a, b, len(sets[a] & sets[b])) for a, b in combinations(sorted(sets), 2)
                     if sets[a] & sets[b])
    return CoverageReport(total, len(seen), sum(1 for n in seen.values() if n > 1), counts, overlaps, target)
