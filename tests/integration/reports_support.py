"""A known scenario for report tests: one journey, runs, messages and message events written straight to the
tables at chosen local times (Asia/Shanghai), so every figure of the report is known in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from touchflow.bootstrap import Application
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import contacts, events, journey_runs, outbox, run_steps

SHANGHAI = ZoneInfo("Asia/Shanghai")

WELCOME = """
key: welcome
name: 新用户欢迎流程
trigger:
  event: signup
goal:
  event: order_paid
nodes:
  hello:
    kind: send
    channel: email
    template: welcome_email
    next: done
  done:
    kind: exit
"""


def local(day: int, hour: int = 10, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


class Scenario:
    def __init__(self, app: Application) -> None:
        self.app = app
        publish_journey(app.services, WELCOME, actor="test")
        with app.services.reader() as uow:
            journey = uow.journeys.get("welcome")
        assert journey is not None
        self.journey_id = journey.id
        self.n = 0

    def _contact(self, conn: Any, at: datetime) -> str:
        self.n += 1
        cid = f"c{self.n:05d}"
        conn.execute(insert(contacts).values(id=cid, created_at=at, updated_at=at, custom={}, lineage={}))
        return cid

    def runs(self, at: datetime, entered: int, converted: int = 0) -> None:
        with self.app.engine.begin() as conn:
            for i in range(entered):
                cid = self._contact(conn, at)
                conn.execute(insert(journey_runs).values(
                    id=f"run{self.n:05d}", journey_id=self.journey_id, version=1, contact_id=cid, node_id="done",
                    status="converted" if i < converted else "completed", entered_at=at,
                    updated_at=at + timedelta(hours=1), step_no=1, attempts=0))
                # the steps the engine writes, which the rollups count entries and conversions from
                steps = [("entry", at)] + ([("goal", at + timedelta(hours=1))] if i < converted else [])
                for kind, when in steps:
                    conn.execute(insert(run_steps).values(
                        run_id=f"run{self.n:05d}", contact_id=cid, journey_id=self.journey_id, node_id="hello",
                        kind=kind, edge=None, at=when, detail={}))

    def messages(self, at: datetime, sent: int, *, skipped: dict[str, int] | None = None, delivered: int = 0,
                 opened: int = 0, clicked: int = 0, template: str = "welcome_email") -> None:
        """``sent`` messages; the first ``delivered``/``opened``/``clicked`` of them get those events (a clicked
        message gets two click events and an open: unique counting must count it once)."""
        with self.app.engine.begin() as conn:
            for i in range(sent + sum((skipped or {}).values())):
                cid = self._contact(conn, at)
                mid = f"m{self.n:05d}"
                reason = None
                if i >= sent:
                    reason = [r for r, k in (skipped or {}).items() for _ in range(k)][i - sent]
                conn.execute(insert(outbox).values(
                    id=mid, idempotency_key=f"k{mid}", contact_id=cid, journey_id=self.journey_id, node_id="hello",
                    channel="email", template=template, payload={}, status="skipped" if reason else "sent",
                    attempts=1, created_at=at, updated_at=at, next_attempt_at=at, sent_at=None if reason else at,
                    reason=reason))
                props = {"message_id": mid, "journey_id": self.journey_id, "node_id": "hello", "template": template,
                         "channel": "email"}
                if reason:  # the dispatcher's lifecycle event of a guardrail skip
                    conn.execute(insert(events).values(
                        id=f"m_{mid}_skipped", contact_id=cid, type="message_skipped", occurred_at=at,
                        received_at=at, source="touchflow", properties={**props, "guardrail": reason}))
                    continue
                conn.execute(insert(events).values(id=f"m_{mid}_sent", contact_id=cid, type="message_sent",
                                                   occurred_at=at, received_at=at, source="touchflow",
                                                   properties=props))
                # email has no delivery receipts: a sent message not delivered bounced (delivered = sent − bounced)
                kinds = [("message_delivered", i < delivered), ("message_bounced", i >= delivered),
                         ("message_opened", i < opened), ("message_clicked", i < clicked),
                         ("message_clicked", i < clicked)]
                for n, (kind, happens) in enumerate(kinds):
                    if happens:
                        conn.execute(insert(events).values(
                            id=f"e{mid}_{n}", contact_id=cid, type=kind, occurred_at=at + timedelta(minutes=n + 1),
                            received_at=at, source="touchflow", properties=props))
