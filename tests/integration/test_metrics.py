"""Metric rollups on SQLite and PostgreSQL: known traffic → known counts and rates, local-day boundaries,
idempotent refresh, and (property) the incremental rollup equals a recomputation from raw rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.events import EventInput
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.metrics import click_rate, click_to_open_rate, open_rate, rates
from touchflow.domain.measurement.metrics_ports import RollupKey
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.metrics import (
    CURSOR_KEY,
    metric_rows,
    raw_counts,
    rebuild_rollups,
    refresh_rollups,
)
from touchflow.store.tables import events, metric_daily, run_steps, workspace_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW0 = timedelta(0)


def contacts(app: Application, n: int = 3) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem({"email": f"m{i}@metrics.test"}) for i in range(n)])
    return [c for c in report.contact_ids if c is not None]


def lifecycle(msg: str, stage: str, contact: str, at: datetime, journey: str = "j1", **props: Any
              ) -> tuple[EventInput, str]:
    event_type = {"click": "message_clicked"}.get(stage.split("_")[0], f"message_{stage}")
    return (EventInput(f"m_{msg}_{stage}", event_type, (), at, "touchflow",
                       {"message_id": msg, "channel": "email", "journey_id": journey, "node_id": "welcome",
                        "template": "welcome_mail", **props}), contact)


def store(app: Application, batch: Iterable[tuple[EventInput, str]]) -> None:
    with app.services.uow() as uow:
        uow.events.insert(list(batch), app.services.clock.now())
        uow.commit()


def add_steps(app: Application, rows: Iterable[tuple[str, str, str, datetime, dict[str, Any]]]) -> None:
    """(journey id, node, kind, at, detail) run steps, as the engine writes them."""
    with app.engine.begin() as c:
        for journey_id, node, kind, at, detail in rows:
            c.execute(run_steps.insert().values(run_id="r", contact_id="c", journey_id=journey_id, node_id=node,
                                                kind=kind, edge=None, at=at, detail=detail))


def stored(app: Application) -> dict[RollupKey, tuple[dict[str, int], float]]:
    with app.services.reader() as uow:
        return raw_counts(uow.metrics.rows("0000", "9999", None))


def test_known_traffic_gives_known_counts_and_rates(app: Application, clock: VirtualClock) -> None:
    a, b, c = contacts(app)
    now = clock.now()  # 2026-03-02 01:00 UTC = 09:00 in Shanghai
    batch = []
    for n, who in enumerate((a, b, c, a)):  # four messages sent, three delivered, one bounced
        msg = f"w{n}"
        batch.append(lifecycle(msg, "queued", who, now))
        batch.append(lifecycle(msg, "sent", who, now, template_version=2))
        batch.append(lifecycle(msg, "bounced" if n == 3 else "delivered", who, now))
    batch += [lifecycle("w0", "opened", a, now), lifecycle("w1", "opened", b, now),
              lifecycle("w0", "click_x", a, now), lifecycle("w0", "click_y", a, now),  # two links, one message
              lifecycle("w1", "unsubscribed", b, now), lifecycle("w2", "complained", c, now),
              lifecycle("w4", "queued", c, now), lifecycle("w4", "skipped", c, now, guardrail="quiet_hours"),
              lifecycle("w5", "queued", b, now), lifecycle("w5", "skipped", b, now, guardrail="frequency_cap")]
    store(app, batch)
    add_steps(app, [("j1", "start", "entry", now, {}), ("j1", "start", "entry", now, {}),
                    ("j1", "welcome", "goal", now, {"event": "order_paid", "amount": 199.5})])
    clock.advance(timedelta(minutes=2))
    report = refresh_rollups(app.services)
    assert (report.events, report.steps) == (len(batch), 3)

    (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert day.day == date(2026, 3, 2)
    assert (day.queued, day.sent, day.delivered, day.bounced) == (6, 4, 3, 1)
    assert (day.opened, day.opened_unique, day.clicked, day.clicked_unique) == (2, 2, 2, 1)
    assert (day.unsubscribed, day.complained, day.entered, day.converted) == (1, 1, 2, 1)
    assert day.skipped == {"quiet_hours": 1, "frequency_cap": 1} and day.revenue == 199.5
    assert open_rate(day) == 2 / 3 and click_rate(day) == 1 / 3 and click_to_open_rate(day) == 1 / 2
    assert rates(day)["conversion_rate"] == 1 / 2 and rates(day)["bounce_rate"] == 1 / 4
    assert rates(day)["skip_rate"] == 2 / 6

    by_template = {r.template: r for r in metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2),
                                                      by=("template",))}
    # versions are chosen at send: sends and what follows carry it; queued/skipped rows only the name
    assert by_template["welcome_mail@2"].delivered == 3 and by_template["welcome_mail@2"].opened_unique == 2
    assert by_template["welcome_mail"].queued == 6 and by_template["welcome_mail"].sent == 0
    assert open_rate(by_template[""]) is None  # entries and conversions: no channel, no delivered

    # a second open of the same message (a new pixel load, same id) and a repeated refresh change nothing
    store(app, [lifecycle("w0", "opened", a, now)])
    clock.advance(timedelta(minutes=2))
    before = stored(app)
    assert refresh_rollups(app.services).events == 0
    assert stored(app) == before
    rebuild_rollups(app.services)
    assert stored(app) == before


def test_local_day_boundaries_in_the_workspace_zone(app: Application, clock: VirtualClock) -> None:
    (a,) = contacts(app, 1)
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: still 2 March there
    after_midnight = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March
    store(app, [lifecycle("d1", "sent", a, late), lifecycle("d2", "sent", a, after_midnight)])
    clock.advance(timedelta(minutes=5))
    refresh_rollups(app.services)
    rows = metric_rows(app.services, start=date(2026, 3, 1), end=date(2026, 3, 4))
    assert [(r.day, r.sent) for r in rows] == [(date(2026, 3, 2), 1), (date(2026, 3, 3), 1)]


def test_settle_leaves_the_last_minute_for_the_next_pass(app: Application, clock: VirtualClock) -> None:
    (a,) = contacts(app, 1)
    store(app, [lifecycle("s1", "sent", a, clock.now())])
    assert refresh_rollups(app.services).events == 0  # received just now: a transaction may still commit
    clock.advance(timedelta(seconds=61))
    assert refresh_rollups(app.services).events == 1


def test_rebuild_since_a_day_keeps_earlier_days(app: Application, clock: VirtualClock) -> None:
    (a,) = contacts(app, 1)
    store(app, [lifecycle("r1", "sent", a, clock.now() - timedelta(days=2)), lifecycle("r2", "sent", a, clock.now())])
    clock.advance(timedelta(minutes=5))
    refresh_rollups(app.services)
    before = stored(app)
    report = rebuild_rollups(app.services, date(2026, 3, 2))
    assert report.events == 1 and stored(app) == before


def test_rows_carry_the_journey_key_and_its_entry_segment(app: Application, clock: VirtualClock) -> None:
    (a,) = contacts(app, 1)
    now = clock.now()
    with app.services.uow() as uow:
        for jid, key, trigger in (("jv", "vip_care", {"segment": "vip"}), ("jw", "welcome", {"event": "signup"})):
            uow.journeys.add(JourneyRecord(jid, key, key, "active", 1, now, now))
            uow.journeys.add_version(jid, 1, {"key": key, "trigger": trigger}, "", now, "test")
        uow.commit()
    store(app, [lifecycle("v1", "sent", a, now, journey="jv"), lifecycle("w1", "sent", a, now, journey="jw"),
                lifecycle("w2", "sent", a, now, journey="jw")])
    clock.advance(timedelta(minutes=2))
    refresh_rollups(app.services)
    rows = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2), by=("journey", "segment"))
    assert [(r.journey, r.segment, r.sent) for r in rows] == [("vip_care", "vip", 1), ("welcome", "", 2)]
    (vip,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2), journey="vip_care",
                         by=("channel",))
    assert (vip.channel, vip.sent, vip.journey) == ("email", 1, None)


def test_the_worker_tick_refreshes_at_most_once_a_minute(app: Application, clock: VirtualClock) -> None:
    (a,) = contacts(app, 1)
    runtime = JourneyRuntime(app.services)
    store(app, [lifecycle("t1", "sent", a, clock.now())])
    clock.advance(timedelta(minutes=2))
    runtime.tick()
    assert metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))[0].sent == 1
    store(app, [lifecycle("t2", "sent", a, clock.now())])
    clock.advance(timedelta(seconds=61))
    runtime.tick()
    assert metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))[0].sent == 2


def test_a_chunk_counted_by_another_pass_is_not_counted_twice(app: Application, clock: VirtualClock,
                                                              monkeypatch: Any) -> None:
    """Two passes read the same chunk; the second one's compare-and-set fails and it reads again."""
    (a,) = contacts(app, 1)
    store(app, [lifecycle(f"c{n}", "sent", a, clock.now()) for n in range(3)])
    clock.advance(timedelta(minutes=2))
    from touchflow.services import metrics as service

    original, raced = service.event_deltas, []

    def racing(*args: Any, **kwargs: Any) -> None:
        if not raced:  # while this pass counts, another one counts the same rows and commits first
            raced.append(True)
            refresh_rollups(app.services)
        original(*args, **kwargs)

    monkeypatch.setattr(service, "event_deltas", racing)
    refresh_rollups(app.services)
    (day,) = metric_rows(app.services, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert day.sent == 3 and raced


# --- property: incremental == recomputation ---------------------------------------------------------------

STAGES = ("queued", "sent", "delivered", "bounced", "opened", "click_a", "click_b", "unsubscribed", "complained",
          "skipped")
action = st.one_of(
    st.tuples(st.just("events"), st.lists(st.tuples(st.sampled_from(STAGES), st.integers(0, 2), st.integers(0, 5),
                                                     st.integers(-30, 30)), min_size=1, max_size=8)),
    # a step is stamped with its tick's time, at most a little before it commits (less than the settle time)
    st.tuples(st.just("steps"), st.lists(st.tuples(st.sampled_from(("entry", "goal")), st.integers(0, 59)),
                                         min_size=1, max_size=3)),
    st.tuples(st.just("advance"), st.integers(0, 90)),
    st.tuples(st.just("refresh"), st.integers(1, 7)),
)


def _nonzero(found: dict[RollupKey, tuple[dict[str, int], float]]) -> dict[RollupKey, tuple[dict[str, int], float]]:
    return {k: ({n: v for n, v in counts.items() if v}, money) for k, (counts, money) in found.items()}


def _oracle(app: Application) -> dict[RollupKey, tuple[dict[str, int], float]]:
    """The rollup computed directly from every raw row, without the service's code."""
    with app.engine.connect() as c:
        raw = list(c.execute(select(events).order_by(events.c.received_at, events.c.id)))
        steps = list(c.execute(select(run_steps)))
    versions = {r.properties["message_id"]: r.properties["template_version"] for r in raw
                if r.type == "message_sent" and "template_version" in r.properties}
    found: dict[RollupKey, dict[str, int]] = {}
    money: dict[RollupKey, float] = {}
    first: set[tuple[str, str]] = set()

    def bump(key: RollupKey, counter: str, revenue: float = 0.0) -> None:
        found.setdefault(key, {})[counter] = found.get(key, {}).get(counter, 0) + 1
        money[key] = money.get(key, 0.0) + revenue

    for r in raw:
        p = r.properties
        version = p.get("template_version", versions.get(p["message_id"]) if r.type not in
                        ("message_queued", "message_skipped") else None)
        key = RollupKey(r.occurred_at.astimezone(SHANGHAI).date().isoformat(), p["journey_id"], p["node_id"],
                        p["template"] + (f"@{version}" if version is not None else ""), p["channel"], "",
                        p.get("guardrail", "") if r.type == "message_skipped" else "")
        counter = r.type.removeprefix("message_")
        if r.type == "message_delivered":  # a provider's receipt, whatever the channel (migration 0034)
            bump(key, "receipts")
        if p["channel"] == "email":  # no receipts: delivered = sent − bounced
            if r.type == "message_delivered":
                continue
            if r.type in ("message_sent", "message_bounced"):
                counts = found.setdefault(key, {})
                counts["delivered"] = counts.get("delivered", 0) + (1 if r.type == "message_sent" else -1)
        bump(key, counter)
        if r.type in ("message_opened", "message_clicked") and (r.type, p["message_id"]) not in first:
            first.add((r.type, p["message_id"]))
            bump(key, f"{counter}_unique")
    for s in steps:
        key = RollupKey(s.at.astimezone(SHANGHAI).date().isoformat(), s.journey_id, s.node_id, "", "", "", "")
        bump(key, "entered" if s.kind == "entry" else "converted", float(s.detail.get("amount", 0)))
    return _nonzero({k: (v, round(money.get(k, 0.0), 6)) for k, v in found.items()})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(action, min_size=1, max_size=14))
