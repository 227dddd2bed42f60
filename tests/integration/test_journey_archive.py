"""Archived journeys (ADR 0051) on SQLite and PostgreSQL: the archived list says who archived each journey, when and
why (from the archive's audit row); restoring brings a journey back paused — its stopped runs stay stopped, no
contact enters until it is resumed — with a reason and one ``journey.restore`` audit row; a journey that is not
archived, a missing one and a missing reason are refused naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.test_console_journey_runs import seed
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journey_archive import archived_journeys, restore_journey
from touchflow.services.journeys import JourneyError, journey_stats, publish_journey, set_journey_status

OTHER = """
key: other
name: 其他旅程
trigger:
  event: signup
nodes:
  done:
    kind: exit
"""


def test_archived_journeys_say_who_when_and_why_and_restore_comes_back_paused(app: Application,
                                                                            clock: VirtualClock) -> None:
    seed(app, clock)
    publish_journey(app.services, OTHER, actor="test")
    assert archived_journeys(app.services) == []
    set_journey_status(app.services, "nurture", "archived", actor="user:u1 (李娜)", reason="活动结束")
    archived_at = clock.now()
    clock.advance(timedelta(hours=2))
    set_journey_status(app.services, "other", "archived", actor="user:u2 (王管理)", reason="重复的旅程")
    found = archived_journeys(app.services)
    assert [(a.journey.key, a.archived_by, a.reason) for a in found] == [
        ("other", "user:u2 (王管理)", "重复的旅程"), ("nurture", "user:u1 (李娜)", "活动结束")]  # newest first
    assert found[1].archived_at == archived_at
    assert journey_stats(app.services, "nurture").runs_by_status == {"exited": 2}

    restored = restore_journey(app.services, "nurture", actor="user:u1 (李娜)", reason="活动延期")
    assert restored.status == "paused" and restored.status_reason == "活动延期"
    assert [a.journey.key for a in archived_journeys(app.services)] == ["other"]
    assert journey_stats(app.services, "nurture").runs_by_status == {"exited": 2}  # stopped runs stay stopped
    with app.services.reader() as uow:
        [row] = uow.audit.search(AuditQuery(action="journey.restore"), 10)
    assert row.subject == "nurture" and row.details == {"reason": "活动延期", "status": "paused"}
    assert audit_actors(app, "journey.restore") == ["user:u1 (李娜)"]

    record_events(app.services, "website", [RawItem({"id": "late", "type": "signup", "phone": "13812340009",
                                                     "occurred_at": clock.now().isoformat()})])
    JourneyRuntime(app.services).tick()
    assert journey_stats(app.services, "nurture").runs_by_status == {"exited": 2}  # paused: nobody enters
    set_journey_status(app.services, "nurture", "active", actor="test")  # a person resumes it on purpose
    publish_journey(app.services, OTHER.replace("key: other", "key: nurture"), actor="test")  # versions work again


def test_restore_refuses_what_it_cannot_do(app: Application, clock: VirtualClock) -> None:
    seed(app, clock)
    with pytest.raises(JourneyError, match="not archived"):
        restore_journey(app.services, "nurture", actor="test", reason="为什么")
    set_journey_status(app.services, "nurture", "archived", actor="test", reason="结束")
    with pytest.raises(JourneyError, match=r"^reason: say why"):
        restore_journey(app.services, "nurture", actor="test", reason="  ")
    with pytest.raises(JourneyError, match=r"^reason: at most 500"):
        restore_journey(app.services, "nurture", actor="test", reason="长" * 501)
    with pytest.raises(JourneyError, match="no journey"):
        restore_journey(app.services, "nope", actor="test", reason="x")
    assert [a.journey.key for a in archived_journeys(app.services)] == ["nurture"]
    assert audit_actors(app, "journey.restore") == []
