"""A tick asks how much waits in the inbox and the segment queue, counted up to what it can take: behind a
backlog of millions (an hour-long soak on PostgreSQL reached 3.7 million inbox rows) a full count read the whole
queue every tick, and each tick got slower as the worker fell behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from touchflow.bootstrap import Application
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment

QUEUES = ("event_inbox", "segment_dirty")
JOURNEY = """
key: viewed
name: 看过页面
trigger: {event: page_view}
nodes:
  done: {kind: exit}
"""


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_tick_counts_its_queues_only_as_far_as_it_can_take(app: Application) -> None:
    publish_journey(app.services, JOURNEY, actor="test")
    create_segment(app.services, {"key": "viewers", "name": "看过页面", "kind": "dynamic",
                                  "condition": {"event": "page_view", "count": ">= 1"}}, actor="test")
    report = record_events(app.services, "website", [RawItem({
        "id": f"v{k}", "type": "page_view", "email": f"p{k}@x.cn", "occurred_at": app.services.clock.now().isoformat(),
        "properties": {"url": "https://shop.example.cn/"}}) for k in range(30)])
    assert report.accepted == 30, report.rejected
    runtime = JourneyRuntime(app.services, batch_size=10, tick_limit=10)
    with app.services.reader() as uow:
        assert uow.journeys.inbox_size() == 30 and uow.journeys.inbox_size(7) == 7
        assert uow.segments.dirty_size(5) == 5
    with statements(app.engine) as seen:
        runtime.next_due()
        runtime.tick()
    counts = [s for s in seen if "count(" in s.lower() and any(q in s for q in QUEUES)]
    assert {q for q in QUEUES if any(q in s for s in counts)} == set(QUEUES)  # it does look at both
    unbounded = [s for s in counts if "LIMIT" not in s.upper()]
    assert unbounded == []
