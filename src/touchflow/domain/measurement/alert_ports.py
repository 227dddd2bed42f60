"""What alerts and ``explain`` need from the store (implemented in store/alerts.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.domain.measurement.alerts import AlertState

__all__ = ["AlertNotification", "AlertRecord", "AlertRepository", "ExplainCell", "MessageOutcome"]


@dataclass(frozen=True)
class MessageOutcome:
    """One message sent by a journey and what became of it so far (raw: outbox row + its lifecycle events)."""

    id: str
    journey_id: str
    contact_id: str
    sent_at: datetime
    channel: str
    template: str | None
    version: int | None  # the journey version the run was on
    address: str | None
    delivered: bool = False
    bounced: bool = False
    hard_bounced: bool = False
    opened: bool = False
    clicked: bool = False
    complained: bool = False
    unsubscribed: bool = False
    user_agent: str | None = None  # of the first open, where an older tracker recorded one
    device: str | None = None  # the device class tracking recorded on the open / click (devices.device_class)
    tags: tuple[str, ...] = field(default=())

    def counts(self, metric: str) -> tuple[int, int]:
        """(success, trial) of this message for ``metric`` (alert_rules.DAILY_METRICS); delivered = not bounced."""
        success, denominator, _ = DAILY_METRICS[metric]
        trial = 1 if denominator == "sent" or not self.bounced else 0
        hit = {"opened_unique": self.opened, "clicked_unique": self.clicked, "complained": self.complained,
               "hard_bounced": self.hard_bounced, "unsubscribed": self.unsubscribed}[success]
        return int(hit and bool(trial)), trial


class ExplainCell(NamedTuple):
    """One group of one period of ``explain``, counted by the store: the dimension's raw value(s) (what the
    service turns into a label), and the messages' (successes, trials) for the metric."""

    period: int  # index into the periods asked for
    key: tuple[Any, ...]
    successes: int
    trials: int


@dataclass(frozen=True)
class AlertRecord:
    at: datetime
    rule: str
    journey_id: str
    metric: str
    status: str
    acted: bool
    suppressed: str | None
    summary: str
    details: Mapping[str, Any]
    id: int = 0


@dataclass(frozen=True)
class AlertNotification:
    """An alert message to staff (no contact): queued in the alert's transaction, sent by the worker's pass."""

    id: str
    rule: str
    journey_id: str
    channel: str  # email | wecom_staff
    recipients: tuple[str, ...]
    subject: str
    body: str
    status: str  # queued | sent | failed
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None = None
    error: str | None = None


class AlertRepository(Protocol):
    def rules(self) -> dict[str, dict[str, Any]]:
        """Stored rule documents by name."""
        ...

    def set_rule(self, name: str, document: Mapping[str, Any], by: str, at: datetime) -> None: ...
    def states(self) -> dict[tuple[str, str], AlertState]:
        """(rule, journey id) → state."""
        ...

    def save_state(self, rule: str, journey_id: str, state: AlertState, at: datetime) -> None: ...
    def add_history(self, record: AlertRecord) -> None: ...
    def history(self, journey_id: str | None = None, limit: int = 100) -> list[AlertRecord]: ...
    def sent_between(self, start: datetime, end: datetime, journey_id: str | None = None,
                     with_tags: bool = False, within: timedelta | None = None) -> list[MessageOutcome]:
        """Journey messages handed to a provider in [start, end), with their outcomes so far (only those that came
        within ``within`` of the send, if given)."""
        ...

    def explain_cells(self, journey_id: str, periods: Sequence[tuple[datetime, datetime]], since: datetime,
                      metric: str, group: str, tag: str = "") -> list[ExplainCell]:
        """``sent_between(...)``'s messages of each period counted for ``metric`` (DAILY_METRICS) by ``group``
        (store/explain_sql.GROUPS), outcomes since ``since``: what ``MessageOutcome.counts`` sums to, in SQL."""
        ...

    def any_sent_since(self, since: datetime) -> bool:
        """Whether any journey message was handed to a provider since ``since``."""
        ...

    def window_outcomes(self, start: datetime, end: datetime) -> dict[str, tuple[int, int, int]]:
        """Journey id → (messages sent in [start, end), of them complained, of them hard-bounced)."""
        ...


    def add_notification(self, notification: AlertNotification) -> None: ...
    def due_notifications(self, now: datetime, limit: int) -> list[AlertNotification]:
        """Queued or failed notifications whose next attempt has come, oldest first."""
        ...

    def claim_notification(self, notification_id: str, now: datetime, lease_until: datetime) -> bool:
        """Take one due notification for a send attempt (attempts + 1, not due again before ``lease_until``);
        False when another worker took it or it was sent meanwhile."""
        ...

    def finish_notification(self, notification_id: str, status: str, at: datetime, error: str | None,
                            next_attempt_at: datetime) -> None: ...
    def notifications(self, limit: int = 100) -> list[AlertNotification]:
        """The newest notifications first."""
        ...
