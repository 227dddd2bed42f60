"""Capacity (A8): workers report their busy share and queue lag; ``touchflow status`` shows them; the
capacity rule fires after ten minutes above 80 % with a queue more than a minute behind, saying how many workers
to add (busy but keeping up does not fire, ADR 0069). Time is a virtual clock."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from tests.integration.test_dispatcher import enqueue, make_contacts
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import SystemClock, VirtualClock
from touchflow.engine.worker import Worker
from touchflow.services.capacity import cluster_status, report_load
from touchflow.store.tables import alert_history, audit_log


def _behind(app: Application, clock: VirtualClock) -> None:
    """Messages due five minutes ago and still queued: the outbox is behind from now on."""
    enqueue(app, [(cid, "sms", {}) for cid in make_contacts(app, 2)])
    clock.advance(timedelta(minutes=5))


def _report(app: Application, clock: VirtualClock, shares: dict[str, float], minutes: int) -> list[str]:
    """Each worker reports every 30 s for ``minutes``; returns the summaries of the alerts that fired."""
    started = clock.now()
    fired = []
    for _ in range(minutes * 2):
        clock.advance(timedelta(seconds=30))
        for worker, share in shares.items():
            fired += [a.summary() for a in report_load(app.services, worker, "host-a", 100, started, share)]
    return fired


def test_ten_minutes_above_eighty_percent_fires_once_saying_how_many_workers_to_add(
        app: Application, clock: VirtualClock) -> None:
    _behind(app, clock)
    assert _report(app, clock, {"w1": 0.95, "w2": 0.90}, 9) == []  # nine minutes: not yet
    fired = _report(app, clock, {"w1": 0.95, "w2": 0.90}, 2)
    # 2 workers × 92.5 % = 1.85 workers of work: 3 workers keep each under 80 %
    assert fired == ["workers 92% busy (2 live) above the limit: add 1 worker"]
    assert _report(app, clock, {"w1": 0.95, "w2": 0.90}, 10) == []  # the rule's cooldown (1h): once
    with app.engine.connect() as c:
        history = c.execute(select(alert_history)).one()
        audit = c.execute(select(audit_log.c.action, audit_log.c.subject).where(
            audit_log.c.action == "alert.fired")).all()
    assert (history.rule, history.journey_id, history.metric) == ("worker-capacity", "workers", "worker_utilisation")
    assert history.details["workers_to_add"] == 1 and history.details["queue_lag_s"] >= 60
    assert audit == [("alert.fired", "workers")]


def test_busy_while_every_queue_keeps_up_never_fires(app: Application, clock: VirtualClock) -> None:
    """A worker under a steady feed finds work every tick and reports ~100 % busy while its queues stay seconds
    old (issue 17's hour): adding a worker would not help, so the rule waits for a queue to fall behind."""
    assert _report(app, clock, {"w1": 1.0}, 30) == []
    assert cluster_status(app.services).add == 0
    _behind(app, clock)  # now the outbox waits: ten more minutes, and it fires
    assert _report(app, clock, {"w1": 1.0}, 9) == []
    assert _report(app, clock, {"w1": 1.0}, 2) == ["workers 100% busy (1 live) above the limit: add 1 worker"]
    assert cluster_status(app.services).add == 1


def test_a_dip_below_the_limit_restarts_the_ten_minutes(app: Application, clock: VirtualClock) -> None:
    _behind(app, clock)
    assert _report(app, clock, {"w1": 0.95}, 6) == []
    assert _report(app, clock, {"w1": 0.50}, 1) == []
    assert _report(app, clock, {"w1": 0.95}, 9) == []  # 9 minutes since the dip
    assert _report(app, clock, {"w1": 0.95}, 2) == ["workers 95% busy (1 live) above the limit: add 1 worker"]


def test_status_shows_workers_and_queue_lag(app: Application, clock: VirtualClock) -> None:
    enqueue(app, [(cid, "sms", {}) for cid in make_contacts(app, 3)])
    clock.advance(timedelta(seconds=90))  # the queued messages have waited 90 s
    report_load(app.services, "w1", "host-a", 101, clock.now(), 0.4)
    found = cluster_status(app.services)
    assert [w.worker_id for w in found.workers] == ["w1"] and found.busy_share == 0.4 and found.add == 0
    assert found.queue_lag["outbox"] == 90.0 and found.queue_lag["timers"] == 0.0
    clock.advance(timedelta(minutes=3))  # it stopped reporting: no longer live
    assert cluster_status(app.services).workers == []
    # the command reads the real clock: a report made now
    live = replace(app.services, clock=SystemClock())
    report_load(live, "w2", "host-b", 202, live.clock.now(), 0.97)
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    result = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [w["worker_id"] for w in shown["workers"]] == ["w2"] and shown["workers_to_add"] == 1
    assert set(shown["queue_lag_s"]) == {"outbox", "timers", "inbox"}
    result = CliRunner().invoke(cli, ["status"], env=env)
    assert result.exit_code == 0 and "host-b" in result.output and "add 1 worker" in result.output


def test_the_worker_reports_its_busy_share_of_each_window(app: Application) -> None:
    ticks = iter([0.0, 10.0, 16.0, 20.0, 20.0, 21.0, 30.0])  # window start, tick 10→16 busy, …
    shares: list[float] = []
    worker = Worker(app.services, report_load=shares.append, report_every_s=20.0, idle_sleep=0.0,
                    monotonic=lambda: next(ticks))
    try:
        worker.tick_and_measure()  # busy 10 → 16 (6 s); at 20 s the window of 20 s ends: 30 %
        worker.tick_and_measure()  # busy 20 → 21; at 30 s: 10 s into the next window, not reported yet
    finally:
        worker.close()
    assert shares == [0.3]
