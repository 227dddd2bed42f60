"""Scoring a chunk of contacts at once: a model compiled for one instant (S5, issue 5: 1M contacts in ≤ 30 s).

``scoring.score_with`` is the reference: one contact at a time, over datetimes, easy to read. ``ScoreBatch``
gives the same scores to the last bit — the same float operations in the same order per rule; a property test
compares the two on random models and events — and gets there faster:

* Times are integer microseconds since the Unix epoch (the store computes them in SQL). An event's age, its
  cap period and the lookback test are then integer arithmetic, equal to the ``timedelta`` arithmetic, and
  ``age / 10**6`` is the float ``timedelta.total_seconds()`` gives.
* One flat loop over a chunk's rows, grouped by contact and, within a contact, sorted by type and time. A
  rule's points depend only on its own events in time order (its cap periods and its running total), so the
  order between types does not matter, and events of one type at one instant add the same points either way.
* Attribute rules that read only attributes and tags are evaluated once per distinct combination of the
  values they read, not once per contact.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from touchflow.domain.conditions.predicates import (
    Always,
    And,
    AttrCompare,
    ContactFacts,
    EvalContext,
    EventFact,
    HasTag,
    InSegment,
    Not,
    Or,
    PropFilter,
    compare_value,
    evaluate,
    walk,
)
from touchflow.domain.scoring.model import CAP_EPOCH, ScoreResult, ScoringModel
from touchflow.domain.scoring.ports import EventRow

__all__ = ["UNIX_EPOCH", "AttributeValues", "ScoreBatch", "from_micros", "micros"]

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# contact -> (its values of ``ScoreBatch.attribute_fields`` in that order, None when missing; its tags)
AttributeValues = Mapping[str, tuple[Sequence[Any], Collection[str]]]
_ATTRIBUTE_ONLY = (AttrCompare, HasTag, InSegment, And, Or, Not, Always)  # nodes that read no events, no id


def micros(at: datetime) -> int:
    """``at`` as integer microseconds since the Unix epoch, as the store's event rows carry it."""
    return (at - UNIX_EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=value)


class _Rule(NamedTuple):
    position: int  # in model.events
    points: float
    where: tuple[PropFilter, ...]
    cap: float | None
    per: int | None  # the cap's period in microseconds; None: one period (the whole lookback)


