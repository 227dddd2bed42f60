"""Reads behind reports, goals and flow reviews, and the tables they own (0021_goals_reports)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from touchflow.domain.measurement.activity import Activity
from touchflow.domain.measurement.nps import valid_score
from touchflow.domain.measurement.report_model import ComplianceRow
from touchflow.domain.measurement.report_ports import (
    FlowReviewRecord,
    GoalFacts,
    ReportDelivery,
    VersionRecord,
)
from touchflow.store.tables import (
    events,
    flow_reviews,
    goal_values,
    journey_runs,
    journey_versions,
    outbox,
    report_deliveries,
    stage_history,
    templates,
)

__all__ = ["SqlReportRepository"]

_EVENT_STAGES = {"message_delivered": "delivered", "message_opened": "opened", "message_clicked": "clicked",
                 "message_bounced": "bounced", "message_unsubscribed": "unsubscribed"}


def _review(row: Any) -> FlowReviewRecord:
    return FlowReviewRecord(row.id, row.journey_id, row.journey_key, row.quarter, row.status, row.created_at,
                            row.due_at, row.decision, row.note, row.decided_by, row.decided_at)


class SqlReportRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def activity(self, start: datetime, end: datetime, journey_id: str | None = None) -> list[Activity]:
        """Every countable thing in [start, end): runs entered and converted, messages sent and skipped (outbox),
        delivered, opened, clicked, bounced and unsubscribed (message events). Interim source until rollups."""
        out: list[Activity] = []
        runs = select(journey_runs.c.id, journey_runs.c.journey_id, journey_runs.c.entered_at,
                      journey_runs.c.status, journey_runs.c.updated_at)
        if journey_id is not None:
            runs = runs.where(journey_runs.c.journey_id == journey_id)
        r: Any
        for r in self._c.execute(runs.where(journey_runs.c.entered_at >= start, journey_runs.c.entered_at < end)):
            out.append(Activity(r.entered_at, "entered", r.journey_id, None, None, r.id))
        converted = runs.where(journey_runs.c.status == "converted", journey_runs.c.updated_at >= start,
                               journey_runs.c.updated_at < end)
        for r in self._c.execute(converted):
            out.append(Activity(r.updated_at, "converted", r.journey_id, None, None, r.id))
        cols = (outbox.c.id, outbox.c.journey_id, outbox.c.template, outbox.c.channel, outbox.c.reason)
        journey_filter = [] if journey_id is None else [outbox.c.journey_id == journey_id]
        for r in self._c.execute(select(*cols, outbox.c.sent_at).where(
                outbox.c.sent_at >= start, outbox.c.sent_at < end, *journey_filter)):
            out.append(Activity(r.sent_at, "sent", r.journey_id, r.template, r.channel, r.id))
        for r in self._c.execute(select(*cols, outbox.c.updated_at).where(
                outbox.c.status == "skipped", outbox.c.updated_at >= start, outbox.c.updated_at < end,
                *journey_filter)):
            out.append(Activity(r.updated_at, "skipped", r.journey_id, r.template, r.channel, r.id, r.reason))
        rows = self._c.execute(select(events.c.id, events.c.type, events.c.occurred_at, events.c.properties).where(
            events.c.type.in_(tuple(_EVENT_STAGES)), events.c.occurred_at >= start, events.c.occurred_at < end))
        for r in rows:
            props = r.properties or {}
            journey = props.get("journey_id")
            if journey_id is not None and journey != journey_id:
                continue
            out.append(Activity(r.occurred_at, _EVENT_STAGES[r.type], journey, props.get("template"),
                                props.get("channel"), str(props.get("message_id") or r.id)))
        return out

    def compliance_findings(self, limit: int = 50) -> list[ComplianceRow]:
        """The latest version of each template whose Advertising-Law scan found something, or still in review."""
        latest = select(templates.c.name, func.max(templates.c.version).label("version")).group_by(
            templates.c.name).subquery()
        rows = self._c.execute(select(templates.c.name, templates.c.version, templates.c.status,
                                      templates.c.findings).join(latest, and_(
            templates.c.name == latest.c.name, templates.c.version == latest.c.version)).order_by(templates.c.name))
        out = []
        for r in rows:
            found = [f for f in (r.findings or []) if isinstance(f, dict)]
            if not found and r.status not in ("pending_review", "rejected"):
                continue
            labels = tuple(f"{f.get('category', '-')}: {f.get('matched') or f.get('term')}" for f in found)
            out.append(ComplianceRow(r.name, r.version, r.status, labels))
            if len(out) >= limit:
                break
        return out

    def versions(self, journey_id: str) -> list[VersionRecord]:
        rows = self._c.execute(select(journey_versions).where(journey_versions.c.journey_id == journey_id,
                                                         journey_versions.c.version >= 1)  # 0: builder draft
                               .order_by(journey_versions.c.version))
        return [VersionRecord(r.version, r.published_at, r.published_by, dict(r.definition)) for r in rows]

    def goal_facts(self, since: datetime, now: datetime, months: tuple[datetime, datetime, datetime]) -> GoalFacts:
        moves: dict[str, list[tuple[datetime, str, str | None]]] = defaultdict(list)
        for r in self._c.execute(select(stage_history.c.contact_id, stage_history.c.at, stage_history.c.stage,
                                        stage_history.c.from_stage).where(stage_history.c.at >= since)
                                 .order_by(stage_history.c.id)):
            moves[r.contact_id].append((r.at, r.stage, r.from_stage))
        intent = converted = dormant = reactivated = 0
        for history in moves.values():
            reached = next((at for at, stage, _ in history if stage == "intent"), None)
            if reached is not None:
                intent += 1
                converted += any(stage == "customer" and at >= reached for at, stage, _ in history)
            slept = next((at for at, stage, _ in history if stage == "dormant"), None)
            if slept is not None:
                dormant += 1
                reactivated += any(prev == "dormant" and at >= slept for at, _, prev in history)

        def typed(kind: str, start: datetime, end: datetime = now) -> list[Any]:
            return list(self._c.execute(select(events.c.contact_id, events.c.occurred_at, events.c.properties).where(
                events.c.type == kind, events.c.occurred_at >= start, events.c.occurred_at < end)))

        claimed, redeemed = len(typed("coupon_claimed", since)), len(typed("coupon_redeemed", since))
        scores = []
        for r in typed("survey_response", since):
            score = valid_score((r.properties or {}).get("score"))
            if score is not None:
                scores.append(score)
        first_order: dict[str, datetime] = {
            r.contact_id: r.first for r in self._c.execute(
                select(events.c.contact_id, func.min(events.c.occurred_at).label("first"))
                .where(events.c.type == "order_paid").group_by(events.c.contact_id))}
        this_month = last_month = 0
        before_start, month_start, month_end = months
        for r in typed("order_paid", before_start, month_end):
            if first_order.get(r.contact_id, r.occurred_at) < r.occurred_at:  # a repeat order
                if r.occurred_at >= month_start:
                    this_month += 1
                else:
                    last_month += 1
        return GoalFacts(intent, converted, dormant, reactivated, claimed, redeemed, this_month, last_month, scores)

    def goal_history(self, key: str) -> list[tuple[date, float]]:
        rows = self._c.execute(select(goal_values.c.day, goal_values.c.value).where(goal_values.c.key == key)
                               .order_by(goal_values.c.day))
        return [(date.fromisoformat(r.day), float(r.value)) for r in rows]

    def record_goal_value(self, key: str, day: date, value: float) -> None:
        done = self._c.execute(update(goal_values).where(goal_values.c.key == key,
                                                         goal_values.c.day == day.isoformat()).values(value=value))
        if done.rowcount == 0:
            self._c.execute(insert(goal_values).values(key=key, day=day.isoformat(), value=value))

    def delivery(self, kind: str, period_start: date) -> ReportDelivery | None:
        r = self._c.execute(select(report_deliveries).where(report_deliveries.c.kind == kind,
                                                            report_deliveries.c.period_start ==
                                                            period_start.isoformat())).first()
        return None if r is None else ReportDelivery(r.kind, date.fromisoformat(r.period_start), r.sent_at,
                                                     tuple(r.recipients or ()), r.status, r.detail)

    def record_delivery(self, delivery: ReportDelivery) -> None:
        key = (report_deliveries.c.kind == delivery.kind,
               report_deliveries.c.period_start == delivery.period_start.isoformat())
        values = {"sent_at": delivery.sent_at, "recipients": list(delivery.recipients), "status": delivery.status,
                  "detail": delivery.detail}
        if self._c.execute(update(report_deliveries).where(*key).values(**values)).rowcount == 0:
            self._c.execute(insert(report_deliveries).values(kind=delivery.kind,
                                                             period_start=delivery.period_start.isoformat(), **values))

    def review(self, journey_id: str, quarter: str) -> FlowReviewRecord | None:
        r = self._c.execute(select(flow_reviews).where(flow_reviews.c.journey_id == journey_id,
                                                       flow_reviews.c.quarter == quarter)).first()
        return None if r is None else _review(r)

    def reviews(self, quarter: str) -> list[FlowReviewRecord]:
        rows = self._c.execute(select(flow_reviews).where(flow_reviews.c.quarter == quarter)
                               .order_by(flow_reviews.c.journey_key))
        return [_review(r) for r in rows]

    def add_review(self, review: FlowReviewRecord) -> None:
        self._c.execute(insert(flow_reviews).values(
            id=review.id, journey_id=review.journey_id, journey_key=review.journey_key, quarter=review.quarter,
            status=review.status, created_at=review.created_at, due_at=review.due_at, decision=review.decision,
            note=review.note, decided_by=review.decided_by, decided_at=review.decided_at))

    def decide_review(self, review_id: str, decision: str, note: str, by: str, at: datetime) -> bool:
        done = self._c.execute(update(flow_reviews).where(flow_reviews.c.id == review_id).values(
            status="decided", decision=decision, note=note, decided_by=by, decided_at=at))
        return done.rowcount == 1
