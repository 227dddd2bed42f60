"""Alert rules, alert state and history; the raw message reads behind the circuit breaker and ``explain``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from touchflow.domain.measurement.alert_ports import AlertNotification, AlertRecord, ExplainCell, MessageOutcome
from touchflow.domain.measurement.alerts import AlertState
from touchflow.domain.measurement.rollup_columns import MESSAGE_TYPES
from touchflow.store.explain_sql import explain_cells
from touchflow.store.tables import (
    alert_history,
    alert_notifications,
    alert_rules,
    alert_state,
    contact_tags,
    events,
    journey_runs,
    outbox,
)

__all__ = ["SqlAlertRepository"]

_CHUNK = 500
OUTCOME_TYPES = ("message_delivered", "message_bounced", "message_opened", "message_clicked", "message_complained",
                 "complaint", "message_unsubscribed")
_SENT = ("sent", "sending", "failed", "dead")  # what ``sent_between`` reads: every message that left
_FLAGGING = ("message_bounced", "message_complained", "complaint")  # the outcomes a breaker counts


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


class SqlAlertRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # --- rules, state, history -------------------------------------------------------------------

    def rules(self) -> dict[str, dict[str, Any]]:
        return {r.name: dict(r.document) for r in self._c.execute(select(alert_rules))}

    def set_rule(self, name: str, document: Mapping[str, Any], by: str, at: datetime) -> None:
        self._c.execute(delete(alert_rules).where(alert_rules.c.name == name))
        self._c.execute(insert(alert_rules).values(name=name, document=dict(document), updated_at=at, updated_by=by))

    def states(self) -> dict[tuple[str, str], AlertState]:
        return {(r.rule, r.journey_id): AlertState(r.armed, r.consecutive, r.last_fired, r.cooldown_until,
                                                   _day(r.counts_from), _day(r.last_day))
                for r in self._c.execute(select(alert_state))}

    def save_state(self, rule: str, journey_id: str, state: AlertState, at: datetime) -> None:
        self._c.execute(delete(alert_state).where(alert_state.c.rule == rule, alert_state.c.journey_id == journey_id))
        self._c.execute(insert(alert_state).values(
            rule=rule, journey_id=journey_id, armed=state.armed, consecutive=state.consecutive,
            last_fired=state.last_fired, cooldown_until=state.cooldown_until,
            counts_from=state.counts_from.isoformat() if state.counts_from else None,
            last_day=state.last_day.isoformat() if state.last_day else None, updated_at=at))

    def add_history(self, record: AlertRecord) -> None:
        self._c.execute(insert(alert_history).values(
            at=record.at, rule=record.rule, journey_id=record.journey_id, metric=record.metric, status=record.status,
            acted=record.acted, suppressed=record.suppressed, summary=record.summary, details=dict(record.details)))

    # --- notifications to staff ------------------------------------------------------------------

    def add_notification(self, notification: AlertNotification) -> None:
        n = notification
        self._c.execute(insert(alert_notifications).values(
            id=n.id, rule=n.rule, journey_id=n.journey_id, channel=n.channel, recipients=list(n.recipients),
            subject=n.subject, body=n.body, status=n.status, attempts=n.attempts, created_at=n.created_at,
            next_attempt_at=n.next_attempt_at, sent_at=n.sent_at, error=n.error))

    def _notifications(self, query: Any) -> list[AlertNotification]:
        return [AlertNotification(r.id, r.rule, r.journey_id, r.channel, tuple(r.recipients), r.subject, r.body,
                                  r.status, r.attempts, r.created_at, r.next_attempt_at, r.sent_at, r.error)
                for r in self._c.execute(query)]

    def due_notifications(self, now: datetime, limit: int) -> list[AlertNotification]:
        t = alert_notifications
        return self._notifications(select(t).where(t.c.status.in_(("queued", "failed")), t.c.next_attempt_at <= now)
                                   .order_by(t.c.next_attempt_at, t.c.id).limit(limit))

    def claim_notification(self, notification_id: str, now: datetime, lease_until: datetime) -> bool:
        t = alert_notifications
        done = self._c.execute(update(t).where(t.c.id == notification_id, t.c.status.in_(("queued", "failed")),
                                               t.c.next_attempt_at <= now)
                               .values(attempts=t.c.attempts + 1, next_attempt_at=lease_until))
        return bool(done.rowcount)

    def finish_notification(self, notification_id: str, status: str, at: datetime, error: str | None,
                            next_attempt_at: datetime) -> None:
        t = alert_notifications
        self._c.execute(update(t).where(t.c.id == notification_id).values(
            status=status, error=error, next_attempt_at=next_attempt_at, sent_at=at if status == "sent" else None))

    def notifications(self, limit: int = 100) -> list[AlertNotification]:
        t = alert_notifications
        return self._notifications(select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit))

    def history(self, journey_id: str | None = None, limit: int = 100) -> list[AlertRecord]:
        query = select(alert_history).order_by(alert_history.c.at.desc(), alert_history.c.id.desc()).limit(limit)
        if journey_id is not None:
            query = query.where(alert_history.c.journey_id == journey_id)
        return [AlertRecord(r.at, r.rule, r.journey_id, r.metric, r.status, r.acted, r.suppressed, r.summary,
                            dict(r.details), r.id) for r in self._c.execute(query)]

    # --- raw reads -------------------------------------------------------------------------------

    def sent_between(self, start: datetime, end: datetime, journey_id: str | None = None,
                     with_tags: bool = False, within: timedelta | None = None) -> list[MessageOutcome]:
        query = (select(outbox.c.id, outbox.c.journey_id, outbox.c.contact_id, outbox.c.sent_at, outbox.c.channel,
                        outbox.c.template, outbox.c.address, journey_runs.c.version)
                 .select_from(outbox.outerjoin(journey_runs, journey_runs.c.id == outbox.c.run_id))
                 .where(outbox.c.sent_at >= start, outbox.c.sent_at < end, outbox.c.journey_id.is_not(None),
                        outbox.c.status.in_(_SENT)))
        if journey_id is not None:
            query = query.where(outbox.c.journey_id == journey_id)
        # the rows themselves until the flags are known: each message becomes a MessageOutcome once, at the end
        found = {r.id: r for r in self._c.execute(query)}
        if not found:
            return []
        flags: dict[str, dict[str, Any]] = defaultdict(dict)
        for row in self._outcomes(sorted(found), start, timed=within is not None):
            message_id = (row.properties or {}).get("message_id")
            message = found.get(str(message_id))
            if message is None or (within is not None and row.occurred_at > message.sent_at + within):
                continue
            seen = flags[str(message_id)]
            kind = row.type.removeprefix("message_")
            if kind == "bounced":
                seen["bounced"] = True
                seen["hard_bounced"] = seen.get("hard_bounced", False) or row.properties.get("hard") is True
            elif kind in ("complained", "complaint"):
                seen["complained"] = True
            elif kind in ("delivered", "opened", "clicked", "unsubscribed"):
                seen[kind] = True
                if kind == "opened" and row.properties.get("user_agent") and "user_agent" not in seen:
                    seen["user_agent"] = str(row.properties["user_agent"])
                if kind in ("opened", "clicked") and row.properties.get("device") and "device" not in seen:
                    seen["device"] = str(row.properties["device"])  # the tracking route's class (0022)
        tags: dict[str, list[str]] = defaultdict(list)
        if with_tags:
            contact_ids = sorted({m.contact_id for m in found.values()})
            for start_at in range(0, len(contact_ids), _CHUNK):
                chunk = contact_ids[start_at:start_at + _CHUNK]
                for tag_row in self._c.execute(select(contact_tags.c.contact_id, contact_tags.c.tag)
                                               .where(contact_tags.c.contact_id.in_(chunk))):
                    tags[tag_row.contact_id].append(tag_row.tag)
        # built once here, not ``dataclasses.replace``d: its introspection cost more than the queries (0.3 s a page
        # at a few thousand messages)
        return [MessageOutcome(m.id, m.journey_id, m.contact_id, m.sent_at, m.channel, m.template, m.version,
                               m.address, **flags.get(m.id, {}), tags=tuple(sorted(tags.get(m.contact_id, ()))))
                for m in found.values()]

    def _outcomes(self, message_ids: list[str], start: datetime, timed: bool) -> Iterator[Any]:
        """Outcome events since ``start`` of these messages: the ``message_*`` ones by their message column
        (``msg_id``, indexed), so a short period of one journey reads its own messages' events, not every outcome
        since ``start``; ``complaint`` events (no message column) by type and time. Their time is read only when
        ``timed`` (a few thousand datetimes parsed for nothing otherwise)."""
        columns = (events.c.type, events.c.properties, *([events.c.occurred_at] if timed else []))
        typed = tuple(t for t in OUTCOME_TYPES if t in MESSAGE_TYPES)
        for at in range(0, len(message_ids), _CHUNK):
            chunk = message_ids[at:at + _CHUNK]
            yield from self._c.execute(select(*columns).where(events.c.msg_id.in_(chunk), events.c.type.in_(typed),
                                                              events.c.occurred_at >= start)
                                       .order_by(events.c.type, events.c.occurred_at))
        others = tuple(t for t in OUTCOME_TYPES if t not in MESSAGE_TYPES)
        yield from self._c.execute(select(*columns).where(events.c.type.in_(others), events.c.occurred_at >= start)
                                   .order_by(events.c.type, events.c.occurred_at))

    def explain_cells(self, journey_id: str, periods: Sequence[tuple[datetime, datetime]], since: datetime,
                      metric: str, group: str, tag: str = "") -> list[ExplainCell]:
        return explain_cells(self._c, journey_id, periods, since, metric, group, tag)

    def any_sent_since(self, since: datetime) -> bool:
        return self._c.execute(select(outbox.c.id).where(outbox.c.sent_at >= since, outbox.c.journey_id.is_not(None))
                               .limit(1)).first() is not None

    def window_outcomes(self, start: datetime, end: datetime) -> dict[str, tuple[int, int, int]]:
        """The breaker's counts without reading the window's messages: sends counted by the database, then the
        complaints and bounces since ``start`` (few) and the messages they name. Read message by message, a
        window of an hour at 200 sends/s was 720,000 rows and 1,440 outcome queries every five minutes, inside the
        worker's tick (the soak)."""
        sent = (outbox.c.sent_at >= start, outbox.c.sent_at < end, outbox.c.journey_id.is_not(None),
                outbox.c.status.in_(_SENT))
        counts = {str(journey): [int(n), 0, 0] for journey, n in self._c.execute(
            select(outbox.c.journey_id, func.count()).where(*sent).group_by(outbox.c.journey_id))}
        if not counts:
            return {}
        flags: dict[str, set[int]] = defaultdict(set)  # message id -> 1 complained, 2 hard-bounced
        for kind, properties in self._c.execute(select(events.c.type, events.c.properties).where(
                events.c.type.in_(_FLAGGING), events.c.occurred_at >= start)):
            message_id = (properties or {}).get("message_id")
            if message_id is None:
                continue
            if kind != "message_bounced":
                flags[str(message_id)].add(1)
            elif properties.get("hard") is True:
                flags[str(message_id)].add(2)
        named = sorted(flags)
        for at in range(0, len(named), _CHUNK):
            for message_id, journey in self._c.execute(select(outbox.c.id, outbox.c.journey_id).where(
                    outbox.c.id.in_(named[at:at + _CHUNK]), *sent)):
                for flag in flags[message_id]:
                    counts[str(journey)][flag] += 1
        return {k: (v[0], v[1], v[2]) for k, v in counts.items()}
