"""Experiments on journey versions (A5, ADR 0034) on SQLite and PostgreSQL: a draft on two published versions,
started; entrants of the sandbox's three weeks are assigned a version by stratified blocks at entry and run it;
the analysis counts each arm from the raw tables (revenue per entrant as the primary metric); the winner is made
the live version by the roll-out, audited, and new entrants all take it."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import Clock, VirtualClock
from touchflow.domain.journeys.scenarios import parse_scenario
from touchflow.domain.measurement.experiment_rules import ExperimentRefused
from touchflow.engine import simulator
from touchflow.services.context import ServiceContext
from touchflow.services.experiments import (
    ExperimentError,
    ExperimentSweeper,
    analyse_experiment,
    create_experiment,
    rollout_experiment,
    start_experiment,
    update_experiment,
)
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment
from touchflow.store.tables import audit_log, experiment_strata, journey_runs, outbox, run_steps

JOURNEY = """
key: welcome
name: 欢迎旅程
trigger: {event: signup}
goal: {event: order_paid}
nodes:
  hello: {kind: send, channel: email, template: %s, next: wait}
  wait: {kind: wait, duration: 5d, next: done}
  done: {kind: exit}
"""
V1, V2 = JOURNEY % "welcome_long", JOURNEY % "welcome_short"
SPEC: dict[str, Any] = {"key": "welcome_versions", "journey": "welcome", "versions": [2, 1],
                        "arms": ["short", "long"], "primary": "revenue", "guardrails": ["unsubscribe"],
                        "strata": ["vip"], "revenue_baseline": 2000, "revenue_sd": 4000, "revenue_mde": 1500}


def _scenario(start: Any, short: float, long: float, days: int = 16, prefix: str = "", length: int = 20,
              unsubscribe: float = 0.0) -> Any:
    reactions = [{"template": template, "event": "order_paid", "probability": p, "after": "3h",
                  "properties": {"order_id": f"o_{template}", "amount": 100}}
                 for template, p in (("welcome_short", short), ("welcome_long", long))]
    if unsubscribe:
        reactions.append({"template": "welcome_long", "event": "unsubscribe", "probability": unsubscribe,
                          "after": "1h"})
    personas = [{"name": f"{prefix}d{day:02d}{'v' if vip else 'n'}", "count": 18, "tags": ["vip"] if vip else [],
                 "events": [{"at": f"{day}d1h", "type": "signup"}],
                 "behaviour": {"open": 0.6, "click": 0.2, "reactions": reactions}}
                for day in range(0, days, 2) for vip in (True, False)]
    return parse_scenario({"seed": 4, "start": start.isoformat(), "duration": f"{length}d", "personas": personas})


def _simulate(app: Application, text: str, scenario: Any) -> None:
    class Store:
        def __init__(self, clock: Clock) -> None:
            self.services: ServiceContext = dataclasses.replace(app.services, clock=clock)

        def init_database(self) -> str | None:
            return None

        def close(self) -> None:
            pass

    simulator.simulate([text], scenario, open_store=lambda _p, clock, _b: Store(clock))


@pytest.fixture
def versions(app: Application) -> None:
    publish_journey(app.services, V1, actor="t")
    publish_journey(app.services, V2, actor="t")  # live: v2
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"tag": "vip"}},
                   actor="t")


def _runs(app: Application) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(journey_runs.c.id, journey_runs.c.version, journey_runs.c.entered_at)))


@pytest.mark.usefixtures("versions")
def test_draft_on_versions_checks_its_input(app: Application) -> None:
    with pytest.raises(ExperimentError, match="versions: no published version 3"):
        create_experiment(app.services, {**SPEC, "versions": [2, 3]}, actor="t")
    with pytest.raises(ExperimentError, match="split: an experiment binds to a split or to versions"):
        create_experiment(app.services, {**SPEC, "split": "hello"}, actor="t")
    publish_journey(app.services, V2.replace("{event: signup}", "{event: visit}").replace("welcome_short", "x"),
                    actor="t")
    with pytest.raises(ExperimentError, match="versions: version 2 of welcome has another trigger"):
        create_experiment(app.services, SPEC, actor="t")  # entry is matched on the live v3's trigger
    publish_journey(app.services, V2.replace("welcome_short", "welcome_mid"), actor="t")
    draft = create_experiment(app.services, {**SPEC, "versions": [4, 1]}, actor="t")
    assert draft.state == "draft" and draft.plan["metric"] == "revenue" and draft.plan["sequential_per_arm"]
    edited = update_experiment(app.services, "welcome_versions", {"shares": [97, 3]}, actor="t")
    assert [a.share for a in edited.spec.arms] == [97, 3] and [a.version for a in edited.spec.arms] == [4, 1]
    with pytest.raises(ExperimentRefused, match="arm-share: arm long gets 3 %"):
        start_experiment(app.services, "welcome_versions", actor="t")
    assert _runs(app) == []


@pytest.mark.usefixtures("versions")
def test_entrants_split_by_version_analysed_and_rolled_out(app: Application, clock: VirtualClock) -> None:
    create_experiment(app.services, SPEC, actor="t")
    _simulate(app, V2, _scenario(clock.now(), 0.1, 0.1, days=2, prefix="pre", length=2))  # a draft assigns nobody
    assert {r.version for r in _runs(app)} == {2} and len(_runs(app)) == 36
    clock.set(clock.now() + timedelta(days=3))
    start_experiment(app.services, "welcome_versions", actor="市场部")
    started = clock.now()
    _simulate(app, V2, _scenario(clock.now(), 0.2, 0.6))
    clock.set(clock.now() + timedelta(days=20))

    runs = [r for r in _runs(app) if r.entered_at >= started]
    by_version = Counter(r.version for r in runs)
    total = sum(by_version.values())
    assert total >= 252 and abs(by_version[1] - by_version[2]) <= 2  # 50/50 blocks per stratum
    with app.engine.connect() as c:
        counters = dict(c.execute(select(experiment_strata.c.stratum, experiment_strata.c.entrants)).all())
        sent = c.execute(select(outbox.c.run_id, outbox.c.template)).all()
        details = [d for (d,) in c.execute(select(run_steps.c.detail).where(run_steps.c.kind == "entry"))
                   if d.get("experiment")]
    assert sum(counters.values()) == total and counters["vip"] == counters["other"] == total // 2
    version_of = {r.id: r.version for r in runs}
    assert all((version_of[run_id], template) in {(1, "welcome_long"), (2, "welcome_short")}
               for run_id, template in sent if run_id in version_of)  # each entrant ran its assigned version
    assert len(details) == total and {d["arm"] for d in details} == {"short", "long"}

    _, analysis = analyse_experiment(app.services, "welcome_versions", actor="t")
    assert analysis.sizes == (by_version[2], by_version[1]) and not analysis.srm_flagged
    long = analysis.metric("long", "revenue")
    assert long.continuous and long.difference is not None and long.difference > 2000  # ≈ 0.4 × 10,000 cents
    assert long.difference_ci is not None and long.difference_ci[0] > 0
    assert long.p_adjusted is not None and long.p_adjusted < 0.01
    short = analysis.metric("short", "revenue")
    assert short.rate == pytest.approx(10000 * short.successes / short.n)

    rolled = rollout_experiment(app.services, "welcome_versions", actor="市场部")
    assert rolled.state == "rolled_out" and rolled.winner == "long" and rolled.rolled_out_version == 3
    with app.services.reader() as uow:
        record = uow.journeys.get("welcome")
        assert record is not None and record.current_version == 3
        assert uow.journeys.version(record.id, 3) == uow.journeys.version(record.id, 1)
    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action, audit_log.c.actor)) if r.actor == "市场部"]
    assert actions == ["experiment.start", "journey.publish", "experiment.rollout"]
    assert {r.version for r in _runs(app) if r.id in version_of} == {1, 2}  # those runs keep their version

    # after the roll-out the other version takes no entrants: everyone enters the live v3
    after = clock.now()
    # (the sandbox numbers its events from 0 each time: only those past the earlier runs' numbers are new)
    _simulate(app, V1, _scenario(after, 0.2, 0.6, days=24, prefix="post", length=26))
    later = [r for r in _runs(app) if r.entered_at >= after]
    assert len(later) >= 36 and {r.version for r in later} == {3}


@pytest.mark.usefixtures("versions")
def test_the_workers_daily_sweeper_stops_a_version_whose_guardrail_degrades(app: Application,
                                                                            clock: VirtualClock) -> None:
    """The sandbox's worker runs the daily experiment pass: the long version's unsubscribes stop the experiment
    within days, and from then on every entrant takes the live version again."""
    start = clock.now()
    create_experiment(app.services, SPEC, actor="t", start=True)
    _simulate(app, V2, _scenario(start, 0.2, 0.2, unsubscribe=0.3))
    clock.set(start + timedelta(days=20))
    with app.services.reader() as uow:
        stopped = uow.experiments.get("welcome_versions")
    assert stopped is not None and stopped.state == "stopped" and stopped.stopped_at is not None
    assert stopped.stop_reason == "guardrail: unsubscribe worse in long"
    assert stopped.stopped_at - start < timedelta(days=10)
    after = [r for r in _runs(app) if r.entered_at > stopped.stopped_at]
    assert after and {r.version for r in after} == {2}
    assert {r.version for r in _runs(app) if r.entered_at < stopped.stopped_at} == {1, 2}
    with app.engine.connect() as c:
        stops = [r.actor for r in c.execute(select(audit_log.c.actor).where(audit_log.c.action == "experiment.stop"))]
    assert stops == ["system:experiments"]
    assert ExperimentSweeper(app.services)() == []  # nothing left running
    with pytest.raises(ExperimentRefused) as caught:
        rollout_experiment(app.services, "welcome_versions", actor="t")
    assert {"state", "guardrail"} <= set(caught.value.rules)
