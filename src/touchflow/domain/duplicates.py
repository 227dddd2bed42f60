"""Fuzzy duplicate suggestions (D2 去重): listed for a person to confirm, never merged by themselves."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import combinations, islice, product

from rapidfuzz import fuzz, process

__all__ = ["STORED_THRESHOLD", "DuplicateCandidate", "DuplicateSuggestion", "reachable_lengths", "score_pair",
           "suggest_duplicates"]


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


def _may_reach(a: str, b: str, threshold: float) -> bool:
    """Whether ``fuzz.ratio`` of two *different* strings can reach ``threshold``: it is 100·(1 − d/(|a|+|b|)) with
    an edit distance d ≥ max(1, ||a|−|b||), so short names (2–4 characters) only ever match themselves."""
    total = len(a) + len(b)
    return 100.0 * (1 - max(1, abs(len(a) - len(b))) / total) >= threshold - 1e-6


def _name_pairs(names: list[str], threshold: float) -> Iterator[tuple[str, str]]:
    """Every pair of distinct names that may score ≥ ``threshold`` (a superset: the caller scores each pair)."""
    by_length: dict[int, list[str]] = defaultdict(list)
    for name in names:
        by_length[len(name)].append(name)
    lengths = sorted(by_length)
    for la in lengths:
        for lb in lengths:
            if lb < la or not _may_reach("x" * la, "y" * lb, threshold):
                continue
            left, right = by_length[la], by_length[lb]
            for a in left:
                found = process.extract(a, right, scorer=fuzz.ratio, score_cutoff=max(0.0, threshold - 1),
                                        limit=None)
                for b, _score, _index in found:
                    if a != b and (la < lb or a < b):
                        yield a, b


def _blocks(group: list[DuplicateCandidate], threshold: float
            ) -> Iterator[tuple[float, str, list[tuple[str, str]]]]:
    """(score, reason, pairs) per block of pairs sharing their two names and two companies (so their scores):
    every pair of the city whose name and company reach ``threshold``, lower contact id first."""
    by_name: dict[str, dict[str, list[DuplicateCandidate]]] = defaultdict(lambda: defaultdict(list))
    for c in group:
        by_name[c.name][c.company].append(c)
    city = group[0].city
    name_pairs = [(n, n) for n, companies in by_name.items() if sum(len(v) for v in companies.values()) > 1]
    name_pairs += _name_pairs(list(by_name), threshold)
    scores: dict[tuple[str, str, bool], float] = {}

    def score(a: str, b: str, company: bool) -> float:
        key = (a, b, company)
        if key not in scores:
            scores[key] = fuzz.token_set_ratio(a, b) if company else fuzz.ratio(a, b)
        return scores[key]

    for n1, n2 in name_pairs:
        name_score = score(n1, n2, False)  # fuzz.ratio and token_set_ratio are symmetric
        if name_score < threshold:
            continue
        left, right = by_name[n1], by_name[n2]
        for c1, c2 in product(left, right):
            if n1 == n2 and c2 < c1:
                continue  # each pair of companies once
            company_score = score(c1, c2, True) if c1 and c2 else 0.0
            if company_score < threshold:
                continue
            if n1 == n2 and c1 == c2:
                people = sorted(x.contact_id for x in left[c1])
                pairs = list(combinations(people, 2))
            else:
                pairs = [(x, y) if x < y else (y, x)
                         for x, y in product([p.contact_id for p in left[c1]], [p.contact_id for p in right[c2]])]
            if pairs:
                yield (round((name_score + company_score) / 2, 1),
                       f"name {name_score:.0f}%, company {company_score:.0f}% alike, both in {city}", pairs)


def _stream(negative: float, reason: str, pairs: list[tuple[str, str]]) -> Iterator[tuple[float, str, str, str]]:
    return ((negative, first, second, reason) for first, second in pairs)


def suggest_duplicates(
    candidates: Iterable[DuplicateCandidate], threshold: float = 88.0, limit: int = 500
) -> list[DuplicateSuggestion]:
    """Pairs in the same city whose name and company look alike, best first (score, then contact ids).

    Blocking by city, then by name: two different names are compared only when their lengths allow the
    threshold (Chinese names of 2–4 characters match only themselves), and each distinct pair of names and
    of companies is scored once, so the work follows the number of distinct names and of matching pairs, not
    the square of a city's contacts.
    """
    by_city: dict[str, list[DuplicateCandidate]] = defaultdict(list)
    for candidate in candidates:
        if candidate.name and candidate.city:
            by_city[candidate.city].append(candidate)
    streams: list[Iterator[tuple[float, str, str, str]]] = []
    for group in by_city.values():
        for block_score, reason, pairs in _blocks(group, threshold):
            pairs.sort()
            streams.append(_stream(-block_score, reason, pairs))
    best = islice(heapq.merge(*streams), limit)
    return [DuplicateSuggestion(first, second, -negative, reason) for negative, first, second, reason in best]


STORED_THRESHOLD = 88.0  # the stored suggestions (services/duplicate_index.py) hold every pair at this or above


@cache
def reachable_lengths(length: int, threshold: float, longest: int) -> tuple[int, ...]:
    """Name lengths a *different* name of ``length`` characters may reach ``threshold`` with (``_may_reach``)."""
    return tuple(other for other in range(1, longest + 1) if _may_reach("x" * length, "y" * other, threshold))


def score_pair(a: DuplicateCandidate, b: DuplicateCandidate, threshold: float = STORED_THRESHOLD
               ) -> tuple[DuplicateSuggestion, float, float] | None:
    """The suggestion ``suggest_duplicates`` makes of two contacts of one city (the same scores, rounding and
    reason, lower contact id first) with its name and company scores, or None."""
    name_score = 100.0 if a.name == b.name else fuzz.ratio(a.name, b.name)
    if name_score < threshold:
        return None
    company_score = fuzz.token_set_ratio(a.company, b.company) if a.company and b.company else 0.0
    if company_score < threshold:
        return None
    first, second = (a.contact_id, b.contact_id) if a.contact_id < b.contact_id else (b.contact_id, a.contact_id)
    return (DuplicateSuggestion(first, second, round((name_score + company_score) / 2, 1),
                                f"name {name_score:.0f}%, company {company_score:.0f}% alike, both in {a.city}"),
            name_score, company_score)
