"""Lifecycle stages and tiers on a virtual-clock timeline, through the worker's tick (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.lifecycle import stage_history
from touchflow.services.lifecycle_pass import refresh_all
from touchflow.services.tiers import set_tier_config
from touchflow.store.tables import contacts, event_inbox, events

N = 0


def send(app: Application, email: str, event_type: str, **props: Any) -> None:
    global N
    N += 1
    record_events(app.services, "web", [RawItem({"id": f"e{N}", "type": event_type, "email": email,
                                                 "properties": props})])


def tick(app: Application) -> None:
    JourneyRuntime(app.services).tick()


def contact_row(app: Application, email: str) -> Any:
    with app.services.reader() as uow:
        cid = resolve_contact_id(uow, f"email:{email}")
    with app.engine.connect() as c:
        return c.execute(select(contacts).where(contacts.c.id == cid)).one()


def stage_events(app: Application) -> list[tuple[str | None, str, str]]:
    with app.engine.connect() as c:
        rows = c.execute(select(events.c.properties).where(events.c.type == "stage_changed")
                         .order_by(events.c.received_at, events.c.id)).scalars()
        return [(p.get("from"), p["stage"], p["rule"]) for p in rows]


def test_each_default_stage_transition_through_dormancy_and_back(app: Application, clock: VirtualClock) -> None:
    who = "li.lei@stage.test"
    send(app, who, "page_view", url="https://x.test/")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "new_visitor"
    send(app, who, "signup", method="email")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "prospect"
    send(app, who, "content_download", content_id="wp1")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "prospect"  # one download is not intent
    clock.advance(timedelta(days=3))
    send(app, who, "content_download", content_id="wp2")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "intent"
    send(app, who, "order_paid", order_id="o1", amount=300)
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "customer"
    clock.advance(timedelta(days=89))  # 89 days after the order: not yet
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "customer"
    clock.advance(timedelta(days=2))  # the daily pass sees 91 days without an interaction
    tick(app)
    row = contact_row(app, who)
    assert row.lifecycle_stage == "dormant"
    assert row.lineage["lifecycle_stage"][0] == "touchflow:lifecycle"
    clock.advance(timedelta(hours=5))
    send(app, who, "page_view", url="https://x.test/back")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "customer"  # back to the stage it slept in
    assert stage_events(app) == [("new_visitor", "prospect", "signup"), ("prospect", "intent", "downloads_or_score"),
                                 ("intent", "customer", "order_paid"), ("customer", "dormant", "dormancy"),
                                 ("dormant", "customer", "returned")]
    _, history = stage_history(app.services, f"email:{who}")
    assert [(h.from_stage, h.stage, h.rule) for h in history] == [
        (None, "new_visitor", "initial"), ("new_visitor", "prospect", "signup"),
        ("prospect", "intent", "downloads_or_score"), ("intent", "customer", "order_paid"),
        ("customer", "dormant", "dormancy"), ("dormant", "customer", "returned")]
    assert history[-1].at == clock.now() and history[-2].at < history[-1].at


def test_a_high_score_makes_intent_and_a_journey_set_stage_is_noticed(app: Application, clock: VirtualClock) -> None:
    who = "han.mei@stage.test"
    send(app, who, "signup")
    for n in range(3):  # 10 (signup) + 3 × 20 (consults) = 70 ≥ 50
        send(app, who, "consult", topic=f"t{n}")
    tick(app)
    assert contact_row(app, who).lifecycle_stage == "intent"
    assert contact_row(app, who).custom["lead_score"] > 50
    assert ("prospect", "intent", "downloads_or_score") in stage_events(app)
    with app.services.uow() as uow:  # as a journey's update_contact or a person would
        cid = resolve_contact_id(uow, f"email:{who}")
        state = uow.contacts.load([cid])[cid]
        state.values["lifecycle_stage"] = "customer"
        uow.contacts.update([state], clock.now())
        uow.commit()
    clock.advance(timedelta(days=2))
    refresh_all(app.services)
    _, history = stage_history(app.services, cid)
    assert (history[-1].from_stage, history[-1].stage, history[-1].rule) == ("intent", "customer", "set_elsewhere")


def test_stage_changes_reach_the_inbox_so_journeys_can_trigger_on_them(app: Application) -> None:
    from touchflow.services.lifecycle_pass import refresh_touched

    send(app, "wei@stage.test", "signup")
    with app.engine.begin() as c:
        c.execute(event_inbox.delete())
    refresh_touched(app.services)
    with app.engine.connect() as c:
        assert list(c.execute(select(event_inbox.c.type)).scalars()) == ["stage_changed"]
    assert refresh_touched(app.services).contacts == 0  # our own stage_changed is not a new touch


def test_tiers_follow_the_configured_thresholds(app: Application, clock: VirtualClock) -> None:
    set_tier_config(app.services, {"activity": {"window": "30d", "high": 5, "medium": 2},
                                   "value": {"window": "365d", "vip_monetary": 1000, "vip_frequency": 3,
                                             "vip_recency": "90d"}}, actor="ops")
    for n in range(5):
        send(app, "busy@tier.test", "page_view", url=f"https://x.test/{n}")
    send(app, "busy@tier.test", "cart_abandoned", cart_id="c1", amount=99)
    send(app, "mid@tier.test", "page_view", url="https://x.test/a")
    send(app, "mid@tier.test", "content_download", content_id="wp")
    send(app, "mid@tier.test", "order_paid", order_id="m1", amount=200)
    send(app, "quiet@tier.test", "page_view", url="https://x.test/q")
    send(app, "vip@tier.test", "order_paid", order_id="v1", amount=800)
    send(app, "vip@tier.test", "order_paid", order_id="v2", amount=300)
    tick(app)
    tiers = {who: {k: contact_row(app, who).custom.get(k) for k in ("activity_tier", "buying_stage", "value_tier")}
             for who in ("busy@tier.test", "mid@tier.test", "quiet@tier.test", "vip@tier.test")}
    assert tiers == {
        "busy@tier.test": {"activity_tier": "高", "buying_stage": "决策", "value_tier": "潜在"},
        "mid@tier.test": {"activity_tier": "中", "buying_stage": "考虑", "value_tier": "普通"},
        "quiet@tier.test": {"activity_tier": "低", "buying_stage": "认知", "value_tier": "潜在"},
        "vip@tier.test": {"activity_tier": "中", "buying_stage": "认知", "value_tier": "VIP"},
    }
    assert contact_row(app, "vip@tier.test").lineage["custom.value_tier"][0] == "touchflow:tiers"
    clock.advance(timedelta(days=91))  # the VIP's last order is now too long ago; activity fades
    refresh_all(app.services)
    assert contact_row(app, "vip@tier.test").custom["value_tier"] == "普通"
    assert contact_row(app, "busy@tier.test").custom["activity_tier"] == "低"
