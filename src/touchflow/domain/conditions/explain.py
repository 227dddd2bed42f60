"""Why a condition came out as it did: each leaf with the value the contact actually had.

The journey trace records this beside every branch decision, so "why did this contact get the
WeCom message?" has an answer in numbers ("content_download in 30d: 1, needed ≥ 2").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from touchflow.domain.conditions.parse import format_duration
from touchflow.domain.conditions.predicates import (
    AttrCompare,
    Condition,
    ContactFacts,
    EvalContext,
    EventCount,
    EventFirstLast,
    EventSum,
    HasTag,
    InSegment,
    MessageEngagement,
    RandomBucket,
    TimeBound,
    compare_value,
    evaluate,
    first_or_last_event,
    in_window,
    random_bucket,
    walk,
)

__all__ = ["explain"]


def _window(within: object) -> str | None:
    return format_duration(within) if isinstance(within, timedelta) else None


def _count(facts: ContactFacts, leaf: EventCount | EventSum, ctx: EvalContext) -> tuple[int, float]:
    n, total = 0, 0.0
    for event in facts.events:
        if event.type != leaf.event_type or not in_window(event.occurred_at, ctx.now, leaf.within):
            continue
        if not all(compare_value(event.properties.get(f.prop), f.op, f.value) for f in leaf.where):
            continue
        n += 1
        if isinstance(leaf, EventSum):
            amount = event.properties.get(leaf.prop)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                total += amount
    return n, total


def _first_last(facts: ContactFacts, leaf: EventFirstLast, ctx: EvalContext) -> dict[str, Any]:
    """The picked event's value (or its time, ISO 8601); None when no event matched."""
    picked = first_or_last_event(facts, leaf, ctx.now)
    if isinstance(leaf.test, TimeBound):
        return {leaf.which: leaf.event_type, "within": _window(leaf.within), leaf.test.side: _window(leaf.test.ago),
                "actual": None if picked is None else picked.occurred_at.isoformat()}
    test = leaf.test
    actual = None if picked is None else picked.properties.get(test.prop)
    return {leaf.which: f"{leaf.event_type}.{test.prop}", "within": _window(leaf.within), "op": test.op,
            "expected": _plain(test.value), "actual": _plain(actual)}


def explain(cond: Condition, facts: ContactFacts, ctx: EvalContext) -> list[dict[str, Any]]:
    """One entry per leaf of ``cond``: what was asked, what the contact had, and the leaf's result."""
    found: list[dict[str, Any]] = []
    for leaf in walk(cond):
        entry: dict[str, Any]
        if isinstance(leaf, AttrCompare):
            entry = {"attr": leaf.field, "op": leaf.op, "expected": _plain(leaf.value),
                     "actual": _plain(facts.values.get(leaf.field))}
        elif isinstance(leaf, HasTag):
            entry = {"tag": leaf.tag, "actual": sorted(facts.tags)}
        elif isinstance(leaf, InSegment):  # the memberships the contact has (the dry run: copied from the real one)
            entry = {"segment": leaf.segment, "actual": sorted(facts.segments)}
        elif isinstance(leaf, EventCount):
            entry = {"event": leaf.event_type, "within": _window(leaf.within), "op": leaf.op,
                     "expected": leaf.count, "actual": _count(facts, leaf, ctx)[0]}
        elif isinstance(leaf, EventSum):
            entry = {"sum": f"{leaf.event_type}.{leaf.prop}", "within": _window(leaf.within), "op": leaf.op,
                     "expected": leaf.value, "actual": _count(facts, leaf, ctx)[1]}
        elif isinstance(leaf, EventFirstLast):
            entry = _first_last(facts, leaf, ctx)
        elif isinstance(leaf, MessageEngagement):
            entry = {"engagement": f"{leaf.action} {leaf.node_id}", "within": _window(leaf.within)}
        elif isinstance(leaf, RandomBucket):
            entry = {"bucket": random_bucket(leaf.salt, facts.contact_id), "below": leaf.below_percent * 100}
        else:
            continue  # And / Or / Not / Always: their leaves are listed
        try:
            entry["result"] = evaluate(leaf, facts, ctx)
        except ValueError as exc:  # e.g. engagement outside a run
            entry["result"] = None
            entry["error"] = str(exc)
        found.append(entry)
    return found


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    return value
