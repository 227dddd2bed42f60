"""What a triggered alert does beyond pausing: a notification to staff and a task about the journey (A4).

Both are written in the alert decision's own transaction (``queue_actions``), so a decision is never kept without
its actions nor the other way round. Notifications are sent later by the worker's ``AlertNotifyPass`` through the
configured channel, the same way scheduled reports are (``engine.report_pass.channel_sender``): claimed before the
send (so two workers never send one twice), retried after ``RETRY_AFTER`` on failure, at most ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from touchflow.domain.ids import IdFactory
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.alert_ports import AlertNotification
from touchflow.domain.measurement.alert_rules import AlertRule
from touchflow.domain.measurement.alerts import METRIC_LABELS, Decision
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

if TYPE_CHECKING:  # report_delivery → reports → alerts → here: the type only, the class at call time
    from touchflow.services.report_delivery import ReportSender

__all__ = ["ALERT_TASK_QUEUE", "ALERT_TASK_SLA", "LEASE", "MAX_ATTEMPTS", "RETRY_AFTER", "SenderFor",
           "alert_message", "alert_notifications", "deliver_alert_notifications", "queue_actions"]

ALERT_TASK_QUEUE = "marketing"
ALERT_TASK_SLA = timedelta(hours=24)
RETRY_AFTER = timedelta(minutes=30)
LEASE = timedelta(minutes=10)  # a claimed notification whose worker died is tried again after this
MAX_ATTEMPTS = 10

SenderFor = Callable[[str], "ReportSender"]  # channel name → a sender (engine.report_pass.channel_sender)


def _change(decision: Decision) -> str:
    return "—" if decision.change is None else f"{decision.change * 100:+.1f}%"


def alert_message(journey: JourneyRecord, rule: AlertRule, decision: Decision, paused: bool) -> tuple[str, str]:
    """(subject, body) in Chinese: the journey, the metric, its change and p-value, what was done, how to resume."""
    metric = METRIC_LABELS.get(decision.metric, (decision.metric, decision.metric))[0]
    p = "—" if decision.p_value is None else f"{decision.p_value:.2g}"
    done = "旅程已自动暂停" if paused else "旅程未暂停（仅通知）"
    subject = f"【Touchflow 告警】旅程「{journey.name}」{metric}异常（{_change(decision)}）"
    lines = [f"旅程：{journey.name}（{journey.key}）", f"规则：{rule.name}", f"指标：{metric}",
             f"变化：{_change(decision)}（相对基线）", f"p 值：{p}", f"说明：{decision.summary('zh')}",
             f"处理：{done}"]
    if paused:
        lines.append(f"排查后恢复：touchflow journey resume {journey.key}（或 POST /v1/journeys/{journey.key}/resume）")
    if decision.days:
        lines.append("逐日：" + "；".join(f"{d.day.isoformat()} {d.successes}/{d.trials}" for d in decision.days))
    return subject[:300], "\n".join(lines) + "\n"


def queue_actions(uow: UnitOfWork, ids: IdFactory, journey: JourneyRecord, rule: AlertRule, decision: Decision,
                  paused: bool, now: datetime) -> list[str]:
    """Queue the rule's notify and task actions in ``uow`` (the decision's transaction); returns notes."""
    notes: list[str] = []
    subject, body = alert_message(journey, rule, decision, paused)
    if "notify" in rule.actions and rule.recipients:
        channel = rule.notify.get("channel", "email")
        notification = AlertNotification(ids.new(now), rule.name, journey.id, channel, rule.recipients, subject, body,
                                         "queued", 0, now, now)
        uow.alerts.add_notification(notification)
        notes.append(f"notify {channel}:{','.join(rule.recipients)} queued ({notification.id})")
    if "task" in rule.actions:
        task = TaskRecord(ids.new(now), f"alert:{rule.name}:{journey.id}:{now.isoformat()}"[:120], None, None,
                          journey.id, None, ALERT_TASK_QUEUE, subject[:300], rule.assignee, "open", now,
                          now + ALERT_TASK_SLA)
        uow.journeys.add_tasks([task])
        notes.append(f"task {task.id} opened ({rule.assignee or ALERT_TASK_QUEUE})")
    return notes


def deliver_alert_notifications(ctx: ServiceContext, sender_for: SenderFor, limit: int = 100) -> int:
    """Send the due notifications; returns how many were sent. Each is claimed first, then marked sent or failed."""
    from touchflow.services.report_delivery import ReportEmail  # at call time: see the TYPE_CHECKING import

    now = ctx.clock.now()
    with ctx.reader() as uow:
        due = uow.alerts.due_notifications(now, limit)
    sent = 0
    for n in due:
        with ctx.uow() as uow:
            claimed = uow.alerts.claim_notification(n.id, now, now + LEASE)
            uow.commit()
        if not claimed:
            continue
        try:
            sender_for(n.channel)(ReportEmail("alert", n.rule, n.recipients, n.subject, n.body, "", b"", n.id))
            status, error, retry = "sent", None, now
            sent += 1
        except Exception as exc:  # recorded and retried later: the worker must not die on a notification
            error = f"{type(exc).__name__}: {exc}"[:2000]
            status, retry = ("failed", now + RETRY_AFTER) if n.attempts + 1 < MAX_ATTEMPTS else ("dead", now)
        with ctx.uow() as uow:
            uow.alerts.finish_notification(n.id, status, now, error, retry)
            uow.audit.record("system:alerts", f"alert.notify_{status}", n.id,
                             {"rule": n.rule, "channel": n.channel, "recipients": list(n.recipients),
                              "attempt": n.attempts + 1, "error": error}, now)
            uow.commit()
    return sent


def alert_notifications(ctx: ServiceContext, limit: int = 100) -> list[AlertNotification]:
    """The newest notifications to staff with their delivery state (queued, sent, failed, dead)."""
    with ctx.reader() as uow:
        return uow.alerts.notifications(limit)
