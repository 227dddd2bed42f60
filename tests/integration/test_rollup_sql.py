"""Rollups counted in SQL (ADR 0033) give what the Python counting of ADR 0028 gave, on SQLite and PostgreSQL:
a varied dataset (journeys with and without an entry segment, four channels, template versions inherited from
the send, days across the Shanghai midnight, late events, repeated opens and clicks, raw-SQL writers filled by
the trigger) is counted in several passes and by a rebuild, and compared with the old per-event algorithm
written out here. And a transaction that commits after a refresh passed its stamp is counted, not missed;
the ingest timings are kept 90 days."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.events import EventInput
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.metrics_ports import RollupKey
from touchflow.domain.measurement.rollup_columns import AFTER_SEND, MESSAGE_TYPES, message_columns
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.metrics import (
    RollupSweeper,
    metric_rows,
    raw_counts,
    rebuild_rollups,
    refresh_rollups,
    response_times,
)
from touchflow.store.tables import events, run_steps

SHANGHAI = ZoneInfo("Asia/Shanghai")
Rollup = dict[RollupKey, tuple[dict[str, int], float]]
SEGMENTS = {"ja": "vip", "jb": ""}


def _contacts(app: Application, n: int) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem({"email": f"q{i}@rollup.test"}) for i in range(n)])
    return [c for c in report.contact_ids if c is not None]


def _journeys(app: Application, now: datetime) -> None:
    with app.services.uow() as uow:
        for jid, segment in SEGMENTS.items():
            trigger = {"segment": segment} if segment else {"event": "signup"}
            uow.journeys.add(JourneyRecord(jid, f"key_{jid}", jid, "active", 1, now, now))
            uow.journeys.add_version(jid, 1, {"key": f"key_{jid}", "trigger": trigger}, "", now, "test")
        uow.commit()


def _stored(app: Application) -> Rollup:
    with app.services.reader() as uow:
        return raw_counts(uow.metrics.rows("0000", "9999", None))


def _old_counting(app: Application) -> Rollup:
    """The per-event counting the SQL replaced (services/metrics.py before ADR 0033), over every raw row."""
    with app.engine.connect() as c:
        raw = list(c.execute(select(events.c.id, events.c.type, events.c.occurred_at, events.c.properties)
                             .where(events.c.type.in_(sorted(MESSAGE_TYPES)))
                             .order_by(events.c.received_at, events.c.id)))
        steps = list(c.execute(select(run_steps).where(run_steps.c.kind.in_(("entry", "goal")))))
    sent = {r.id: r.properties["template_version"] for r in raw
            if r.type == "message_sent" and "template_version" in r.properties}
    found: dict[RollupKey, dict[str, int]] = {}
    money: dict[RollupKey, float] = {}
    first: set[tuple[str, str]] = set()

    def bump(key: RollupKey, counter: str, n: int = 1, revenue: float = 0.0) -> None:
        counts = found.setdefault(key, {})
        counts[counter] = counts.get(counter, 0) + n
        money[key] = money.get(key, 0.0) + revenue

    for r in raw:
        p = r.properties
        mid = str(p.get("message_id") or r.id)
        jid = str(p.get("journey_id") or "")
        version = p.get("template_version", sent.get(f"m_{mid}_sent") if r.type in AFTER_SEND else None)
        name = str(p.get("template") or "")
        channel = str(p.get("channel") or "")
        reason = str(p.get("guardrail") or "unknown") if r.type == "message_skipped" else ""
        key = RollupKey(r.occurred_at.astimezone(SHANGHAI).date().isoformat(), jid, str(p.get("node_id") or ""),
                        f"{name}@{version}" if name and version is not None else name, channel,
                        SEGMENTS.get(jid, ""), reason)
        counter = r.type.removeprefix("message_")
        if r.type == "message_skipped":
            bump(key, "skipped")
            continue
        if r.type == "message_delivered":
            bump(key, "receipts")  # a provider's receipt, whatever the channel (migration 0034)
        if channel in ("email", "onsite"):
            if r.type == "message_delivered":
                continue
            if r.type in ("message_sent", "message_bounced"):
                bump(key, "delivered", 1 if r.type == "message_sent" else -1)
        bump(key, counter)
        if r.type in ("message_opened", "message_clicked") and (r.type, mid) not in first:
            first.add((r.type, mid))
            bump(key, f"{counter}_unique")
    for s in steps:
        key = RollupKey(s.at.astimezone(SHANGHAI).date().isoformat(), s.journey_id, s.node_id, "", "",
                        SEGMENTS.get(s.journey_id, ""), "")
        amount = s.detail.get("amount")
        numeric = isinstance(amount, int | float) and not isinstance(amount, bool)
        bump(key, "entered" if s.kind == "entry" else "converted",
             revenue=float(amount) if s.kind == "goal" and numeric else 0.0)
    return {k: ({n: v for n, v in counts.items() if v}, round(money.get(k, 0.0), 6)) for k, counts in found.items()
            if any(counts.values()) or money.get(k)}


def _message(rnd: random.Random, n: int, at: datetime) -> list[tuple[str, str, dict[str, Any], datetime]]:
    """(id, type, properties, occurred) of one message's lifecycle."""
    channel = ("email", "sms", "onsite", "wecom")[n % 4]
    journey = ("ja", "jb", "")[n % 3]
    props: dict[str, Any] = {"message_id": f"q{n}", "channel": channel, "journey_id": journey,
                             "node_id": f"s{n % 2}", "template": ("welcome", "promo", "")[n % 3]}
    out = [(f"m_q{n}_queued", "message_queued", props, at)]
    if n % 7 == 0:
        guard = {"guardrail": "quiet_hours"} if n % 2 else {}
        return [*out, (f"m_q{n}_skipped", "message_skipped", {**props, **guard}, at)]
    version = {} if n % 5 == 0 else {"template_version": 1 + n % 2}
    out.append((f"m_q{n}_sent", "message_sent", {**props, **version}, at))
    if rnd.random() < 0.1:
        return [*out, (f"m_q{n}_bounced", "message_bounced", props, at + timedelta(minutes=1))]
    out.append((f"m_q{n}_delivered", "message_delivered", props, at + timedelta(minutes=1)))
    if rnd.random() < 0.6:
        out.append((f"m_q{n}_opened", "message_opened", props, at + timedelta(minutes=20)))
        for link in ("a", "b")[:rnd.randint(0, 2)]:
            out.append((f"m_q{n}_clicked_{link}", "message_clicked", props, at + timedelta(minutes=25)))
    if rnd.random() < 0.1:
        out.append((f"m_q{n}_unsubscribed", "message_unsubscribed", props, at + timedelta(minutes=30)))
    return out


