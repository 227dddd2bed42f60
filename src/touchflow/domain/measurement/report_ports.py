"""What reports, goals and flow reviews need from the store (``uow.reports``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from touchflow.domain.measurement.activity import Activity
from touchflow.domain.measurement.report_model import ComplianceRow

__all__ = ["FlowReviewRecord", "GoalFacts", "ReportDelivery", "ReportRepository", "VersionRecord"]


@dataclass(frozen=True)
class VersionRecord:
    version: int
    published_at: datetime
    published_by: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class FlowReviewRecord:
    id: str
    journey_id: str
    journey_key: str
    quarter: str
    status: str  # open | decided
    created_at: datetime
    due_at: datetime
    decision: str | None
    note: str
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class ReportDelivery:
    kind: str
    period_start: date
    sent_at: datetime
    recipients: tuple[str, ...]
    status: str  # sent | failed
    detail: str


@dataclass(frozen=True)
class GoalFacts:
    """Counts behind the goals that no other service computes (last ``days`` days unless said)."""

    intent_entered: int  # contacts who reached the intent stage
    intent_converted: int  # of them, those who then became customers
    dormant: int  # contacts who were dormant at some point in the window
    reactivated: int  # of them, those who left dormancy
    coupons_claimed: int
    coupons_redeemed: int
    repeat_orders_this_month: int  # last closed month: orders of contacts with an earlier order
    repeat_orders_last_month: int  # the month before it
    nps_scores: Sequence[int]


class ReportRepository(Protocol):
    def activity(self, start: datetime, end: datetime, journey_id: str | None = None) -> list[Activity]: ...
    def compliance_findings(self, limit: int = 50) -> list[ComplianceRow]: ...
    def versions(self, journey_id: str) -> list[VersionRecord]: ...
    def goal_facts(self, since: datetime, now: datetime, months: tuple[datetime, datetime, datetime]) -> GoalFacts: ...
    def goal_history(self, key: str) -> list[tuple[date, float]]: ...
    def record_goal_value(self, key: str, day: date, value: float) -> None: ...
    def delivery(self, kind: str, period_start: date) -> ReportDelivery | None: ...
    def record_delivery(self, delivery: ReportDelivery) -> None: ...
    def review(self, journey_id: str, quarter: str) -> FlowReviewRecord | None: ...
    def reviews(self, quarter: str) -> list[FlowReviewRecord]: ...
    def add_review(self, review: FlowReviewRecord) -> None: ...
    def decide_review(self, review_id: str, decision: str, note: str, by: str, at: datetime) -> bool: ...
