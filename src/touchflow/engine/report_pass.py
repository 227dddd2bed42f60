"""The worker's measurement chores: send scheduled reports once their period has closed, record each key result's
value once a local day (the goals' trend), and open the quarterly flow-review tasks once a quarter has closed.

Checked at most every ``every`` of clock time, so a busy worker pays nothing per tick.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from touchflow.channels.base import Attachment, Outgoing
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.services.alert_actions import SenderFor, deliver_alert_notifications
from touchflow.services.context import ServiceContext
from touchflow.services.goals import record_goal_values
from touchflow.services.periodic import Every
from touchflow.services.report_delivery import ReportEmail, ReportSender, deliver_due_reports
from touchflow.services.reports import workspace_zone_name
from touchflow.services.reviews import last_closed_quarter, open_reviews

__all__ = ["AlertNotifyPass", "ReportPass", "channel_sender"]

log = logging.getLogger(__name__)


def channel_sender(channels: ChannelRegistry, name: str = "email") -> ReportSender:
    """Send a report email through the configured email channel (one message per recipient, PDF attached)."""
    def send(email: ReportEmail) -> None:
        configured = channels.get(name)
        if configured is None or configured.kind == "capture":
            raise LookupError(f"no {name!r} channel is configured (touchflow channel set): reports not sent")
        attached = (Attachment(email.filename, "application/pdf", email.pdf),) if email.pdf else ()
        messages = [Outgoing(f"report-{email.kind}-{email.filename}-{i}", f"report:{email.filename}:{to}"[:120],
                             "", to, email.text, email.subject, email.html or None, attachments=attached)
                    for i, to in enumerate(email.to)]
        failed = [f"{d.message_id}: {d.error}" for d in configured.channel.send(messages) if d.status != "sent"]
        if failed:
            raise RuntimeError("report not sent to every recipient: " + "; ".join(failed))
    return send


class ReportPass:
    def __init__(self, ctx: ServiceContext, sender: ReportSender | None, every: timedelta = timedelta(minutes=5)
                 ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.gate = Every(ctx.clock, every)
        self._recorded: date | None = None
        self._quarter: str | None = None

    def __call__(self) -> int:
        now = self.gate.due()
        if now is None:
            return 0
        done = 0
        try:
            if self.sender is not None:
                done += deliver_due_reports(self.ctx, self.sender)
            today = now.astimezone(ZoneInfo(workspace_zone_name(self.ctx))).date()
            if self._recorded != today:
                done += record_goal_values(self.ctx)
                self._recorded = today
            quarter = last_closed_quarter(self.ctx)
            if self._quarter != quarter:
                done += len(open_reviews(self.ctx, quarter))
                self._quarter = quarter
        except Exception:  # never stop the worker for a report; the next check tries again
            log.exception("report pass failed")
        return done


class AlertNotifyPass:
    """Sends the alert notifications to staff (``services.alert_actions``) through the configured channel, like
    reports: at most every ``every``; a failed one is tried again later, a sent one never again."""

    def __init__(self, ctx: ServiceContext, sender_for: SenderFor, every: timedelta = timedelta(minutes=1)) -> None:
        self.ctx = ctx
        self.sender_for = sender_for
        self.gate = Every(ctx.clock, every)

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        try:
            return deliver_alert_notifications(self.ctx, self.sender_for)
        except Exception:  # never stop the worker for a notification; the next check tries again
            log.exception("alert notification pass failed")
            return 0
