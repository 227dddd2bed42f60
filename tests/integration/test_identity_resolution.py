"""Identity resolution and merges against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import (
    ContactNotFound,
    find_contact_id,
    get_contact_profile,
    merge_contacts,
    patch_contact,
    search_contacts,
    suggest_duplicates,
)
from touchflow.services.ingest import RawItem, record_events, upsert_contacts


def items(*payloads: dict[str, object]) -> list[RawItem]:
    return [RawItem(p) for p in payloads]


def test_anonymous_visitor_merges_into_known_contact_on_signup(app: Application) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", items({"email": "Li.Lei@Example.cn", "name": "李雷", "company": "精工"}))
    record_events(ctx, "website", items({"type": "page_view", "anon": "v-9", "properties": {"url": "/a"}},
                                        {"type": "page_view", "anon": "v-9", "properties": {"url": "/b"}}))
    anon_id = find_contact_id(ctx, "anon:v-9")
    known_id = find_contact_id(ctx, "email:li.lei@example.cn")
    assert anon_id != known_id

    report = record_events(ctx, "website", items({"type": "signup", "anon": "v-9", "email": "li.lei@example.cn"}))
    assert report.merged == 1
    survivor = find_contact_id(ctx, "anon:v-9")
    assert survivor == find_contact_id(ctx, "email:li.lei@example.cn")
    assert find_contact_id(ctx, anon_id) == survivor and find_contact_id(ctx, known_id) == survivor
    profile = get_contact_profile(ctx, survivor)
    assert profile.event_count == 3  # every event kept
    assert {str(i.identity) for i in profile.identities} == {"anon:v-9", "email:li.lei@example.cn"}
    assert profile.state.values["name"] == "李雷"
    assert len(profile.merges) == 1 and "anon:v-9" in profile.merges[0].linked_by


def test_a_record_bridging_two_contacts_merges_them_with_the_policy(app: Application, clock: VirtualClock) -> None:
    ctx = app.services
    upsert_contacts(ctx, "website", items({"phone": "13800138000", "company": "网站公司", "city": "上海"}))
    clock.advance(timedelta(hours=1))
    upsert_contacts(ctx, "crm", items({"crm_id": "C-1", "company": "华东精密", "industry": "制造"}))
    clock.advance(timedelta(hours=1))
    report = upsert_contacts(ctx, "ecommerce", items({"crm_id": "C-1", "phone": "+86 138-0013-8000",
                                                      "age": "41"}))
    assert (report.created, report.merged) == (0, 1)
    profile = get_contact_profile(ctx, "phone:13800138000")
    values = profile.state.values
    assert values["company"] == "华东精密"  # crm (priority 100) beats website (50)
    assert values["city"] == "上海" and values["age"] == 41  # completed from the other sources
    assert profile.state.tags["manufacturing"].startswith("rule:")
    conflict = profile.merges[0].conflicts[0]
    assert (conflict.field, conflict.kept, conflict.dropped) == ("company", "华东精密", "网站公司")


def test_chain_merges_three_contacts_in_one_batch(app: Application) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", items({"email": "a@x.cn"}, {"phone": "13900000001"}, {"crm_id": "Z9"}))
    report = upsert_contacts(ctx, "crm", items({"email": "a@x.cn", "phone": "13900000001"},
                                               {"phone": "13900000001", "crm_id": "Z9"}))
    assert report.merged == 2
    ids = {find_contact_id(ctx, i) for i in ("email:a@x.cn", "phone:13900000001", "crm:Z9")}
    assert len(ids) == 1
    assert len(search_contacts(ctx)) == 1


def test_manual_edit_outranks_later_imports_and_is_audited(app: Application, clock: VirtualClock) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", items({"email": "c@x.cn", "job_title": "工程师"}))
    patch_contact(ctx, "email:c@x.cn", actor="sales:wang", attributes={"job_title": "总监", "vip_level": "gold"},
                  add_tags=["key_account"], reason="met at expo")
    clock.advance(timedelta(days=1))
    upsert_contacts(ctx, "crm", items({"email": "c@x.cn", "job_title": "高级工程师"}))
    state = get_contact_profile(ctx, "email:c@x.cn").state
    assert state.values["job_title"] == "总监"
    assert state.values["custom.vip_level"] == "gold"
    assert state.tags["key_account"] == "manual"
    assert state.tags["decision_maker"] == "rule:title-decision-maker"
    from sqlalchemy import select

    from touchflow.store.tables import audit_log
    with app.engine.connect() as c:
        rows = c.execute(select(audit_log.c.actor, audit_log.c.action)).all()
    assert ("sales:wang", "contact.patch") in [tuple(r) for r in rows]


def test_reimport_is_a_no_op_and_duplicate_events_are_not_stored_twice(app: Application) -> None:
    ctx = app.services
    batch = items({"email": "d@x.cn", "name": "周七", "city": "杭州"}, {"phone": "13700000000", "tags": "a,b"})
    first = upsert_contacts(ctx, "crm", batch)
    assert first.created == 2
    again = upsert_contacts(ctx, "crm", batch)
    assert (again.created, again.updated, again.merged) == (0, 0, 0)
    events = items({"id": "e-1", "type": "page_view", "email": "d@x.cn", "properties": {"url": "/"}},
                   {"id": "e-1", "type": "page_view", "email": "d@x.cn", "properties": {"url": "/"}})
    report = record_events(ctx, "website", events)
    assert (report.accepted, report.duplicates) == (1, 1)
    report = record_events(ctx, "website", events)
    assert (report.accepted, report.duplicates) == (0, 2)
    assert get_contact_profile(ctx, "email:d@x.cn").event_count == 1


def test_invalid_items_are_reported_kept_and_counted_per_source(app: Application) -> None:
    ctx = app.services
    report = record_events(ctx, "shop", items(
        {"type": "order_paid", "phone": "13600000000", "properties": {"order_id": "o1", "amount": 10}},
        {"type": "order_paid", "phone": "13600000000", "properties": {"order_id": "o2"}},
        {"type": "page_view", "properties": {"url": "/"}}))
    assert report.accepted == 1
    assert [(p.index, p.field) for p in report.rejected] == [(1, "properties.amount"), (2, "contact")]
    from touchflow.services.sources import list_sources

    shop = next(s for s in list_sources(ctx) if s.name == "shop")
    assert (shop.received, shop.accepted, shop.rejected) == (3, 1, 2)
    with app.engine.connect() as c:
        from sqlalchemy import func, select

        from touchflow.store.tables import rejects
        assert c.execute(select(func.count()).select_from(rejects)).scalar_one() == 2


def test_unsubscribe_event_withdraws_consent(app: Application) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", items({"email": "e@x.cn", "consent.email": "granted"}))
    record_events(ctx, "website", items({"type": "unsubscribe", "email": "e@x.cn",
                                         "occurred_at": "2026-03-03T00:00:00Z",
                                         "properties": {"channel": "email"}}))
    assert get_contact_profile(ctx, "email:e@x.cn").state.consents["email"].status == "denied"


def test_duplicate_suggestions_are_listed_and_merged_only_when_confirmed(app: Application) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", items({"email": "w1@x.cn", "name": "王建国", "company": "苏州精密机械有限公司",
                                       "city": "苏州"},
                                      {"phone": "13500000000", "name": "王建囯", "company": "苏州精密机械有限公司",
                                       "city": "苏州"}))
    found = suggest_duplicates(ctx, threshold=60)
    assert len(found) == 1
    assert len(search_contacts(ctx)) == 2  # not merged by itself
    survivor = merge_contacts(ctx, found[0].first, found[0].second, actor="ops", reason="same person")
    assert find_contact_id(ctx, "phone:13500000000") == survivor == find_contact_id(ctx, "email:w1@x.cn")


def test_unknown_identifier_is_not_found(app: Application) -> None:
    with pytest.raises(ContactNotFound):
        find_contact_id(app.services, "email:nobody@x.cn")
