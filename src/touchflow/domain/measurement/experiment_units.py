"""From raw rows to analysis units: each contact's arm, stratum, outcome times and pre-period covariates.

Metric definitions (per contact the split assigned, first assignment since the start):

- conversion: the journey's goal event (with its property filters) after assignment;
- click / open: ``message_clicked`` / ``message_opened`` of a message of this journey after assignment;
- unsubscribe: an ``unsubscribe`` event after assignment; complaint: ``complaint`` or ``message_complained``.

The CUPED covariate of a metric is the count of the same kind of event (any journey's messages for click and
open) in the ``pre_days`` before assignment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from touchflow.domain.journeys import Goal
from touchflow.domain.measurement.experiment_analysis import Unit
from touchflow.domain.measurement.experiment_ports import Assignment, SegmentStay, UnitEvent
from touchflow.domain.measurement.experiment_rules import ExperimentSpec
from touchflow.domain.transitions import props_match

__all__ = ["EVENT_TYPES", "build_units", "event_types"]

EVENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "click": ("message_clicked",), "open": ("message_opened",), "unsubscribe": ("unsubscribe",),
    "complaint": ("complaint", "message_complained")}
OTHER = "other"


def event_types(spec: ExperimentSpec, goal: Goal | None) -> set[str]:
    found: set[str] = set()
    for metric in (spec.primary, *spec.guardrails):
        if metric == "conversion":
            if goal is not None:
                found.add(goal.event)
        else:
            found.update(EVENT_TYPES[metric])
    return found


def _matches(metric: str, event: UnitEvent, journey_id: str, goal: Goal | None, own_journey: bool) -> bool:
    if metric == "conversion":
        return goal is not None and event.type == goal.event and props_match(goal.properties, event.properties)
    if event.type not in EVENT_TYPES[metric]:
        return False
    return not (own_journey and metric in ("click", "open")) or event.properties.get("journey_id") == journey_id


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
        for metric in metrics:
            outcomes[metric] = next((e.occurred_at for e in mine if e.occurred_at >= a.at
                                     and _matches(metric, e, journey_id, goal, True)), None)
            pre[metric] = float(sum(1 for e in mine if a.at - window <= e.occurred_at < a.at
                                    and _matches(metric, e, journey_id, goal, False)))
        inside = {s.segment for s in stays_of.get(contact_id, ())
                  if s.entered_at <= a.at and (s.left_at is None or s.left_at > a.at)}
        stratum = next((key for key in spec.strata if key in inside), OTHER)
        units.append(Unit(contact_id, arm_of[a.edge], a.at, stratum, outcomes, pre))
    return units