class ScoreBatch:
    """``model`` compiled for scoring at ``now``. Keeps a memo of attribute results: one per chunk or pass."""

    def __init__(self, model: ScoringModel, now: datetime) -> None:
        self.model = model
        self.now = now
        self._now = micros(now)
        self._lookback = None if model.lookback is None else model.lookback // _MICROSECOND
        self._half_life = model.half_life.total_seconds() if model.half_life else None
        self._cap_epoch = micros(CAP_EPOCH)
        rules: dict[str, list[_Rule]] = {}
        for index, rule in enumerate(model.events):
            per = None if rule.per is None else rule.per // _MICROSECOND
            rules.setdefault(rule.event_type, []).append(_Rule(index, rule.points, rule.where, rule.cap, per))
        self._rules = {t: tuple(r) for t, r in rules.items()}
        self._names = tuple(r.name for r in model.events)
        names = [r.name for r in model.events] + [r.name for r in model.attributes]
        self._unique_names = len(set(names)) == len(names)
        nodes = [node for rule in model.attributes for node in walk(rule.when)]
        self._memo: dict[Any, tuple[tuple[tuple[str, float], ...], tuple[float, ...]]] | None = (
            {} if all(isinstance(n, _ATTRIBUTE_ONLY) for n in nodes) else None)
        self._fields = tuple(sorted({n.field for n in nodes if isinstance(n, AttrCompare)}))
        self._reads_tags = any(isinstance(n, HasTag) for n in nodes)
        self._missing: tuple[tuple[Any, ...], frozenset[str]] = ((None,) * len(self._fields), frozenset())
        self._ctx = EvalContext(now=now)

    @property
    def attribute_fields(self) -> tuple[str, ...]:
        """The attributes the attribute rules read (``custom.x`` for custom ones): the store loads only these."""
        return self._fields

    @property
    def reads_tags(self) -> bool:
        return self._reads_tags

    def event_points(self, rows: Iterable[EventRow]) -> dict[str, dict[int, float]]:
        """Points per event rule (by index) per contact, as ``score_events`` gives them contact by contact.

        ``rows`` are ``(contact_id, type, occurred_at µs, properties)``, grouped by contact and sorted by
        type and time within a contact (the store's ``ORDER BY contact_id, type, occurred_at``)."""
        by_type, now, lookback, half_life, cap_epoch = (self._rules, self._now, self._lookback, self._half_life,
                                                        self._cap_epoch)
        found: dict[str, dict[int, float]] = {}
        current: str | None = None
        totals: dict[int, float] = {}
        used: dict[tuple[int, int], float] = {}  # (rule, period) -> raw points counted so far
        for contact_id, event_type, at, properties in rows:
            if contact_id != current:
                if contact_id in found:
                    raise ValueError(f"event rows are not grouped by contact: {contact_id!r} came back")
                current, totals, used = contact_id, {}, {}
                found[contact_id] = totals
            rules = by_type.get(event_type)
            if rules is None:
                continue
            age = now - at
            if age < 0 or (lookback is not None and age >= lookback):
                continue
            for index, points, where, cap, per in rules:
                if where and not all(compare_value((properties or {}).get(f.prop), f.op, f.value) for f in where):
                    continue
                if cap is not None:
                    key = (index, 0 if per is None else (at - cap_epoch) // per)
                    so_far = used.get(key, 0.0)
                    room = cap - abs(so_far)
                    if room <= 0:
                        continue
                    if abs(points) > room:
                        points = math.copysign(room, points)
                    used[key] = so_far + points
                if half_life is not None:
                    points *= 0.5 ** (age / 1_000_000 / half_life)
                totals[index] = totals.get(index, 0.0) + points
        return found

    def attribute_parts(self, contact_id: str, values: Sequence[Any], tags: Collection[str] = frozenset(),
                        events: Sequence[EventFact] = ()) -> tuple[tuple[str, float], ...]:
        """The attribute rules that hold for this contact, in model order, as ``(name, points)``; ``values``
        are the contact's values of ``attribute_fields`` in that order (None: missing)."""
        return self._attributes(contact_id, values, tags, events)[0]

    def _attributes(self, contact_id: str, values: Sequence[Any], tags: Collection[str],
                    events: Sequence[EventFact]) -> tuple[tuple[tuple[str, float], ...], tuple[float, ...]]:
        memo = self._memo
        key: Any = None
        if memo is not None:
            key = (tuple(values), tuple(map(type, values)), tags if self._reads_tags else None)  # 1 ≠ True ≠ 1.0
            try:
                return memo[key]
            except KeyError:
                pass
            except TypeError:  # a list or an object in a custom attribute: not hashable, evaluate
                key = None
        known = {f: v for f, v in zip(self._fields, values, strict=True) if v is not None}
        facts = ContactFacts(contact_id, known, tags, events)
        held = tuple((r.name, r.points) for r in self.model.attributes if evaluate(r.when, facts, self._ctx))
        found = (held, tuple(0.0 + points for _, points in held))  # as score_with adds them: -0.0 becomes 0.0
        if key is not None and memo is not None:
            memo[key] = found
        return found

    def result(self, totals: Mapping[int, float] | None,
               attribute_parts: Sequence[tuple[str, float]] = ()) -> ScoreResult:
        """The score and its parts, as ``score_with`` builds them."""
        names = self._names
        parts = {names[i]: round(p, 4) for i, p in sorted(totals.items())} if totals else {}
        for name, points in attribute_parts:
            parts[name] = parts.get(name, 0.0) + points
        score = round(math.fsum(parts.values()), 2)
        if self.model.floor is not None:
            score = max(self.model.floor, score)
        return ScoreResult(score, parts)

    def results(self, ids: Sequence[str], totals: Mapping[str, Mapping[int, float]], attributes: AttributeValues,
                events: Mapping[str, Sequence[EventFact]]) -> list[ScoreResult]:
        """Each contact's score and parts: ``totals`` from ``event_points``, ``attributes`` as the store gives
        them, ``events`` those the attribute rules read."""
        missing = self._missing
        return [self.result(totals.get(cid), self._attributes(cid, *attributes.get(cid, missing),
                                                              events.get(cid, ()))[0]) for cid in ids]

    def scores(self, ids: Sequence[str], totals: Mapping[str, Mapping[int, float]], attributes: AttributeValues,
               events: Mapping[str, Sequence[EventFact]]) -> list[float]:
        """``results(...)`` scores without building the parts: with unique rule names they are the same values,
        and ``fsum`` is exact, so their order does not matter."""
        if not self._unique_names:
            return [r.score for r in self.results(ids, totals, attributes, events)]
        floor, fsum, missing, no_events = self.model.floor, math.fsum, self._missing, ()
        read_attributes = bool(self.model.attributes)
        found = []
        for cid in ids:
            mine = totals.get(cid)
            values = [round(p, 4) for p in mine.values()] if mine else []
            if read_attributes:
                values.extend(self._attributes(cid, *attributes.get(cid, missing), events.get(cid, no_events))[1])
            score = round(fsum(values), 2)
            found.append(score if floor is None else max(floor, score))
        return found
