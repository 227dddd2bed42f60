"""Fuzzy duplicate suggestions (D2 去重): listed for a person to confirm, never merged by themselves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

__all__ = ["DuplicateCandidate", "DuplicateSuggestion", "suggest_duplicates"]


@dataclass(frozen=True)
class DuplicateCandidate:
    contact_id: str
    name: str
    company: str
    city: str


@dataclass(frozen=True)
class DuplicateSuggestion:
    first: str
    second: str
    score: float
    reason: str


def suggest_duplicates(
    candidates: Iterable[DuplicateCandidate], threshold: float = 88.0, limit: int = 500
) -> list[DuplicateSuggestion]:
    """Pairs in the same city whose name and company look alike, best first.

    Blocking by city keeps the comparison count near-linear for a real contact base.
    """
    by_city: dict[str, list[DuplicateCandidate]] = defaultdict(list)
    for candidate in candidates:
        if candidate.name and candidate.city:
            by_city[candidate.city].append(candidate)
    found: list[DuplicateSuggestion] = []
    for city, group in by_city.items():
        group.sort(key=lambda c: c.contact_id)
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                name_score = fuzz.ratio(a.name, b.name)
                if name_score < threshold:
                    continue
                company_score = fuzz.token_set_ratio(a.company, b.company) if a.company and b.company else 0.0
                if company_score < threshold:
                    continue
                score = round((name_score + company_score) / 2, 1)
                found.append(DuplicateSuggestion(
                    a.contact_id, b.contact_id, score,
                    f"name {name_score:.0f}%, company {company_score:.0f}% alike, both in {city}"))
    found.sort(key=lambda s: (-s.score, s.first, s.second))
    return found[:limit]
