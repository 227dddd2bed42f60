"""The console's aggregate reads rewritten for 1M contacts give what the row-by-row reads gave: a journey's
deliveries by channel (from the events' message columns), the lifecycle overview (one aggregate)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journeys import publish_journey
from touchflow.services.lifecycle_overview import stage_overview
from touchflow.store.tables import contacts, events, stage_history

JOURNEY = ("key: welcome\nname: 欢迎\ntrigger: {event: signup}\nnodes:\n  hello: {kind: send, channel: email, "
           "template: t, next: done}\n  done: {kind: exit}\n")


def test_deliveries_by_channel_count_only_the_journeys_own(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, JOURNEY, actor="test")
    publish_journey(app.services, JOURNEY.replace("welcome", "other"), actor="test")
    with app.services.reader() as uow:
        ids = {key: uow.journeys.get(key).id for key in ("welcome", "other")}  # type: ignore[union-attr]
    now = clock.now()
    rows = []
    for i, (journey, channel, kind) in enumerate([
            ("welcome", "email", "message_delivered"), ("welcome", "email", "message_delivered"),
            ("welcome", "sms", "message_delivered"), ("welcome", "sms", "message_opened"),
            ("other", "email", "message_delivered"), ("welcome", "", "message_delivered")]):
        props = {"message_id": f"m{i}", "journey_id": ids[journey], "node_id": "hello"}
        if channel:
            props["channel"] = channel
        rows.append({"id": f"e{i}", "contact_id": "c1", "type": kind, "occurred_at": now, "received_at": now,
                     "source": "touchflow", "properties": props})
    with app.engine.begin() as c:  # around the repository: the trigger fills the message columns
        c.execute(insert(contacts).values(id="c1", created_at=now, updated_at=now, custom={}, lineage={}))
        c.execute(insert(events), rows)
    with app.services.reader() as uow:
        assert uow.journeys.delivered_by_channel(ids["welcome"]) == {"email": 2, "sms": 1}
        assert uow.journeys.delivered_by_channel(ids["other"]) == {"email": 1}


def test_lifecycle_overview_counts_latest_moves_of_live_contacts(app: Application, clock: VirtualClock) -> None:
    now = clock.now()
    with app.engine.begin() as c:
        c.execute(insert(contacts), [{"id": f"c{i}", "created_at": now, "updated_at": now, "custom": {},
                                      "lineage": {}} for i in range(6)])
        moves = [("c0", "prospect", None, 60), ("c0", "customer", "prospect", 2),  # latest: a move 2 days ago
                 ("c1", "prospect", None, 1), ("c2", "prospect", None, 45),  # a first stage, then an old one
                 ("c3", "intent", "prospect", 3), ("c4", "customer", None, 1)]  # c4 is merged away below
        c.execute(insert(stage_history), [{"contact_id": cid, "stage": stage, "from_stage": before,
                                           "at": now - timedelta(days=ago), "rule": "r", "by": "test"}
                                          for cid, stage, before, ago in moves])
        c.execute(update(contacts).where(contacts.c.id == "c4").values(merged_into="c0"))
    overview = stage_overview(app.services, days=30)
    assert overview.counts == [("prospect", 2), ("customer", 1), ("intent", 1)]
    assert overview.without_stage == 1  # c5
    assert overview.flows == [("", "prospect", 1), ("prospect", "customer", 1), ("prospect", "intent", 1)]


def test_live_count_of_attributes_and_tags_is_the_computed_membership(app: Application,
                                                                      clock: VirtualClock) -> None:
    from touchflow.services.segments import create_segment, preview_segment, segment_members
    from touchflow.store.tables import contact_tags

    now = clock.now()
    cities, ages = ["上海", "北京", None], [25, 45, 70, None]
    with app.engine.begin() as c:
        c.execute(insert(contacts), [{"id": f"c{i:02d}", "created_at": now, "updated_at": now, "city": cities[i % 3],
                                      "age": ages[i % 4], "custom": {}, "lineage": {}} for i in range(36)])
        c.execute(insert(contact_tags), [{"contact_id": f"c{i:02d}", "tag": "vip", "set_by": "t"}
                                         for i in range(0, 36, 5)])
        c.execute(update(contacts).where(contacts.c.id == "c01").values(merged_into="c00"))
    for n, condition in enumerate([
            {"all": [{"attr": "city", "eq": "上海"}, {"attr": "age", "gte": 40}]},
            {"any": [{"attr": "city", "eq": "北京"}, {"tag": "vip"}]},
            {"attr": "age", "lt": 50}]):
        preview = preview_segment(app.services, {"key": f"p{n}", "name": "p", "condition": condition}, sample=5)
        create_segment(app.services, {"key": f"s{n}", "name": "s", "condition": condition}, actor="test")
        members = [cid for cid, _ in segment_members(app.services, f"s{n}", limit=100)]
        assert preview.count == len(members) and preview.count > 0
        assert preview.sample == members[:5]
