"""Touches, orders and control groups on SQL (``domain.measurement.attribution_ports.AttributionRepository``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, select, update

from touchflow.domain.measurement.attribution import Conversion, Touch, cents
from touchflow.domain.measurement.attribution_ports import HoldoutAssignment, HoldoutRecord, RunOutcome
from touchflow.domain.measurement.workspace_holdout import WorkspaceGroup
from touchflow.store.tables import contacts, events, holdout_runs, holdouts, journeys, outbox, workspace_holdouts

__all__ = ["ORDER_EVENT", "SqlAttributionRepository"]

ORDER_EVENT = "order_paid"
_NOT_TOUCHES = ("webhook",)  # a call to another system reaches no person
_CHUNK = 500


def _order(contact_id: str, at: datetime, properties: Any) -> Conversion | None:
    props = properties if isinstance(properties, dict) else {}
    order_id, amount = props.get("order_id"), cents(props.get("amount", props.get("revenue")))
    if order_id is None or str(order_id) == "" or amount is None:
        return None
    return Conversion(contact_id, at, str(order_id), amount)


def _holdout(row: Row[Any]) -> HoldoutRecord:
    return HoldoutRecord(row.id, row.journey_id, row.journey_key, int(row.version), row.key, float(row.share),
                         row.window_s, row.started_at, row.ended_at)


def _group(row: Row[Any]) -> WorkspaceGroup:
    return WorkspaceGroup(row.id, row.key, float(row.share), row.started_at, row.ended_at, row.set_by)


class SqlAttributionRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def touches(self, start: datetime, end: datetime, journey_id: str | None = None) -> list[Touch]:
        keys: dict[str | None, str | None] = dict(self._c.execute(select(journeys.c.id, journeys.c.key)).all())
        query = (select(outbox.c.id, outbox.c.contact_id, outbox.c.sent_at, outbox.c.channel, outbox.c.journey_id,
                        outbox.c.node_id, outbox.c.template)
                 .where(outbox.c.sent_at >= start, outbox.c.sent_at < end, outbox.c.channel.not_in(_NOT_TOUCHES)))
        if journey_id is not None:
            query = query.where(outbox.c.journey_id == journey_id)
        return [Touch(contact, at, channel, keys.get(journey), node, template, message)
                for message, contact, at, channel, journey, node, template in self._c.execute(query)]

    def orders(self, start: datetime, end: datetime, contact_ids: Sequence[str] | None = None) -> list[Conversion]:
        base = select(events.c.contact_id, events.c.occurred_at, events.c.properties).where(
            events.c.type == ORDER_EVENT, events.c.occurred_at >= start, events.c.occurred_at < end)
        batches = [base] if contact_ids is None else [
            base.where(events.c.contact_id.in_(contact_ids[i:i + _CHUNK])) for i in range(0, len(contact_ids), _CHUNK)]
        found: list[Conversion] = []
        for query in batches:
            for row in self._c.execute(query):
                conversion = _order(row.contact_id, row.occurred_at, row.properties)
                if conversion is not None:
                    found.append(conversion)
        return found

    def open_holdout(self, record: HoldoutRecord) -> None:
        self.end_holdouts(record.journey_id, record.started_at)
        self._c.execute(insert(holdouts).values(
            id=record.id, journey_id=record.journey_id, version=record.version, key=record.key, share=record.share,
            window_s=record.window_s, started_at=record.started_at, ended_at=record.ended_at))

    def end_holdouts(self, journey_id: str, at: datetime) -> None:
        self._c.execute(update(holdouts).where(holdouts.c.journey_id == journey_id, holdouts.c.ended_at.is_(None))
                        .values(ended_at=at))

    def holdouts(self, journey_id: str) -> list[HoldoutRecord]:
        rows = self._c.execute(
            select(holdouts, journeys.c.key.label("journey_key"))
            .join(journeys, journeys.c.id == holdouts.c.journey_id)
            .where(holdouts.c.journey_id == journey_id).order_by(holdouts.c.version))
        return [_holdout(r) for r in rows]

    def assign(self, rows: Sequence[HoldoutAssignment]) -> None:
        if rows:
            self._c.execute(insert(holdout_runs), [
                {"run_id": r.run_id, "journey_id": r.journey_id, "version": r.version, "contact_id": r.contact_id,
                 "held_out": r.held_out, "entered_at": r.entered_at} for r in rows])

    def outcomes(self, journey_id: str, version: int, goal_event: str, window_s: int) -> list[RunOutcome]:
        runs = list(self._c.execute(select(holdout_runs).where(
            holdout_runs.c.journey_id == journey_id, holdout_runs.c.version == version)))
        if not runs:
            return []
        window = timedelta(seconds=window_s)
        start = min(r.entered_at for r in runs)
        end = max(r.entered_at for r in runs) + window
        wanted = sorted({ORDER_EVENT, goal_event})
        seen: dict[str, list[tuple[str, datetime, Any]]] = defaultdict(list)
        contacts = sorted({r.contact_id for r in runs})
        for i in range(0, len(contacts), _CHUNK):
            rows = self._c.execute(select(events.c.contact_id, events.c.type, events.c.occurred_at,
                                          events.c.properties).where(and_(
                events.c.contact_id.in_(contacts[i:i + _CHUNK]), events.c.type.in_(wanted),
                events.c.occurred_at >= start, events.c.occurred_at <= end)))
            for row in rows:
                seen[row.contact_id].append((row.type, row.occurred_at, row.properties))
        outcomes: list[RunOutcome] = []
        for run in runs:
            converted, revenue, orders = False, 0, set()
            for kind, at, properties in seen.get(run.contact_id, ()):
                if not run.entered_at <= at <= run.entered_at + window:
                    continue
                converted = converted or kind == goal_event
                order = _order(run.contact_id, at, properties) if kind == ORDER_EVENT else None
                if order is not None and order.order_id not in orders:
                    orders.add(order.order_id)
                    revenue += order.revenue_cents
            outcomes.append(RunOutcome(run.run_id, run.contact_id, bool(run.held_out), run.entered_at, converted,
                                       revenue))
        return outcomes

    # --- the workspace control group ---

    def open_workspace_group(self, group: WorkspaceGroup) -> None:
        self._c.execute(insert(workspace_holdouts).values(
            id=group.id, key=group.key, share=group.share, started_at=group.started_at, ended_at=group.ended_at,
            set_by=group.set_by))

    def end_workspace_group(self, at: datetime) -> WorkspaceGroup | None:
        current = self.current_workspace_group()
        if current is not None:
            self._c.execute(update(workspace_holdouts).where(workspace_holdouts.c.id == current.id)
                            .values(ended_at=at))
        return current

    def workspace_groups(self) -> list[WorkspaceGroup]:
        rows = self._c.execute(select(workspace_holdouts).order_by(workspace_holdouts.c.started_at,
                                                                   workspace_holdouts.c.id))
        return [_group(r) for r in rows]

    def current_workspace_group(self) -> WorkspaceGroup | None:
        row = self._c.execute(select(workspace_holdouts).where(workspace_holdouts.c.ended_at.is_(None))
                              .order_by(workspace_holdouts.c.started_at.desc()).limit(1)).first()
        return None if row is None else _group(row)

    def contacts_before(self, at: datetime) -> list[str]:
        return list(self._c.execute(select(contacts.c.id).where(contacts.c.created_at < at,
                                                                contacts.c.merged_into.is_(None))).scalars())
