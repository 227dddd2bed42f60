"""The monthly attack drill (P7): the whole breach procedure against a sandbox copy, each step timed.

The sandbox is a fresh SQLite store on a virtual clock (``bootstrap.open_sandbox``, as ``touchflow simulate``
uses): a broadcast is going out to ``people`` contacts when the incident is opened; the drill checks that the
kill switch stops it within one batch, computes who is affected, drafts the notices, has a second principal
approve them, marks the clocks done, lifts the switch and closes. The real workspace only gets the audit row
saying a drill ran, by whom, and how long each step took.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.domain.governance.incidents import STEPS
from touchflow.domain.governance.principals import Principal
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.engine.simulator import OpenStore
from touchflow.services.approvals import approve
from touchflow.services.content import save_template
from touchflow.services.context import ServiceContext
from touchflow.services.incidents import (
    affected_contacts,
    close_incident,
    draft_notifications,
    mark_step_done,
    open_incident,
    record_drill,
    resume_sending,
)
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey

__all__ = ["DrillReport", "DrillStep", "run_drill"]

T = TypeVar("T")
_BROADCAST = """
key: drill_broadcast
name: drill broadcast
trigger: {kind: event, event: drill_go}
start: send
nodes:
  send: {kind: send, channel: email, template: drill_news, next: done}
  done: {kind: exit}
"""
APPROVER = Actor("drill:second-approver")


@dataclass(frozen=True)
class DrillStep:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class DrillReport:
    started_at: datetime
    steps: list[DrillStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def document(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "ok": self.ok, "steps": [
            {"step": s.name, "ok": s.ok, "seconds": round(s.seconds, 4), "detail": s.detail} for s in self.steps]}


def _timed(report: DrillReport, name: str, work: Callable[[], tuple[bool, str, T]]) -> T:
    began = time.perf_counter()
    ok, detail, value = work()
    report.steps.append(DrillStep(name, ok, time.perf_counter() - began, detail))
    return value


def _approve_notices(sandbox: ServiceContext, incident_id: str, actor: Actor) -> tuple[bool, str, int]:
    """Requested by ``actor``, approved by a second principal (four eyes, as in a real incident)."""
    request = draft_notifications(sandbox, incident_id, actor=actor, channels=("sms", "email"))
    done = approve(sandbox, Principal.local_admin(APPROVER), request.id, note="drill")
    queued = int(done.result.get("queued", 0)) if done.state == "executed" else 0
    return done.state == "executed" and queued > 0, f"request {request.id} {done.state} by {APPROVER.id}: " \
        f"{queued} notices queued", queued


def run_drill(real: ServiceContext, *, actor: Actor, open_store: OpenStore, people: int = 200,
              batch_size: int = 50) -> DrillReport:
    """Run the drill in a throwaway sandbox and record it in ``real``'s audit log."""
    report = DrillReport(real.clock.now())
    with tempfile.TemporaryDirectory(prefix="touchflow-drill-") as tmp:
        clock = VirtualClock(real.clock.now())
        store = open_store(Path(tmp) / "drill.db", clock, batch_size)
        sandbox = store.services
        capture = ChannelRegistry.capture_all(("email", "sms"))
        dispatcher = Dispatcher(sandbox, batch_size=batch_size, channels=capture)
        try:
            _timed(report, "prepare", lambda: _prepare(store, sandbox, people))
            sent_before = _timed(report, "broadcast_started", lambda: _first_batch(dispatcher, capture))
            incident_id = _timed(report, "open_incident", lambda: _open(sandbox, actor))
            _timed(report, "broadcast_stopped", lambda: _stopped(dispatcher, capture, sent_before))
            _timed(report, "affected", lambda: _affected(sandbox, incident_id))
            _timed(report, "notices_approved", lambda: _approve_notices(sandbox, incident_id, actor))
            _timed(report, "clocks", lambda: _clocks(sandbox, clock, incident_id, actor))
            _timed(report, "resume_and_close", lambda: _close(sandbox, incident_id, actor))
        finally:
            dispatcher.close()
            store.close()
    record_drill(real, actor=actor, document=report.document())
    return report


def _prepare(store: Any, sandbox: ServiceContext, people: int) -> tuple[bool, str, None]:
    store.init_database()
    save_template(sandbox, "drill_news", "email", "演练", "{{ contact.name }}，演练消息。", "text", by="drill")
    publish_journey(sandbox, _BROADCAST, actor="drill")
    record_events(sandbox, "drill", [RawItem({"id": f"go{n}", "type": "drill_go", "email": f"p{n}@drill.test",
                                              "phone": f"+86139{n:08d}"}) for n in range(people)])
    JourneyRuntime(sandbox).tick()
    return True, f"{people} contacts, one broadcast queued", None


def _sent(capture: ChannelRegistry) -> int:
    return sum(getattr(c.channel, "count", 0) for c in capture.channels.values())


def _first_batch(dispatcher: Dispatcher, capture: ChannelRegistry) -> tuple[bool, str, int]:
    dispatcher.dispatch_batch()
    sent = _sent(capture)
    return sent > 0, f"{sent} sent before the breach was noticed", sent


def _open(sandbox: ServiceContext, actor: Actor) -> tuple[bool, str, str]:
    view = open_incident(sandbox, actor=actor, summary="演练：模拟数据泄露", revoke_access=True, drill=True)
    return view.kill_switch, f"incident {view.incident.id}, kill switch on", view.incident.id


def _stopped(dispatcher: Dispatcher, capture: ChannelRegistry, before: int) -> tuple[bool, str, None]:
    dispatcher.dispatch_all()
    after = _sent(capture)
    return after == before, f"{after - before} sent after the kill switch", None


def _affected(sandbox: ServiceContext, incident_id: str) -> tuple[bool, str, int]:
    found = affected_contacts(sandbox, incident_id)
    return bool(found), f"{len(found)} people affected", len(found)


def _clocks(sandbox: ServiceContext, clock: VirtualClock, incident_id: str, actor: Actor) -> tuple[bool, str, None]:
    for step in STEPS:
        clock.advance(timedelta(minutes=10))
        mark_step_done(sandbox, incident_id, step, actor=actor, note="drill")
    return True, "isolate, report, notify marked done within their deadlines", None


def _close(sandbox: ServiceContext, incident_id: str, actor: Actor) -> tuple[bool, str, None]:
    resumed = resume_sending(sandbox, actor=actor)
    closed = close_incident(sandbox, incident_id, actor=actor)
    late = [c.step for c in closed.clocks if c.state != "done"]
    return resumed == incident_id and not late, "kill switch lifted, incident closed" + (
        f"; late: {', '.join(late)}" if late else ""), None
