"""Set algebra over contacts: how a full segment recompute evaluates a condition for everyone at once.

A row-by-row evaluation asks "does this contact match?" a million times; a full recompute only needs
*who* matches. Each leaf of the condition becomes the set of contacts it holds for (one indexed query),
and ``all``/``any``/``not`` become intersection, union and complement. "No purchase in 90 days" holds
for almost everyone, so a set may be kept as its *complement* — everyone but the buyers — and the
everyone (the universe) is only listed when a final answer is a complement.

This module is pure: ``evaluate_sets`` walks the tree and asks a callback for the leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass

from touchflow.domain.conditions.predicates import Always, And, Condition, Not, Or

__all__ = ["ContactSet", "Leaf", "evaluate_sets"]


@dataclass(frozen=True, slots=True)
class ContactSet:
    """``ids``, or — when ``complement`` — every contact except ``ids``."""

    ids: Set[str]
    complement: bool = False

    def __and__(self, other: ContactSet) -> ContactSet:
        a, b = self.ids, other.ids
        match (self.complement, other.complement):
            case (False, False):
                return ContactSet(a & b)
            case (False, True):
                return ContactSet(a - b)
            case (True, False):
                return ContactSet(b - a)
        return ContactSet(a | b, True)

    def __or__(self, other: ContactSet) -> ContactSet:
        a, b = self.ids, other.ids
        match (self.complement, other.complement):
            case (False, False):
                return ContactSet(a | b)
            case (False, True):
                return ContactSet(b - a, True)
            case (True, False):
                return ContactSet(a - b, True)
        return ContactSet(a & b, True)

    def __invert__(self) -> ContactSet:
        return ContactSet(self.ids, not self.complement)

    def within(self, universe: Callable[[], Set[str]], gone: Set[str]) -> set[str]:
        """The members as a plain set: ``universe()`` (every live contact) is only called for a complement;
        ``gone`` (merged-away contacts) never belongs."""
        if self.complement:
            return set(universe() - self.ids)
        return set(self.ids - gone) if gone else set(self.ids)


EVERYONE = ContactSet(frozenset(), True)


Leaf = Callable[[Condition, Set[str] | None], ContactSet]


def evaluate_sets(cond: Condition, leaf: Leaf, among: Set[str] | None = None) -> ContactSet:
    """The contacts ``cond`` holds for, from the contacts each leaf holds for (``leaf`` answers every node
    that is not ``all``/``any``/``not``/``always``).

    ``among``: only these contacts matter — the answer must be right for them and may be anything
    elsewhere. Inside ``all``, once a part is a small list, the parts after it are asked only about those
    contacts: "≥ 2 downloads in 30 days and no purchase in 90 days" looks up the purchases of the few
    downloaders instead of listing every buyer.
    """
    if isinstance(cond, And):
        result = EVERYONE
        for item in sorted(cond.items, key=_cheap_first):
            result = result & evaluate_sets(item, leaf, among if result.complement else result.ids)
            if not result.complement and not result.ids:
                break  # nothing left to intersect
        return result
    if isinstance(cond, Or):
        result = ContactSet(frozenset())
        for item in cond.items:
            result = result | evaluate_sets(item, leaf, among)
        return result
    if isinstance(cond, Not):
        return ~evaluate_sets(cond.item, leaf, among)
    if isinstance(cond, Always):
        return EVERYONE
    return leaf(cond, among)


def _cheap_first(cond: Condition) -> int:
    """Nested groups last, so an empty leaf can end an ``all`` before they are evaluated."""
    return 1 if isinstance(cond, And | Or | Not) else 0
