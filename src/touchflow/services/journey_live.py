"""Live numbers of a published journey on the builder's canvas, and the contacts waiting at a node (J9).

The per-node counts of entries, conversions and messages are the metric rollups' own rows (``metric_rows`` by
``step``, the numbers the measurement reports and ``GET /v1/metrics?by=step`` print), so the canvas and the
reports cannot disagree. What the rollups do not hold is read from the runs: how many wait at each node *now*
(as the journey page's ``journey_stats``), how many left the journey at each node, and how many took each way out
of a node (the run steps' edges, named as the canvas names them) during the range.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from touchflow.domain.errors import FieldError
from touchflow.domain.journeys.transitions import Run
from touchflow.domain.measurement.metrics import MetricRow
from touchflow.services.contacts import contact_labels
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import JourneyError
from touchflow.services.metrics import metric_rows, workspace_zone

__all__ = ["MAX_DAYS", "MAX_WAITING", "MESSAGE_COUNTERS", "LiveNumbers", "WaitingContact", "canvas_edge",
           "live_numbers", "waiting_at"]

MAX_DAYS = 366
MAX_WAITING = 200  # one page of the node's list
LIVE = ("waiting", "active", "paused")
ENDED = ("completed", "exited")
LISTED = (*LIVE, "failed")  # a failed run stays at its node: retry acts on it
MESSAGE_COUNTERS = ("queued", "sent", "delivered", "bounced", "opened_unique", "clicked_unique", "unsubscribed",
                    "complained")
_INDEXED = re.compile(r"^(case|path)\[(\d+)\]$")
_STEPS_CHUNK = 500


def canvas_edge(edge: str) -> str:
    """The engine's edge name (``case[0]``, ``path[1]``) as the canvas names its handle (``cases.0``, ``paths.1``)."""
    match = _INDEXED.match(edge)
    return f"{match.group(1)}s.{match.group(2)}" if match else edge


@dataclass(frozen=True)
class LiveNumbers:
    key: str
    start: date
    end: date
    nodes: dict[str, dict[str, Any]]
    edges: dict[str, int]  # "from:edge" → runs that took it during the range

    def to_json(self) -> dict[str, Any]:
        return {"journey": self.key, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "nodes": self.nodes, "edges": self.edges}


def _blank() -> dict[str, Any]:
    return {"entered": 0, "waiting": 0, "exited": 0, "converted": 0, "messages": dict.fromkeys(MESSAGE_COUNTERS, 0)
            | {"skipped": 0}}


def _add_row(node: dict[str, Any], row: MetricRow) -> None:
    node["entered"] += row.entered
    node["converted"] += row.converted
    for name in MESSAGE_COUNTERS:
        node["messages"][name] += getattr(row, name)
    node["messages"]["skipped"] += row.skipped_total


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise FieldError("to", "is before from")
    if (end - start).days >= MAX_DAYS:
        raise FieldError("from", f"at most {MAX_DAYS} days")


def live_numbers(ctx: ServiceContext, key: str, *, start: date, end: date) -> LiveNumbers:
    """Per node: entered, converted and messages by status on local days ``start``..``end`` (the rollups: call
    ``refresh_rollups`` for the last minute), waiting now, and exited during the range; per edge, the runs that
    took it during the range."""
    _check_range(start, end)
    zone = workspace_zone(ctx)
    low, high = datetime.combine(start, time(), zone), datetime.combine(end + timedelta(days=1), time(), zone)
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key!r}")
        runs = uow.journeys.runs_by_journey(record.id)
        touched = [r.id for r in runs if r.entered_at < high]
        steps = []
        for at in range(0, len(touched), _STEPS_CHUNK):
            steps.extend(uow.journeys.steps_of(touched[at:at + _STEPS_CHUNK]))
    nodes: dict[str, dict[str, Any]] = {}
    for row in metric_rows(ctx, start=start, end=end, journey=record.id, by=("step",)):
        if row.step:
            _add_row(nodes.setdefault(row.step, _blank()), row)
    last_at: dict[str, datetime] = {}
    edges: Counter[str] = Counter()
    for step in steps:
        last_at[step.run_id] = step.at
        if step.edge and low <= step.at < high:
            edges[f"{step.node_id}:{canvas_edge(step.edge)}"] += 1
    for run in runs:
        if run.status in LIVE:
            nodes.setdefault(run.node_id, _blank())["waiting"] += 1
        elif run.status in ENDED and low <= last_at.get(run.id, run.entered_at) < high:
            nodes.setdefault(run.node_id, _blank())["exited"] += 1
    return LiveNumbers(record.key, start, end, nodes, dict(edges))


@dataclass(frozen=True)
class WaitingContact:
    contact_id: str
    name: str | None
    phone: str | None  # masked
    email: str | None  # masked
    status: str
    since: datetime  # when the run entered the journey
    wake_at: datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"contact": self.contact_id, "name": self.name, "phone": self.phone, "email": self.email,
                "status": self.status, "entered_at": self.since.isoformat(),
                "wake_at": self.wake_at.isoformat() if self.wake_at else None, "error": self.error}


def waiting_at(ctx: ServiceContext, key: str, node: str, *, limit: int = MAX_WAITING) -> tuple[list[WaitingContact],
                                                                                              int]:
    """The contacts whose run is at ``node`` and not finished (waiting, active, paused, or failed there), oldest
    first, at most ``limit``, with their name and masked phone and e-mail; and how many there are in all."""
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key!r}")
        runs: list[Run] = sorted((r for r in uow.journeys.runs_by_journey(record.id)
                                  if r.node_id == node and r.status in LISTED), key=lambda r: (r.entered_at, r.id))
    shown = runs[:max(1, min(limit, MAX_WAITING))]
    labels = contact_labels(ctx, [r.contact_id for r in shown])
    return [WaitingContact(r.contact_id, labels[r.contact_id].name, labels[r.contact_id].phone,
                           labels[r.contact_id].email, r.status, r.entered_at, r.wake_at, r.error)
            for r in shown], len(runs)
