"""Segments on SQLite and PostgreSQL: dynamic from the condition language, static, nesting, preview equals
refresh, incremental freshness within one worker tick, entered/left events, segment-triggered journeys,
and the membership history."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.segments.model import SegmentError
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import (
    SegmentExists,
    add_members,
    contact_segment_history,
    create_segment,
    list_segments,
    preview_segment,
    refresh_segment,
    remove_members,
    segment_members,
)
from touchflow.store.tables import events, journey_runs, segment_dirty, segment_history

D = timedelta(days=1)
HOT_LEADS = {
    "key": "hot_leads", "name": "白皮书热度高、尚未购买", "kind": "dynamic",
    "condition": {"all": [
        {"event": "content_download", "count": ">= 2", "within": "30d"},
        {"no": "order_paid", "within": "90d"},
    ]},
}


def people(app: Application, *names: str, **attrs: str) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": f"{n}@seg.test", **attrs}) for n in names])


PROPS = {"content_download": {"content_id": "wp1"}, "order_paid": {"order_id": "o1", "amount": 100}}


def happen(app: Application, who: str, event_type: str, days_ago: float, clock: VirtualClock, n: int = 1) -> None:
    at = clock.now() - timedelta(days=days_ago)
    report = record_events(app.services, "web", [
        RawItem({"id": f"{who}-{event_type}-{at.isoformat()}-{i}", "type": event_type, "email": f"{who}@seg.test",
                 "occurred_at": (at + timedelta(seconds=i)).isoformat(), "properties": PROPS[event_type]})
        for i in range(n)])
    assert report.accepted == n, report.rejected


def cid(app: Application, who: str) -> str:
    return find_contact_id(app.services, f"email:{who}@seg.test")


def member_names(app: Application, key: str) -> set[str]:
    ids = {c: n for n in ("ann", "bob", "cai", "dan", "eve") for c in [_maybe_id(app, n)] if c}
    return {ids[c] for c, _ in segment_members(app.services, key)}


def _maybe_id(app: Application, who: str) -> str | None:
    try:
        return cid(app, who)
    except LookupError:
        return None


def membership_events(app: Application) -> list[tuple[str, str, str]]:
    names = {cid(app, n): n for n in ("ann", "bob", "cai", "dan", "eve") if _maybe_id(app, n)}
    with app.engine.connect() as c:
        rows = c.execute(select(events.c.type, events.c.contact_id, events.c.properties)
                         .where(events.c.type.in_(["segment_entered", "segment_left"])))
        return sorted((t, names[c_id], p["segment"]) for t, c_id, p in rows)


def seed_downloads(app: Application, clock: VirtualClock) -> None:
    people(app, "ann", "bob", "cai", "dan")
    happen(app, "ann", "content_download", 3, clock, n=2)  # in
    happen(app, "bob", "content_download", 3, clock, n=2)  # paid last month: out
    happen(app, "bob", "order_paid", 40, clock)
    happen(app, "cai", "content_download", 45, clock, n=3)  # downloads too old: out
    happen(app, "dan", "content_download", 1, clock)  # one download only: out


def test_a_dynamic_segment_with_an_event_count_in_a_window_and_an_absence(app: Application,
                                                                          clock: VirtualClock) -> None:
    seed_downloads(app, clock)
    preview = preview_segment(app.services, HOT_LEADS)
    summary = create_segment(app.services, HOT_LEADS, actor="市场部")
    assert summary.members == preview.count == 1 and preview.sample == [cid(app, "ann")]
    assert member_names(app, "hot_leads") == {"ann"}
    assert membership_events(app) == [("segment_entered", "ann", "hot_leads")]
    change = refresh_segment(app.services, "hot_leads")  # nothing changed: nothing written
    assert change.empty and membership_events(app) == [("segment_entered", "ann", "hot_leads")]
    with pytest.raises(SegmentExists):
        create_segment(app.services, HOT_LEADS, actor="市场部")
    assert [s.record.key for s in list_segments(app.services)] == ["hot_leads"]


def test_preview_count_equals_refresh_count_and_time_alone_moves_members(app: Application,
                                                                         clock: VirtualClock) -> None:
    seed_downloads(app, clock)
    create_segment(app.services, HOT_LEADS, actor="t")
    clock.advance(51 * D)  # bob's purchase is now 91 days old, but his downloads are 54 days old
    happen(app, "bob", "content_download", 0, clock, n=2)
    clock.advance(D)
    assert preview_segment(app.services, HOT_LEADS).count == 1
    change = refresh_segment(app.services, "hot_leads")
    assert {cid(app, "bob")} == change.entered and {cid(app, "ann")} == change.left
    assert len(list(segment_members(app.services, "hot_leads"))) == preview_segment(app.services, HOT_LEADS).count


def test_new_events_update_membership_within_one_worker_tick(app: Application, clock: VirtualClock) -> None:
    seed_downloads(app, clock)
    create_segment(app.services, HOT_LEADS, actor="t")
    happen(app, "dan", "content_download", 0, clock)  # dan's second download: enters
    happen(app, "ann", "order_paid", 0, clock)  # ann buys: leaves
    with app.engine.connect() as c:
        assert len(c.execute(select(segment_dirty)).all()) >= 2
    JourneyRuntime(app.services).tick()
    assert member_names(app, "hot_leads") == {"dan"}
    assert membership_events(app) == [("segment_entered", "ann", "hot_leads"), ("segment_entered", "dan", "hot_leads"),
                                      ("segment_left", "ann", "hot_leads")]
    with app.engine.connect() as c:
        assert c.execute(select(segment_dirty)).all() == []
    history = contact_segment_history(app.services, "email:ann@seg.test")
    assert [(h.segment_key, h.entered_at is not None, h.left_at == clock.now()) for h in history] == [
        ("hot_leads", True, True)]


def test_attribute_changes_and_nesting_with_a_static_segment(app: Application, clock: VirtualClock) -> None:
    people(app, "ann", "bob", city="上海")
    people(app, "cai", city="北京")
    create_segment(app.services, {"key": "vip_list", "name": "VIP 名单", "kind": "static"}, actor="t")
    nested = {"key": "shanghai_vip", "name": "上海 VIP", "condition": {"all": [
        {"attr": "city", "eq": "上海"}, {"in_segment": "vip_list"}]}}
    create_segment(app.services, nested, actor="t")
    assert member_names(app, "shanghai_vip") == set()
    added = add_members(app.services, "vip_list", ["email:ann@seg.test", "email:cai@seg.test", "email:nobody@x.cn"],
                        actor="销售")
    assert (added.entered, added.unknown) == (2, ["email:nobody@x.cn"])
    assert member_names(app, "vip_list") == {"ann", "cai"}
    JourneyRuntime(app.services).tick()  # the static change marked them: the nested segment follows
    assert member_names(app, "shanghai_vip") == {"ann"}
    clock.advance(timedelta(minutes=5))
    people(app, "cai", city="上海")  # an attribute change (newer, so it wins)
    JourneyRuntime(app.services).tick()
    assert member_names(app, "shanghai_vip") == {"ann", "cai"}
    remove_members(app.services, "vip_list", ["email:ann@seg.test"], actor="销售")
    JourneyRuntime(app.services).tick()
    assert member_names(app, "shanghai_vip") == {"cai"}
    assert preview_segment(app.services, nested).count == 1
    stays = contact_segment_history(app.services, "email:ann@seg.test")
    assert [(h.segment_key, h.left_at is None) for h in stays] == [
        ("vip_list", False), ("shanghai_vip", False)]  # both stays closed, in the order they began


def test_definitions_are_checked(app: Application) -> None:
    with pytest.raises(SegmentError, match=r"segment.condition.all\[0\].within"):
        preview_segment(app.services, {"key": "x", "name": "x", "condition": {"all": [{"no": "a", "within": "soon"}]}})
    with pytest.raises(SegmentError, match="unknown segment"):
        create_segment(app.services, {"key": "x", "name": "x", "condition": {"in_segment": "nope"}}, actor="t")
    with pytest.raises(SegmentError, match="journey run"):
        create_segment(app.services, {"key": "x", "name": "x", "condition": {"opened": "n1"}}, actor="t")


JOURNEY = """
key: welcome_hot_leads
name: 热线索跟进
trigger:
  segment: hot_leads
