"""Scheduled report delivery: after a period closes (and the configured local hour has come), the worker renders
the report of that period and sends it, PDF attached, to a recipient list through the email channel. Each kind and
period is sent once (``report_deliveries``); a failed send is tried again an hour later."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.measurement.report_model import PERIOD_KINDS, ReportData, last_closed
from touchflow.domain.measurement.report_ports import ReportDelivery
from touchflow.domain.normalize import normalise_email
from touchflow.reports.labels import LANGUAGES, catalog
from touchflow.reports.render import render_html, render_pdf
from touchflow.services.context import ServiceContext
from touchflow.services.reports import build_report, workspace_zone_name

__all__ = ["RETRY_AFTER", "SCHEDULE_KEY", "ReportEmail", "ReportSchedule", "ReportSender", "deliver_due_reports",
           "render_report_email", "report_schedule", "set_report_schedule"]

SCHEDULE_KEY = "report_schedule"
RETRY_AFTER = timedelta(hours=1)
MAX_RECIPIENTS = 50


@dataclass(frozen=True)
class ReportSchedule:
    recipients: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # daily | weekly | monthly
    channel: str = "email"
    lang: str = "zh-CN"
    hour: int = 8  # local hour after the period's close at which it is sent

    def document(self) -> dict[str, Any]:
        return {"recipients": list(self.recipients), "kinds": list(self.kinds), "channel": self.channel,
                "lang": self.lang, "hour": self.hour}


@dataclass(frozen=True)
class ReportEmail:
    kind: str
    period_label: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    pdf: bytes
    filename: str


ReportSender = Callable[[ReportEmail], None]  # raises on failure (the message names why)


def _parse(document: Mapping[str, Any]) -> ReportSchedule:
    raw = document.get("recipients") or []
    if not isinstance(raw, list) or len(raw) > MAX_RECIPIENTS:
        raise ValueError(f"recipients: a list of at most {MAX_RECIPIENTS} email addresses")
    try:
        recipients = tuple(dict.fromkeys(normalise_email(str(r)) for r in raw))
    except ValueError as exc:
        raise ValueError(f"recipients: {exc}") from None
    kinds = document.get("kinds") or []
    if not isinstance(kinds, list) or any(k not in PERIOD_KINDS for k in kinds):
        raise ValueError(f"kinds: a list of {', '.join(PERIOD_KINDS)}")
    lang = str(document.get("lang") or "zh-CN")
    if lang not in LANGUAGES:
        raise ValueError(f"lang: one of {', '.join(LANGUAGES)}")
    hour = document.get("hour", 8)
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        raise ValueError("hour: a local hour 0–23")
    channel = str(document.get("channel") or "email")
    if kinds and not recipients:
        raise ValueError("recipients: name at least one address to send reports to")
    return ReportSchedule(recipients, tuple(dict.fromkeys(kinds)), channel, lang, hour)


def report_schedule(ctx: ServiceContext) -> ReportSchedule:
    with ctx.reader() as uow:
        stored = uow.guards.setting(SCHEDULE_KEY)
    return _parse(stored) if stored else ReportSchedule()


def set_report_schedule(ctx: ServiceContext, document: Mapping[str, Any], *, actor: Actor) -> ReportSchedule:
    """Validate and store who receives which reports (``ValueError`` names the field); audited."""
    schedule = _parse(document)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.guards.set_setting(SCHEDULE_KEY, schedule.document(), actor.label, now)
        uow.audit.record(actor.label, "reports.schedule", SCHEDULE_KEY, schedule.document(), now)
        uow.commit()
    return schedule


def render_report_email(data: ReportData, lang: str, to: Sequence[str]) -> ReportEmail:
    words = catalog(lang)
    title = words[f"title.{data.period.kind}"]
    html = render_html(data, lang)
    pdf = render_pdf(html)
    lines = [f"{title} · {data.period.label}", ""]
    lines += [f"{words.get('kpi.' + k.key, k.key)}: " + ("—" if k.value is None else
              (f"{k.value:.1%}" if k.kind == "rate" else f"{k.value:,.0f}")) for k in data.kpis]
    slug = data.period.first_day.isoformat()
    return ReportEmail(data.period.kind, data.period.label, tuple(to), f"{title} {data.period.label}",
                       "\n".join(lines) + "\n", html, pdf, f"touchflow-{data.period.kind}-{slug}.pdf")


def deliver_due_reports(ctx: ServiceContext, send: ReportSender, *, schedule: ReportSchedule | None = None,
                        build: Callable[[ServiceContext, str], ReportData] | None = None) -> int:
    """Send every scheduled report whose period has closed and that was not sent yet; returns how many were sent."""
    schedule = schedule or report_schedule(ctx)
    if not schedule.kinds or not schedule.recipients:
        return 0
    now = ctx.clock.now()
    zone = workspace_zone_name(ctx)
    sent = 0
    for kind in schedule.kinds:
        period = last_closed(kind, now, zone)
        if now < period.end + timedelta(hours=schedule.hour):
            continue
        with ctx.reader() as uow:
            done = uow.reports.delivery(kind, period.first_day)
        if done is not None and (done.status == "sent" or now - done.sent_at < RETRY_AFTER):
            continue
        try:
            data = build(ctx, kind) if build is not None else build_report(ctx, kind, period.first_day)
            send(render_report_email(data, schedule.lang, schedule.recipients))
            status, detail = "sent", ""
            sent += 1
        except Exception as exc:  # recorded and retried later; a worker must not die on a report
            status, detail = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        with ctx.uow() as uow:
            uow.reports.record_delivery(ReportDelivery(kind, period.first_day, now, schedule.recipients, status,
                                                       detail))
            uow.audit.record("touchflow", f"report.{status}", f"report:{kind}:{period.first_day.isoformat()}",
                             {"recipients": list(schedule.recipients), "detail": detail}, now)
            uow.commit()
    return sent

