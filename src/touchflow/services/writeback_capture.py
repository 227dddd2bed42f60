"""Capture of write-back changes into the outbox, in the transaction that makes the change.

Called where the changes are made: ``emit_events`` (MQL/SQL, stage changes, task outcomes: the engine's own
events), ``record_events`` (unsubscribes: consent) and the score writer. It costs one read of the (small)
connector table per call, and writes nothing when no connector has a write-back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from touchflow.domain.connectors.writeback import EVENT_FIELDS, Change, WritebackConfig, change_key, parse_writeback
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.unit_of_work import UnitOfWork

__all__ = ["capture_events", "capture_scores", "writeback_targets"]


def writeback_targets(uow: UnitOfWork) -> list[WritebackConfig]:
    found: list[WritebackConfig] = []
    for connector in uow.connectors.all():
        try:
            config = parse_writeback(connector.name, connector.settings)
        except ValueError:
            continue  # refused when the connector was saved; an old row never stops the change itself
        if config is not None and connector.status == "active":
            found.append(config)
    return found


def _event_value(event: EventInput) -> JSONValue:
    p = event.properties
    if event.type in ("lead_mql", "lead_sql"):
        return {"reached": True, "score": p.get("score"), "model_version": p.get("model_version")}
    if event.type == "stage_changed":
        return {"stage": p.get("stage"), "from": p.get("from")}
    if event.type == "task_completed":
        return {"task_id": p.get("task_id"), "queue": p.get("queue"), "by": p.get("by"),
                "within_sla": p.get("within_sla"), "outcome": p.get("outcome", "done")}
    return {"channel": p.get("channel", "all"), "status": p.get("status", "denied")}


def capture_events(uow: UnitOfWork, events: Sequence[tuple[EventInput, str]], now: datetime) -> int:
    """Outbox rows for the events that feed a write-back field, one per target connector; returns how many."""
    wanted = [(e, cid) for e, cid in events if e.type in EVENT_FIELDS]
    if not wanted:
        return 0
    targets = writeback_targets(uow)
    rows: list[tuple[str, Change, str]] = []
    for config in targets:
        for event, cid in wanted:
            field = EVENT_FIELDS[event.type]
            if field in config.fields:
                change = Change(cid, field, _event_value(event), event.occurred_at, event.id)
                rows.append((config.connector, change, change_key(config.connector, change)))
    return uow.writeback.add(rows, now)


def capture_scores(uow: UnitOfWork, scores: Sequence[tuple[str, float]], version: int, now: datetime) -> int:
    if not scores:
        return 0
    rows: list[tuple[str, Change, str]] = []
    for config in writeback_targets(uow):
        if "score" not in config.fields:
            continue
        for cid, score in scores:
            change = Change(cid, "score", {"score": score, "model_version": version}, now,
                            f"score:{version}:{score}:{now.isoformat()}")
            rows.append((config.connector, change, change_key(config.connector, change)))
    return uow.writeback.add(rows, now)
