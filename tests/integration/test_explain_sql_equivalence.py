"""``explain`` counted in SQL (ADR 0056) gives exactly what the message-by-message algorithm gave, on SQLite and
PostgreSQL: every metric by every dimension over a generated workspace — three journeys, templates (none and ""
among them), two channels, run versions and runs gone, tagged and untagged contacts, odd addresses — whose
messages have no outcome, duplicate outcomes, outcomes before the periods, hard bounces written three ways,
``complaint`` events naming their message only in the properties, devices and user agents on opens and clicks;
send hours in zones whose clocks move inside the periods (daylight saving, half-hour shifts, an offset of
44 min 30 s that sends the count to its by-the-second path)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from tests.integration.explain_reference import reference_explain
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.guardrails.model import GuardrailPolicy
from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.services import explain as explain_module
from touchflow.services.explain import explain
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import contact_tags, events, journey_runs, journeys, outbox

DIMENSIONS = ("send_hour", "template", "version", "channel", "provider", "device", "tag:vip", "tag: lapsed ")
ADDRESSES = ("Zhang@QQ.com", "li@foxmail.com", "wang@126.com", "a@b@163.com", " x@Gmail.COM ", "no-at-sign", "",
             None, "trailing@", "+8613800000000")
STATUSES = ("sent", "sent", "sent", "sending", "failed", "dead", "queued", "skipped")


def _workspace(app: Application, first: datetime, days: int, seed: int) -> None:
    """Messages sent over ``days`` from ``first`` by three journeys, with outcomes of every kind."""
    rng = random.Random(seed)
    report = upsert_contacts(app.services, "t", [RawItem({"email": f"c{n}@equiv.test"}) for n in range(12)])
    who = [c for c in report.contact_ids if c is not None]
    tags = [{"contact_id": c, "tag": tag, "set_by": "t"} for n, c in enumerate(who)
            for tag, every in (("vip", 3), ("lapsed", 4), ("vip2", 2)) if n % every == 0]
    runs: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    journey_ids = ("ja", "jb", "jc")
    for n in range(4):
        runs.append({"id": f"r{n}", "journey_id": "ja", "version": 1 + n % 3, "contact_id": who[n],
                     "node_id": "mail", "status": "active", "entered_at": first, "updated_at": first,
                     "step_no": 1, "attempts": 0})

    def event(mid: str, kind: str, at: datetime, props: dict[str, Any]) -> None:
        at = at + timedelta(microseconds=len(outcomes))  # never two outcomes at the same instant
        outcomes.append({"id": f"e{len(outcomes)}", "contact_id": who[0], "type": kind, "occurred_at": at,
                         "received_at": at, "source": "t", "properties": {"message_id": mid, **props}})

    for n in range(420):
        mid = f"m{n:04d}"
        at = first + timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6))
        if n % 37 == 0:  # on the hour, exactly: a bucket's first instant
            at = at.replace(minute=0, second=0, microsecond=0)
        messages.append({"id": mid, "idempotency_key": mid, "contact_id": rng.choice(who),
                         "journey_id": journey_ids[n % 3] if n % 11 else "ja", "node_id": "mail",
                         "channel": rng.choice(("email", "email", "sms")),
                         "template": rng.choice(("t1", "t2", "t2@3", None, "")),
                         "payload": {}, "status": rng.choice(STATUSES), "attempts": 1, "created_at": at,
                         "updated_at": at, "next_attempt_at": at, "sent_at": at,
                         "address": rng.choice(ADDRESSES),
                         "run_id": rng.choice(("r0", "r1", "r2", "r3", None, "gone"))})
        if n % 5 == 0:
            continue  # no outcome at all

        def later(sent: datetime = at) -> datetime:
            return sent + timedelta(minutes=rng.randrange(1, 3000))

        base = {"journey_id": "ja", "channel": "email"}
        if rng.random() < 0.2:
            event(mid, "message_bounced", later(), {**base, "hard": rng.choice((True, False, "true", 1, None))})
            if rng.random() < 0.3:
                event(mid, "message_bounced", later(), {**base, "hard": True})  # a second bounce
        else:
            event(mid, "message_delivered", later(), base)
        for _ in range(rng.choice((0, 1, 1, 2, 3))):  # opens, duplicates among them
            event(mid, "message_opened", later(), {**base, **rng.choice(
                ({}, {"device": "mobile"}, {"device": ""}, {"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"},
                 {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "device": "desktop"},
                 {"user_agent": ""}, {"device": "tablet"}))})
        for _ in range(rng.choice((0, 0, 1, 2))):
            event(mid, "message_clicked", later(), {**base, **rng.choice(({}, {"device": "desktop"}, {"device": ""}))})
        for kind in ("message_unsubscribed", "message_complained", "complaint"):
            if rng.random() < 0.12:
                event(mid, kind, later(), base)
        if rng.random() < 0.15:  # outcomes dated before the periods (clock skew, replays): never counted
            event(mid, rng.choice(("message_opened", "message_clicked", "message_bounced", "complaint",
                                   "message_unsubscribed")), first - timedelta(days=3), {**base, "hard": True})
    # events that name no message of ours, or none at all
    event("elsewhere", "message_opened", first + timedelta(days=1), {"device": "mobile"})
    outcomes.append({"id": "m0003", "contact_id": who[0], "type": "complaint", "occurred_at": first,
                     "received_at": first, "source": "t", "properties": {}})
    with app.engine.begin() as c:
        c.execute(insert(journeys), [{"id": j, "key": j, "name": j, "status": "active", "current_version": None,
                                      "created_at": first, "updated_at": first} for j in journey_ids])
        c.execute(insert(journey_runs), runs)
        c.execute(insert(contact_tags), tags)
        c.execute(insert(outbox), messages)
        c.execute(insert(events), outcomes)


def _compare(app: Application, zone: str, dimensions: tuple[str, ...], journey: str,
             periods: list[tuple[datetime, datetime, datetime, datetime]],
             monkeypatch: pytest.MonkeyPatch) -> int:
    """Both algorithms on every metric × dimension × period pair; returns how many segments were compared."""
    monkeypatch.setattr(explain_module, "guardrail_policy", lambda _: GuardrailPolicy(default_timezone=zone))
    compared = 0
    for metric in DAILY_METRICS:
        for by in dimensions:
            for base_start, base_end, start, end in periods:
                found = explain(app.services, metric, journey, start, end, by=by, base_start=base_start,
                                base_end=base_end)
                with app.services.reader() as uow:
                    wanted = reference_explain(uow, ZoneInfo(zone), metric, journey, start, end, base_start,
                                               base_end, by)
                assert found == wanted, (metric, by, zone, start)
                compared += len(found.result.segments)
    return compared


def test_every_metric_by_every_dimension_as_before(app: Application, clock: VirtualClock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    now = clock.now()
    _workspace(app, now - timedelta(days=10), 20, seed=56)
    periods = [(now - timedelta(days=7), now, now, now + timedelta(days=7)),  # back to back
               (now - timedelta(days=9), now + timedelta(days=2), now - timedelta(days=1), now + timedelta(days=9)),
               (now + timedelta(days=3), now + timedelta(days=9), now - timedelta(days=9), now - timedelta(days=2))]
    compared = _compare(app, "Asia/Shanghai", DIMENSIONS, "ja", periods, monkeypatch)
    assert compared > 400  # the workspace gave every dimension several segments to compare
    found = explain(app.services, "open_rate", "ja", now, now + timedelta(days=7), by="provider")
    assert {s.key for s in found.result.segments} >= {"qq.com", "163.com", "gmail.com", "(none)"}
    assert {s.key for s in explain(app.services, "click_rate", "ja", now, now + timedelta(days=7),
                                   by="device").result.segments} >= {"mobile", "desktop"}


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_send_hours_across_a_clock_change(app: Application, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch,
                                          zone: str) -> None:
    # New York moves its clocks on 8 March 2026, Lord Howe (by half an hour) on 5 April; Kathmandu is +5:45
    first = datetime(2026, 3, 1, tzinfo=UTC)
    _workspace(app, first, 45, seed=7)
    periods = [(first, first + timedelta(days=20), first + timedelta(days=20), first + timedelta(days=45))]
    assert _compare(app, zone, ("send_hour",), "jb", periods, monkeypatch) > 5 * 20  # most of the 24 hours, each metric


def test_send_hours_in_an_offset_no_quarter_hour_holds(app: Application, monkeypatch: pytest.MonkeyPatch) -> None:
    # Monrovia kept -0:44:30 until 1972: its local hours start mid-quarter, so the count is by the second
    first = datetime(1971, 6, 1, tzinfo=UTC)
    _workspace(app, first, 4, seed=3)
    periods = [(first, first + timedelta(days=2), first + timedelta(days=2), first + timedelta(days=4))]
    assert _compare(app, "Africa/Monrovia", ("send_hour",), "jc", periods, monkeypatch) > 5 * 15
