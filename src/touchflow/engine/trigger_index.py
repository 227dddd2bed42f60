"""Which journeys' triggers an event could match, without testing every journey of its type.

Routing tested each event against the property filter of every active journey triggered by its type: with many
journeys per type that was most of the per-event work. Here each journey with an equality filter (``eq``, or
``in``: one key per value) is filed under ``(property, value)`` of its first such filter; an event looks up its
own values of the filed properties and is tested, with the full trigger rule, only against the journeys found
there and the journeys that have no equality filter (``exists``, ranges, segment triggers...). The index only
narrows: a journey it leaves out could not match, because an equality needs ``actual == expected`` and equal
scalars hash alike (``True`` and ``1`` share a key and the full test tells them apart). See ADR 0059.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from touchflow.domain.journeys.model import JourneyDefinition

__all__ = ["TriggerIndex"]


def _indexable(value: object) -> bool:
    """A scalar that equals itself (not NaN), so a dictionary finds it again."""
    if isinstance(value, float):
        return not math.isnan(value)
    return isinstance(value, str | int)  # bool is an int


def _keys(definition: JourneyDefinition) -> tuple[str, tuple[Any, ...]] | None:
    """The property and the values a matching event must carry, from the first indexable equality filter."""
    trigger = definition.trigger
    if trigger.kind not in ("event", "after_event"):
        return None  # segment triggers compare their own way; they are tested in full
    for f in trigger.properties:
        if f.op == "eq" and _indexable(f.value):
            return f.prop, (f.value,)
        if f.op == "in" and isinstance(f.value, tuple) and f.value and all(_indexable(v) for v in f.value):
            return f.prop, f.value
    return None


class TriggerIndex:
    """Per event type: the journeys filed by ``(property, value)``, those always tested, their routing order."""

    def __init__(self) -> None:
        self._filed: dict[str, dict[tuple[str, Any], list[str]]] = defaultdict(dict)
        self._props: dict[str, list[str]] = defaultdict(list)  # the filed properties of each type, in order
        self._always: dict[str, list[str]] = defaultdict(list)
        self._order: dict[str, dict[str, int]] = defaultdict(dict)

    def add(self, event_type: str, journey_id: str, definition: JourneyDefinition) -> None:
        """File a journey of this trigger event type (call in routing order)."""
        order = self._order[event_type]
        order.setdefault(journey_id, len(order))
        keys = _keys(definition)
        if keys is None:
            self._always[event_type].append(journey_id)
            return
        prop, values = keys
        if prop not in self._props[event_type]:
            self._props[event_type].append(prop)
        filed = self._filed[event_type]
        for value in values:
            ids = filed.setdefault((prop, value), [])
            if journey_id not in ids:
                ids.append(journey_id)

    def candidates(self, event_type: str, properties: Mapping[str, Any]) -> list[str]:
        """The journeys whose trigger this event might match, in routing order (a superset of the matches)."""
        always = self._always.get(event_type, [])
        filed = self._filed.get(event_type)
        if not filed:
            return always
        hits: list[list[str]] = []
        for prop in self._props[event_type]:
            value = properties.get(prop)
            if value is None or isinstance(value, dict | list):
                continue
            try:
                ids = filed.get((prop, value))
            except TypeError:  # an unhashable value equals no scalar
                continue
            if ids:
                hits.append(ids)
        if not hits:
            return always
        if len(hits) == 1 and not always:
            return hits[0]  # filed in routing order
        order = self._order[event_type]
        return sorted(set(always).union(*hits), key=order.__getitem__)