def test_incremental_rollup_equals_recomputation(app: Application, clock: VirtualClock,
                                                 actions: list[tuple[Any, Any]]) -> None:
    with app.engine.begin() as c:  # each example starts from no events and no rollups
        for table in (metric_daily, run_steps, events):
            c.execute(delete(table))
        c.execute(delete(workspace_settings).where(workspace_settings.c.key == CURSOR_KEY))
    people = contacts(app)
    now = clock.now()
    for kind, arg in actions:
        if kind == "events":
            batch = []
            for stage, _, msg, hours in arg:
                who = msg % len(people)  # a message has one recipient
                at = clock.now() + timedelta(hours=hours)
                if stage not in ("queued", "skipped", "sent"):  # what follows a send comes after it
                    batch.append(lifecycle(f"p{msg}", "sent", people[who], at, template_version=msg % 2))
                extra = {"guardrail": "quiet_hours" if msg % 2 else "frequency_cap"} if stage == "skipped" else {}
                batch.append(lifecycle(f"p{msg}", stage, people[who], at, journey=f"j{msg % 2}", **extra))
            store(app, batch)
        elif kind == "steps":
            add_steps(app, [(f"j{s % 2}", "n", k, clock.now() - timedelta(seconds=s),
                             {"amount": 10} if k == "goal" else {}) for k, s in arg])
        elif kind == "advance":
            clock.advance(timedelta(seconds=arg))
        else:
            refresh_rollups(app.services, chunk=arg)
    clock.advance(timedelta(minutes=2))
    refresh_rollups(app.services, chunk=3)
    incremental = stored(app)
    assert incremental == _oracle(app)
    rebuild_rollups(app.services, chunk=5)
    assert stored(app) == incremental
    assert now <= clock.now()