def _write(app: Application, rows: list[tuple[str, str, dict[str, Any], datetime]], who: list[str],
           received: datetime, raw: bool) -> None:
    if raw:  # around the repository: the trigger fills the columns
        with app.engine.begin() as c:
            c.execute(insert(events), [{"id": i, "contact_id": who[len(i) % len(who)], "type": t,
                                        "occurred_at": at, "received_at": received, "source": "raw",
                                        "properties": p} for i, t, p, at in rows])
        return
    with app.services.uow() as uow:
        uow.events.insert([(EventInput(i, t, (), at, "touchflow", p), who[len(i) % len(who)])
                           for i, t, p, at in rows], received)
        uow.commit()


def test_sql_counting_equals_the_old_python_counting(app: Application, clock: VirtualClock) -> None:
    rnd = random.Random(13)
    who = _contacts(app, 5)
    _journeys(app, clock.now())
    midnight = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 on 2 March in Shanghai
    for batch in range(6):
        rows = []
        for n in range(batch * 40, batch * 40 + 40):
            at = midnight + timedelta(minutes=rnd.randint(-90, 90), days=rnd.choice((0, 0, 0, -1, -3)))
            rows += _message(rnd, n, at)
        if batch >= 2:  # late arrivals: a second open of an old message (a new id), an old message's click
            rows += [(f"late_open_{batch}", "message_opened", {"message_id": "q3", "channel": "sms",
                                                               "journey_id": "", "node_id": "s1"},
                      midnight - timedelta(days=2)),
                     (f"no_message_{batch}", "message_sent", {"channel": "sms"}, midnight)]
        _write(app, rows, who, clock.now(), raw=batch % 2 == 1)
        with app.engine.begin() as c:
            c.execute(insert(run_steps), [
                {"run_id": f"r{batch}_{k}", "contact_id": who[0], "journey_id": ("ja", "jb")[k % 2],
                 "node_id": "start" if kind == "entry" else "s1", "kind": kind, "edge": None,
                 "at": midnight + timedelta(minutes=rnd.randint(-60, 60)), "detail": detail}
                for k, (kind, detail) in enumerate([("entry", {}), ("entry", {}), ("goal", {"amount": 99.5}),
                                                    ("goal", {"amount": 3}), ("goal", {"amount": True}),
                                                    ("goal", {"amount": "12"}), ("exit", {})])])
        clock.advance(timedelta(seconds=rnd.choice((30, 61, 90))))
        if batch % 2:
            refresh_rollups(app.services)
    clock.advance(timedelta(minutes=2))
    refresh_rollups(app.services)

    expected = _old_counting(app)
    assert len(expected) > 40 and _stored(app) == expected
    rebuild_rollups(app.services)
    assert _stored(app) == expected
    rebuild_rollups(app.services, date(2026, 3, 2))
    assert _stored(app) == expected
    days = {r.day for r in metric_rows(app.services, start=date(2026, 2, 1), end=date(2026, 3, 5))}
    assert {date(2026, 3, 1), date(2026, 3, 2)} <= days  # both sides of the local midnight

    # the trigger (raw SQL writers) and the repository derive the same columns
    with app.engine.connect() as c:
        stored = list(c.execute(select(events).where(events.c.type.in_(sorted(MESSAGE_TYPES)))))
    versions = {r.id: r.properties.get("template_version") for r in stored if r.type == "message_sent"}
    for r in stored:
        mid = str(r.properties.get("message_id") or r.id)
        want = message_columns(r.id, r.type, r.properties, r.occurred_at, versions.get(f"m_{mid}_sent"))
        assert want is not None
        assert (r.msg_id, r.msg_journey, r.msg_node, r.msg_template, r.msg_channel, r.msg_reason,
                r.msg_bucket) == tuple(want)


