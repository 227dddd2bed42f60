"""How far back in a contact's history conditions read, per event type.

A condition like "3 page views within 30 days" needs the last 30 days of page views, not the contact's whole
history. The contact pass evaluates tiers and lifecycle rules for every contact an event touches, so reading all
history made each evaluation slower with every month a contact stays (issue 17: "facts loaded only for what is
read"). ``event_lookback`` says how far each type is read; ``one_read`` merges several readers' needs into the
one load they can share; ``read_since`` turns the windows into the times a load starts from.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from touchflow.domain.conditions.predicates import (
    ENGAGEMENT_EVENTS,
    Condition,
    EventCount,
    EventFirstLast,
    EventSum,
    MessageEngagement,
    walk,
)

__all__ = ["event_lookback", "one_read", "read_since"]


def event_lookback(conditions: Iterable[Condition]) -> dict[str, timedelta | None]:
    """Each event type the conditions read, and the widest window any of them reads it in (None: all history,
    a node without ``within``)."""
    found: dict[str, timedelta | None] = {}
    for condition in conditions:
        for node in walk(condition):
            if isinstance(node, EventCount | EventSum | EventFirstLast):
                event_type = node.event_type
            elif isinstance(node, MessageEngagement):
                event_type = ENGAGEMENT_EVENTS[node.action]
            else:
                continue
            if event_type in found and found[event_type] is None:
                continue
            earlier = found.get(event_type)
            found[event_type] = None if node.within is None else max(node.within, earlier or node.within)
    return found


def one_read(reads: Iterable[tuple[Collection[str], Mapping[str, timedelta]]]
             ) -> tuple[frozenset[str], dict[str, timedelta]]:
    """One load for several readers, each given as (the types it reads, how far back it reads some of them; a type
    it reads and does not bound needs all history): every type any reads, bounded only where all readers of it are,
    as far back as the farthest needs."""
    types: set[str] = set()
    back: dict[str, timedelta] = {}
    unbounded: set[str] = set()
    for read_types, lookback in reads:
        for event_type in read_types:
            types.add(event_type)
            window = lookback.get(event_type)
            if window is None:
                unbounded.add(event_type)
            else:
                back[event_type] = max(window, back.get(event_type, window))
    return frozenset(types), {t: w for t, w in back.items() if t not in unbounded}


def read_since(lookback: Mapping[str, timedelta], now: datetime) -> dict[str, datetime]:
    """``load_facts``'s ``since``: per bounded type, the earliest time its window reaches back to at ``now``."""
    return {event_type: now - window for event_type, window in lookback.items()}
