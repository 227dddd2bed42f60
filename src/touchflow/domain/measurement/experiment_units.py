"""From raw rows to analysis units: each contact's arm, stratum, outcome times and pre-period covariates.

Metric definitions (per contact the split assigned, first assignment since the start):

- conversion: the journey's goal event (with its property filters) after assignment;
- click / open: ``message_clicked`` / ``message_opened`` of a message of this journey after assignment;
- unsubscribe: an ``unsubscribe`` event after assignment; complaint: ``complaint`` or ``message_complained``;
- revenue (continuous, ADR 0034): the cents of the ``order_paid`` events after assignment, counted the way
  attribution counts them (an order id and an amount, each order id once, the first by time).

The CUPED covariate of a metric is the count of the same kind of event (any journey's messages for click and
open) in the ``pre_days`` before assignment; for revenue, the cents ordered in that window.

A version experiment's contacts are assigned at entry (the entry step's edge ``v<version>``), a split
experiment's at the split; either way the first assignment since the start is the contact's unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from touchflow.domain.journeys.model import Goal
from touchflow.domain.journeys.transitions import props_match
from touchflow.domain.measurement.attribution import cents
from touchflow.domain.measurement.experiment_analysis import Unit
from touchflow.domain.measurement.experiment_ports import Assignment, SegmentStay, UnitEvent
from touchflow.domain.measurement.experiment_rules import CONTINUOUS, ExperimentSpec

__all__ = ["EVENT_TYPES", "build_units", "event_types"]

EVENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "click": ("message_clicked",), "open": ("message_opened",), "unsubscribe": ("unsubscribe",),
    "complaint": ("complaint", "message_complained"), "revenue": ("order_paid",)}
OTHER = "other"


def event_types(spec: ExperimentSpec, goal: Goal | None) -> set[str]:
    found: set[str] = set()
    for metric in (spec.primary, *spec.guardrails):
        if metric == "conversion":
            if goal is not None:
                found.add(goal.event)
        else:  # revenue too: order_paid
            found.update(EVENT_TYPES[metric])
    return found


def _matches(metric: str, event: UnitEvent, journey_id: str, goal: Goal | None, own_journey: bool) -> bool:
    if metric == "conversion":
        return goal is not None and event.type == goal.event and props_match(goal.properties, event.properties)
    if event.type not in EVENT_TYPES[metric]:
        return False
    return not (own_journey and metric in ("click", "open")) or event.properties.get("journey_id") == journey_id


def _orders(events: Sequence[UnitEvent]) -> list[tuple[datetime, float]]:
    """(time, cents) of each order, first event per order id, in time order."""
    seen: set[str] = set()
    found = []
    for e in events:
        if e.type not in EVENT_TYPES["revenue"]:
            continue
        order_id, amount = e.properties.get("order_id"), cents(e.properties.get("amount",
                                                                                 e.properties.get("revenue")))
        if order_id is None or str(order_id) == "" or amount is None or str(order_id) in seen:
            continue
        seen.add(str(order_id))
        found.append((e.occurred_at, float(amount)))
    return found


def build_units(spec: ExperimentSpec, journey_id: str, goal: Goal | None, assignments: Sequence[Assignment],
                events: Sequence[UnitEvent], stays: Sequence[SegmentStay]) -> list[Unit]:
    """One ``Unit`` per contact (its first pass through the split); passes on an edge no arm has are ignored."""
    arm_of = {a.edge: index for index, a in enumerate(spec.arms)}
    first: dict[str, Assignment] = {}
    for a in assignments:
        if a.edge in arm_of and a.contact_id not in first:
            first[a.contact_id] = a
    by_contact: dict[str, list[UnitEvent]] = {}
    for e in events:
        by_contact.setdefault(e.contact_id, []).append(e)
    stays_of: dict[str, list[SegmentStay]] = {}
    for s in stays:
        stays_of.setdefault(s.contact_id, []).append(s)
    metrics = (spec.primary, *spec.guardrails)
    window = timedelta(days=spec.pre_days)
    units = []
    for contact_id, a in first.items():
        mine = sorted(by_contact.get(contact_id, ()), key=lambda e: e.occurred_at)
        outcomes: dict[str, datetime | None] = {}
        pre: dict[str, float] = {}
        values: dict[str, tuple[tuple[datetime, float], ...]] = {}
        for metric in metrics:
            if metric in CONTINUOUS:
                orders = _orders(mine)
                values[metric] = tuple((at, v) for at, v in orders if at >= a.at)
                outcomes[metric] = values[metric][0][0] if values[metric] else None
                pre[metric] = sum(v for at, v in orders if a.at - window <= at < a.at)
                continue
            outcomes[metric] = next((e.occurred_at for e in mine if e.occurred_at >= a.at
                                     and _matches(metric, e, journey_id, goal, True)), None)
            pre[metric] = float(sum(1 for e in mine if a.at - window <= e.occurred_at < a.at
                                    and _matches(metric, e, journey_id, goal, False)))
        inside = {s.segment for s in stays_of.get(contact_id, ())
                  if s.entered_at <= a.at and (s.left_at is None or s.left_at > a.at)}
        stratum = next((key for key in spec.strata if key in inside), OTHER)
        units.append(Unit(contact_id, arm_of[a.edge], a.at, stratum, outcomes, pre, values))
    return units