def test_an_event_stamped_before_the_watermark_is_still_counted(app: Application, clock: VirtualClock) -> None:
    """A transaction stamps its events when it starts; one that commits after a refresh has moved past that
    stamp was missed by the time watermark (ADR 0028). The commit-order watermark counts it."""
    who = _contacts(app, 1)
    stamp = clock.now()
    _write(app, [("m_e1_sent", "message_sent", {"message_id": "e1", "channel": "sms"}, stamp)], who, stamp, raw=False)
    clock.advance(timedelta(minutes=3))
    assert refresh_rollups(app.services).events == 1
    # committed only now, stamped three minutes ago (before everything the last pass counted)
    _write(app, [("m_e2_sent", "message_sent", {"message_id": "e2", "channel": "sms"}, stamp)], who, stamp, raw=False)
    assert refresh_rollups(app.services).events == 1
    (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert day.sent == 2


def test_a_transaction_open_across_refreshes_is_counted_when_it_commits(app: Application,
                                                                        clock: VirtualClock) -> None:
    """PostgreSQL hands out transaction ids at the start, not in commit order: the pass leaves the open ones
    out (nothing else waits for them) and looks at them again until they have finished."""
    if app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: rowids are handed out in commit order")
    who = _contacts(app, 1)
    stamp = clock.now()
    with app.engine.connect() as slow:
        slow.begin()
        slow.execute(insert(events).values(id="m_slow_sent", contact_id=who[0], type="message_sent",
                                           occurred_at=stamp, received_at=stamp, source="t",
                                           properties={"message_id": "slow", "channel": "sms"}))
        clock.advance(timedelta(minutes=2))
        _write(app, [("m_fast_sent", "message_sent", {"message_id": "fast", "channel": "sms"}, stamp)], who,
               stamp, raw=False)
        clock.advance(timedelta(minutes=2))
        assert refresh_rollups(app.services).events == 1  # the fast one; the open transaction is left out
        assert refresh_rollups(app.services).events == 0
        slow.commit()
    assert refresh_rollups(app.services).events == 1
    assert refresh_rollups(app.services).events == 0
    (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert day.sent == 2
    rebuild_rollups(app.services)
    (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert day.sent == 2


def test_the_sweeper_keeps_ninety_days_of_ingest_timings(app: Application, clock: VirtualClock) -> None:
    now = clock.now()
    with app.services.uow() as uow:
        for days in (120, 91, 89, 1):
            uow.metrics.add_ingest_timing(now - timedelta(days=days), 10, 0.05)
        uow.commit()
    RollupSweeper(app.services)()
    with app.services.reader() as uow:
        assert len(uow.metrics.ingest_timings(now - timedelta(days=365))) == 2
    assert response_times(app.services, days=100).ingest_batches == 2
