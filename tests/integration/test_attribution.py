"""Attribution and control groups on a real database (SQLite and PostgreSQL): raw outbox rows and order events
in, credits, ROI and uplift out; the engine keeps held-out entrants from every message."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, insert, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.errors import FieldError
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.attribution import (
    attribution_report,
    attribution_settings,
    journey_uplift,
    roi_report,
    set_costs,
    set_window,
    touchpoint_ranking,
)
from touchflow.services.attribution_documents import roi_document, uplift_document
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import audit_log, contact_identities, holdout_runs, holdouts, journey_runs, outbox

JOURNEY = """
key: {key}
trigger: {{event: signup}}
{extra}
nodes:
  hello: {{kind: send, channel: email, template: hello, next: nudge}}
  nudge: {{kind: send, channel: sms, template: nudge}}
"""


def publish(app: Application, key: str, extra: str = "") -> None:
    publish_journey(app.services, JOURNEY.format(key=key, extra=extra), actor="test")


def contact(app: Application, email: str) -> str:
    with app.engine.connect() as c:
        found = c.execute(select(contact_identities.c.contact_id).where(
            contact_identities.c.kind == "email", contact_identities.c.value == email)).scalar_one_or_none()
    if found is None:
        record_events(app.services, "test", [RawItem({"type": "signup", "email": email,
                                                      "occurred_at": app.services.clock.now().isoformat()})],
                      route=False)
        return contact(app, email)
    return str(found)


def journey_id(app: Application, key: str) -> str:
    with app.services.reader() as uow:
        record = uow.journeys.get(key)
        assert record is not None
        return record.id


def sent(app: Application, cid: str, channel: str, at: datetime, journey: str | None = None, node: str = "hello",
         template: str = "hello") -> None:
    n = sent.count = getattr(sent, "count", 0) + 1  # type: ignore[attr-defined]
    with app.engine.begin() as c:
        c.execute(insert(outbox).values(
            id=f"m{n:06d}", idempotency_key=f"k{n:06d}-{cid}", run_id=None, contact_id=cid, journey_id=journey,
            node_id=node, channel=channel, template=template, payload={}, status="sent", attempts=1,
            created_at=at, updated_at=at, next_attempt_at=at, sent_at=at))


def order(app: Application, email: str, order_id: str, amount: str, at: datetime) -> None:
    report = record_events(app.services, "shop", [RawItem({
        "type": "order_paid", "email": email, "occurred_at": at.isoformat(),
        "properties": {"order_id": order_id, "amount": amount}})], route=False)
    assert report.accepted == 1


def test_known_scenario_exact_credits_roi_and_cycle(app: Application, clock: VirtualClock) -> None:
    t0 = clock.now()
    publish(app, "welcome")
    publish(app, "promo")
    welcome, promo = journey_id(app, "welcome"), journey_id(app, "promo")
    a, b, c = contact(app, "a@x.cn"), contact(app, "b@x.cn"), contact(app, "c@x.cn")
    sent(app, a, "email", t0, welcome)
    sent(app, a, "sms", t0 + timedelta(days=2), welcome, node="nudge", template="nudge")
    sent(app, a, "email", t0 + timedelta(days=4), promo)
    sent(app, b, "sms", t0 + timedelta(days=1), promo, node="nudge", template="nudge")
    sent(app, c, "email", t0, welcome)
    order(app, "a@x.cn", "SO1", "300.00", t0 + timedelta(days=5))
    order(app, "a@x.cn", "SO1", "300.00", t0 + timedelta(days=5, hours=1))  # a second event of the same order
    order(app, "b@x.cn", "SO2", "0.10", t0 + timedelta(days=1))  # the touch's very instant: in the window
    order(app, "c@x.cn", "SO3", "50", t0 + timedelta(days=7))  # exactly 7 days after its touch: outside
    order(app, "d@x.cn", "SO4", "9.99", t0 + timedelta(days=3))  # never touched
    span = {"start": t0, "end": t0 + timedelta(days=10)}

    last = attribution_report(app.services, model="last", **span)
    assert (last.orders, last.revenue_cents, last.duplicates) == (4, 30000 + 10 + 5000 + 999, 1)
    assert (last.attributed_orders, last.attributed_cents) == (2, 30010)
    assert (last.unattributed_orders, last.unattributed_cents) == (2, 5999)
    assert last.by_journey == {"promo": (Fraction(2), 30010)}
    first = attribution_report(app.services, model="first", **span)
    assert first.by_journey == {"welcome": (Fraction(1), 30000), "promo": (Fraction(1), 10)}
    linear = attribution_report(app.services, model="linear", **span)
    assert linear.by_channel == {"email": (Fraction(2, 3), 20000), "sms": (Fraction(4, 3), 10010)}
    assert linear.by_touchpoint["welcome/nudge/nudge"] == (Fraction(1, 3), 10000)
    only_welcome = attribution_report(app.services, model="last", journey="welcome", **span)
    assert only_welcome.by_journey == {"welcome": (Fraction(1), 30000)}  # promo's touches do not compete
    with pytest.raises(LookupError):
        attribution_report(app.services, journey="nope", **span)

    set_window(app.services, "8d", actor="test")
    assert attribution_report(app.services, model="last", **span).attributed_orders == 3  # SO3 now in
    set_window(app.services, "7d", actor="test")

    set_costs(app.services, {"email": "0.5", "sms": "1"}, actor="test")
    assert attribution_settings(app.services).costs == {"email": Decimal("0.5"), "sms": Decimal(1)}
    report = roi_report(app.services, by="channel", model="last", **span)
    rows = {r.group: r for r in report.rows}
    assert (rows["email"].touches, rows["email"].cost, rows["email"].revenue_cents) == (3, Decimal("1.5"), 30000)
    assert rows["email"].roi == (Decimal("300.00") - Decimal("1.5")) / Decimal("1.5")
    assert rows["email"].cpa == Decimal("1.5") and rows["sms"].cpa == Decimal(2)
    assert report.total.touches == 5 and report.total.cost == Decimal("3.5")
    cycles = {c.group: c for c in report.cycles}
    assert cycles["email"].contacts == 2 and cycles["email"].median_days == pytest.approx(6.0)  # a: 5d, c: 7d
    assert cycles["sms"].median_days == pytest.approx(1.5)  # a: 3d after its first SMS, b: 0d
    by_period = roi_report(app.services, by="period", period="month", **span)
    assert [r.group for r in by_period.rows] == ["2026-03"] and by_period.rows[0].touches == 5
    assert roi_document(report)["total"]["cost"] == "3.5"

    ranking = touchpoint_ranking(app.services, **span)
    assert ranking.channels[0].group == "sms"  # 4/3 conversions from 2 touches beat 2/3 from 3
    with app.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert actions.count("attribution.costs") == 1 and actions.count("attribution.window") == 2


def test_bad_costs_and_window_name_the_field(app: Application) -> None:
    for updates, field in (({"sms": "-0.1"}, "sms"), ({}, "costs")):
        with pytest.raises(FieldError) as caught:
            set_costs(app.services, updates, actor="test")
        assert caught.value.field == field
    for window in ("soon", "91d"):
        with pytest.raises(FieldError) as caught:
            set_window(app.services, window, actor="test")
        assert caught.value.field == "window"


def test_held_out_entrants_get_no_message_and_uplift_is_queryable(app: Application, clock: VirtualClock) -> None:
    publish(app, "welcome", "holdout: {share: 0.3, key: q1, window: 14d}\ngoal: {event: order_paid}")
    runtime = JourneyRuntime(app.services)
    n = 300
    record_events(app.services, "web", [RawItem({"type": "signup", "email": f"u{i}@x.cn",
                                                 "occurred_at": clock.now().isoformat()}) for i in range(n)])
    runtime.tick()
    with app.engine.connect() as c:
        arms = {bool(k): v for k, v in c.execute(
            select(holdout_runs.c.held_out, func.count()).group_by(holdout_runs.c.held_out)).all()}
        statuses = {k: v for k, v in c.execute(
            select(journey_runs.c.status, func.count()).group_by(journey_runs.c.status)).all()}
        held_contacts = set(c.execute(select(holdout_runs.c.contact_id).where(holdout_runs.c.held_out)).scalars())
        messaged = set(c.execute(select(outbox.c.contact_id)).scalars())
    assert arms[True] + arms[False] == n and statuses["held_out"] == arms[True]
    assert abs(arms[True] - n * 0.3) <= 3 * math.sqrt(n * 0.3 * 0.7)
    assert held_contacts and not held_contacts & messaged
    assert len(messaged) == arms[False]

    # treated contacts buy more often than held-out ones
    emails = {cid: f"u{i}@x.cn" for i in range(n) if (cid := contact(app, f"u{i}@x.cn"))}
    clock.advance(timedelta(days=2))
    for k, (cid, email) in enumerate(sorted(emails.items())):
        if (cid in held_contacts and k % 10 == 0) or (cid not in held_contacts and k % 2 == 0):
            order(app, email, f"SO{k}", "100", clock.now())
    (result,) = journey_uplift(app.services, "welcome")
    u = result.result
    assert (u.treated, u.control) == (arms[False], arms[True])
    assert result.goal_event == "order_paid" and result.window == timedelta(days=14)
    assert u.conversion is not None and u.conversion.low < u.conversion.estimate < u.conversion.high
    assert u.significant and u.conversion.estimate == pytest.approx(
        u.treated_converted / u.treated - u.control_converted / u.control)
    assert u.revenue_per_contact is not None and u.revenue_per_contact.estimate > 0

    # a new version ends the control group; the old one stays queryable beside the new one
    clock.advance(timedelta(days=1))
    publish(app, "welcome", "holdout: {share: 0.1, key: q1}")
    with app.engine.connect() as c:
        rows = c.execute(select(holdouts.c.version, holdouts.c.share, holdouts.c.ended_at)
                         .order_by(holdouts.c.version)).all()
    assert [(r.version, r.share, r.ended_at is not None) for r in rows] == [(1, 0.3, True), (2, 0.1, False)]
    document = uplift_document("welcome", journey_uplift(app.services, "welcome"))
    assert [g["version"] for g in document["holdouts"]] == [2, 1]
    assert document["holdouts"][1]["uplift"]["low"] > 0
