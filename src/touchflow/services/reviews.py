"""The quarterly flow review (A7): a review task per journey per quarter, the review's content, and the reviewer's
decision (keep, change, retire), audited.

Review tasks live in ``flow_reviews``, not in ``tasks``: a hand-off task belongs to a contact (``tasks.contact_id``
is required, and its SLA breach is an event of that contact), while a review belongs to a journey (ADR 0032).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from touchflow.domain.actors import Actor
from touchflow.domain.journeys.lint import lint_journey
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement import activity as counting
from touchflow.domain.measurement.flow_review import (
    DECISIONS,
    EFFECT_WINDOW,
    JourneyReview,
    VersionEffect,
    parse_quarter,
    quarter_of,
    recommendations,
)
from touchflow.domain.measurement.report_ports import FlowReviewRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.reports import workspace_zone_name

__all__ = ["REVIEW_DUE", "ReviewNotFound", "decide_review", "last_closed_quarter", "open_reviews",
           "quarter_bounds", "quarterly_review"]

REVIEW_DUE = timedelta(days=14)  # a quarter's reviews are due two weeks after it ends


class ReviewNotFound(LookupError):
    pass


def quarter_bounds(ctx: ServiceContext, quarter: str) -> tuple[datetime, datetime]:
    """[start, end) of the quarter in the workspace's zone."""
    first, last = parse_quarter(quarter)
    zone = ZoneInfo(workspace_zone_name(ctx))
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def last_closed_quarter(ctx: ServiceContext) -> str:
    today = ctx.clock.now().astimezone(ZoneInfo(workspace_zone_name(ctx))).date()
    first, _ = parse_quarter(quarter_of(today))
    return quarter_of(first - timedelta(days=1))


def _review_record(ctx: ServiceContext, uow: UnitOfWork, journey: JourneyRecord, quarter: str,
                   now: datetime) -> FlowReviewRecord:
    found = uow.reports.review(journey.id, quarter)
    if found is not None:
        return found
    _, end = quarter_bounds(ctx, quarter)
    record = FlowReviewRecord(ctx.ids.new(now), journey.id, journey.key, quarter, "open", now, end + REVIEW_DUE,
                              None, "", None, None)
    uow.reports.add_review(record)
    return record


def open_reviews(ctx: ServiceContext, quarter: str | None = None) -> list[FlowReviewRecord]:
    """A review task for every journey that existed in the quarter (default: the last closed one); idempotent."""
    quarter = quarter or last_closed_quarter(ctx)
    _, end = quarter_bounds(ctx, quarter)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        made = [_review_record(ctx, uow, j, quarter, now) for j in uow.journeys.all() if j.created_at < end]
        uow.commit()
    return made


def _effects(uow: UnitOfWork, journey_id: str, upto: datetime) -> list[VersionEffect]:
    out = []
    for v in uow.reports.versions(journey_id):
        if v.published_at >= upto:
            continue
        at = v.published_at
        before = counting.count(uow.reports.activity(at - EFFECT_WINDOW, at, journey_id))
        after = counting.count(uow.reports.activity(at, at + EFFECT_WINDOW, journey_id))
        out.append(VersionEffect(v.version, at, v.published_by, before, after))
    return out


def _lint(uow: UnitOfWork, journey: JourneyRecord) -> tuple[bool, list[str]]:
    if journey.current_version is None:
        return False, []
    document = uow.journeys.version(journey.id, journey.current_version)
    if document is None:
        return False, []
    try:
        definition = parse_journey(document)
    except ValueError as exc:
        return False, [f"definition: {exc}"]
    warnings = [f"{f.code}: {f.message} ({f.path})" for f in lint_journey(definition)]
    return definition.goal is not None, warnings


def quarterly_review(ctx: ServiceContext, quarter: str | None = None) -> tuple[str, list[JourneyReview]]:
    """One review per journey: the quarter's funnel against the previous quarter, each version's measured effect
    (``EFFECT_WINDOW`` before vs after its publish), lint warnings, guardrail skips, recommendations, decision."""
    quarter = quarter or last_closed_quarter(ctx)
    start, end = quarter_bounds(ctx, quarter)
    first, _ = parse_quarter(quarter)
    prev_start, prev_end = quarter_bounds(ctx, quarter_of(first - timedelta(days=1)))
    out = []
    with ctx.reader() as uow:
        for journey in sorted(uow.journeys.all(), key=lambda j: j.key):
            if journey.created_at >= end:
                continue
            now_counts = counting.count(uow.reports.activity(start, end, journey.id))
            before = counting.count(uow.reports.activity(prev_start, prev_end, journey.id))
            versions = _effects(uow, journey.id, end)
            has_goal, lint = _lint(uow, journey)
            review = uow.reports.review(journey.id, quarter)
            item = JourneyReview(journey.key, journey.name, journey.status, has_goal, now_counts, before, versions,
                                 lint, recommendations(has_goal, journey.status, now_counts, before, versions, lint))
            if review is not None:
                item = replace(item, review_status=review.status, decision=review.decision,
                               decided_by=review.decided_by, note=review.note)
            out.append(item)
    return quarter, out


def decide_review(ctx: ServiceContext, journey_key: str, decision: str, note: str, *, actor: Actor,
                  quarter: str | None = None) -> FlowReviewRecord:
    """Record the reviewer's decision on a journey's review (its task is opened if the worker has not yet)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision: {decision!r} is not one of {', '.join(DECISIONS)}")
    if len(note) > 4000:
        raise ValueError("note: at most 4000 characters")
    quarter = quarter or last_closed_quarter(ctx)
    parse_quarter(quarter)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        journey = uow.journeys.get(journey_key)
        if journey is None:
            raise ReviewNotFound(f"no journey {journey_key!r}")
        record = _review_record(ctx, uow, journey, quarter, now)
        uow.reports.decide_review(record.id, decision, note, actor.label, now)
        uow.audit.record(actor.label, "review.decide", f"journey:{journey.key}",
                         {"quarter": quarter, "decision": decision, "note": note, "review_id": record.id}, now)
        uow.commit()
        decided = uow.reports.review(journey.id, quarter)
    assert decided is not None
    return decided