nodes:
  hello:
    kind: send
    channel: email
    template: hello
"""


def test_a_journey_with_a_segment_trigger_enters_the_contact_when_it_enters(app: Application,
                                                                           clock: VirtualClock) -> None:
    seed_downloads(app, clock)
    create_segment(app.services, HOT_LEADS, actor="t")
    JourneyRuntime(app.services).tick()  # ann entered (and was routed) before the journey existed: no run
    publish_journey(app.services, JOURNEY, actor="t")
    with app.engine.connect() as c:
        assert c.execute(select(journey_runs.c.contact_id)).all() == []
    happen(app, "dan", "content_download", 0, clock)
    JourneyRuntime(app.services).tick()  # dirty → segment_entered → journey entry, one tick
    with app.engine.connect() as c:
        assert [r[0] for r in c.execute(select(journey_runs.c.contact_id))] == [cid(app, "dan")]


def test_a_touched_contact_is_rechecked_only_by_segments_that_read_what_touched_it(app: Application,
                                                                                   clock: VirtualClock) -> None:
    create_segment(app.services, HOT_LEADS, actor="t")
    create_segment(app.services, {"key": "not_vip", "name": "非 VIP", "kind": "dynamic",
                                  "condition": {"not": {"tag": "vip"}}}, actor="t")
    people(app, "ann")
    JourneyRuntime(app.services).tick()
    assert cid(app, "ann") in {c for c, _ in segment_members(app.services, "not_vip")}
    # a page view touches ann: neither segment reads page views, so neither rechecks her …
    record_events(app.services, "web", [RawItem({"type": "page_view", "email": "ann@seg.test",
                                                 "properties": {"url": "https://x.cn/"}})])
    with app.engine.connect() as c:
        assert list(c.execute(select(segment_dirty.c.reason))) == [("page_view",)]
    # … downloads are read by hot_leads; a new contact created by an event is checked by every segment
    happen(app, "ann", "content_download", 1, clock, n=2)
    record_events(app.services, "web", [RawItem({"type": "page_view", "email": "newbie@seg.test",
                                                 "properties": {"url": "https://x.cn/"}})])
    JourneyRuntime(app.services).tick()
    assert cid(app, "ann") in {c for c, _ in segment_members(app.services, "hot_leads")}
    assert cid(app, "newbie") in {c for c, _ in segment_members(app.services, "not_vip")}
    # a person's edit is an attribute change: every segment looks
    from touchflow.services.contacts import patch_contact

    patch_contact(app.services, "email:ann@seg.test", actor="sales", add_tags=["vip"])
    JourneyRuntime(app.services).tick()
    assert cid(app, "ann") not in {c for c, _ in segment_members(app.services, "not_vip")}


RANDOM_SEGMENTS = [
    ("dl2", {"event": "content_download", "count": ">= 2", "within": "30d"}),
    ("active_no_order", {"all": [{"event": "page_view", "within": "30d"}, {"no": "order_paid", "within": "90d"}]}),
    ("few_downloads", {"event": "content_download", "count": "< 2"}),
    ("one_order", {"event": "order_paid", "count": "== 1"}),
    ("spent_200", {"sum": "order_paid.amount", "gte": 200}),
    ("not_regular", {"not": {"event": "page_view", "count": ">= 3"}}),
    ("dl2_not_active", {"all": [{"in_segment": "dl2"}, {"not": {"in_segment": "active_no_order"}}]}),
    ("nested_or_shanghai", {"any": [{"in_segment": "dl2_not_active"}, {"attr": "city", "eq": "上海"}]}),
]


def random_events(rnd: random.Random, names: list[str], prefix: str, n: int, days: float,
                  clock: VirtualClock) -> list[RawItem]:
    """Page views, downloads and orders (refunds among them) of the named people over the last ``days``."""
    items = []
    for i in range(n):
        kind = rnd.choice(["page_view", "content_download", "order_paid"])
        props = {"order_id": f"{prefix}-o{i}", "amount": rnd.choice([150, 90, -150])} if kind == "order_paid" \
            else {"content_id": "wp1"} if kind == "content_download" else {"url": "/"}
        items.append(RawItem({"id": f"{prefix}-{i}", "type": kind, "email": f"{rnd.choice(names)}@seg.test",
                              "occurred_at": (clock.now() - timedelta(days=rnd.uniform(0, days))).isoformat(),
                              "properties": props}))
    return items


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_drains_agree_with_a_full_evaluation_at_the_same_instant(app: Application, clock: VirtualClock,
                                                                            seed: int) -> None:
    """Each drain checks only what can move (non-members for "≥ n", members for "no …", nesting through the
    inner segments' changes in the same batch): after every round, each segment's members must equal what
    evaluating its condition for everyone says, including refunds (negative amounts) and nested negation."""
    from touchflow.services.segments import update_segments

    rnd = random.Random(seed)
    names = [f"p{i}" for i in range(14)]
    for name in names:
        people(app, name, city=rnd.choice(["上海", "北京"]))
    for key, condition in RANDOM_SEGMENTS:
        create_segment(app.services, {"key": key, "name": key, "condition": condition}, actor="t")
    for round_ in range(6):
        items = random_events(rnd, names, f"r{seed}-{round_}", 12, 100, clock)
        assert record_events(app.services, "web", items).accepted == len(items)
        people(app, rnd.choice(names), city=rnd.choice(["上海", "北京"]))
        clock.advance(timedelta(seconds=1))  # attribute edits win by time; windows move by a second only
        update_segments(app.services, max_refreshes=0)
        for key, condition in RANDOM_SEGMENTS:
            expected = preview_segment(app.services, {"key": key, "name": key, "condition": condition}, 100)
            assert {c for c, _ in segment_members(app.services, key, limit=100)} == set(expected.sample), (round_, key)


def test_a_merge_ends_the_losers_stays_and_passes_hand_picked_memberships_to_the_survivor(
        app: Application, clock: VirtualClock) -> None:
    from touchflow.services.contacts import merge_contacts

    people(app, "ann", "bob", city="上海")
    create_segment(app.services, {"key": "shanghai", "name": "上海", "condition": {"attr": "city", "eq": "上海"}},
                   actor="t")
    create_segment(app.services, {"key": "vip_list", "name": "VIP", "kind": "static"}, actor="t")
    add_members(app.services, "vip_list", ["email:bob@seg.test"], actor="销售")
    ann, bob = cid(app, "ann"), cid(app, "bob")
    clock.advance(timedelta(minutes=1))
    survivor = merge_contacts(app.services, "email:ann@seg.test", "email:bob@seg.test", actor="销售", reason="同一人")
    loser = bob if survivor == ann else ann
    assert {c for c, _ in segment_members(app.services, "shanghai")} == {survivor}  # at once, not next hour
    assert {c for c, _ in segment_members(app.services, "vip_list")} == {survivor}
    with app.engine.connect() as c:
        open_stays = c.execute(select(segment_history.c.contact_id).where(segment_history.c.left_at.is_(None))).all()
    assert loser not in {r[0] for r in open_stays}
    JourneyRuntime(app.services).tick()  # the survivor is rechecked; nothing changes for it
    assert {c for c, _ in segment_members(app.services, "shanghai")} == {survivor}


def test_a_segment_a_live_journey_reads_cannot_be_archived(app: Application, clock: VirtualClock) -> None:
    from touchflow.services.segments import SegmentInUse, archive_segment

    create_segment(app.services, HOT_LEADS, actor="t")
    publish_journey(app.services, JOURNEY, actor="t")
    with pytest.raises(SegmentInUse, match="journey welcome_hot_leads"):
        archive_segment(app.services, "hot_leads", actor="t")


ORDER_SEGMENTS = [
    ("buyers_90d", {"event": "order_paid", "within": "90d"}),
    ("repeat_buyers", {"event": "order_paid", "count": ">= 2", "within": "365d"}),
    ("spent_150", {"sum": "order_paid.amount", "gte": 150, "within": "365d"}),
    ("lapsed", {"all": [{"event": "order_paid", "within": "365d"}, {"no": "order_paid", "within": "30d"}]}),
    ("readers_not_buyers", {"all": [{"event": "content_download", "within": "30d"}, {"no": "order_paid"}]}),
]


def test_a_pass_over_segments_sharing_event_scans_equals_each_ones_preview(app: Application,
                                                                           clock: VirtualClock) -> None:
    """refresh_segments plans the pass: order leaves of five segments come from one scan (started on a
    second connection while the pass runs), and each segment still gets exactly what its preview says."""
    from touchflow.services.segments import refresh_segments

    seed_downloads(app, clock)
    for who, days in (("ann", 10), ("ann", 200), ("bob", 41), ("cai", 5), ("cai", 6), ("dan", 400)):
        happen(app, who, "order_paid", days, clock)
    for key, condition in ORDER_SEGMENTS:
        create_segment(app.services, {"key": key, "name": key, "condition": condition}, actor="t")
    clock.advance(timedelta(days=25))  # windows move: a pass has something to change
    changes = refresh_segments(app.services)
    assert set(changes) == {k for k, _ in ORDER_SEGMENTS}
    for key, condition in ORDER_SEGMENTS:
        expected = preview_segment(app.services, {"key": key, "name": key, "condition": condition}, 100)
        assert {c for c, _ in segment_members(app.services, key)} == set(expected.sample), key
    assert member_names(app, "lapsed") == {"ann", "bob", "cai"}  # cai's orders are 30+ days old now
    assert member_names(app, "repeat_buyers") == {"ann", "bob", "cai"}


def test_a_full_recompute_a_few_contacts_at_a_time_equals_one_over_everyone(
        app: Application, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduled pass evaluates one contact-id range at a time so its memory follows the range, not the
    population (ADR 0068): in ranges of three contacts, windows, absences, sums and nesting (an inner
    segment's fresh members read range by range) must come out as one pass over everyone says."""
    import touchflow.store.segments as store_segments
    from touchflow.services.segments import refresh_segments
    from touchflow.store.segment_sets import contact_ranges

    rnd = random.Random(7)
    names = [f"p{i}" for i in range(14)]
    for name in names:
        people(app, name, city=rnd.choice(["上海", "北京"]))
    for key, condition in RANDOM_SEGMENTS:
        create_segment(app.services, {"key": key, "name": key, "condition": condition}, actor="t")
    before = {key: {c for c, _ in segment_members(app.services, key, limit=100)} for key, _ in RANDOM_SEGMENTS}
    items = random_events(rnd, names, "ranged", 60, 60, clock)
    assert record_events(app.services, "web", items).accepted == len(items)
    clock.advance(timedelta(days=20))  # windows move too
    expected = {key: set(preview_segment(app.services, {"key": key, "name": key, "condition": condition}, 100).sample)
                for key, condition in RANDOM_SEGMENTS}
    assert any(expected[key] != before[key] for key in expected)  # the pass has work to do
    with app.engine.connect() as c:
        ranges = contact_ranges(c, 3)
    assert len(ranges) == 5 and ranges[0][0] is None and ranges[-1][1] is None  # 14 contacts, 3 a range
    monkeypatch.setattr(store_segments, "RANGE_CONTACTS", 3)
    refresh_segments(app.services)
    for key, _ in RANDOM_SEGMENTS:
        assert {c for c, _ in segment_members(app.services, key, limit=100)} == expected[key], key
