"""Experiments (A5) on SQLite and PostgreSQL: bound to a split, traffic from the sandbox simulator over three
weeks of virtual time, analysed from the raw tables, rolled out as a new journey version; governance refusals."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import Clock, VirtualClock
from touchflow.domain.journeys.model import Split
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.scenarios import parse_scenario
from touchflow.domain.measurement.experiment_rules import ExperimentRefused
from touchflow.engine import simulator
from touchflow.services.context import ServiceContext
from touchflow.services.experiments import (
    ExperimentError,
    analyse_experiment,
    create_experiment,
    get_experiment,
    plan_experiment,
    rollout_experiment,
    stop_experiment,
)
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment
from touchflow.store.tables import audit_log

JOURNEY = """
key: coupon_copy
name: 优惠券文案实验
trigger: {event: signup}
goal: {event: coupon_claimed}
nodes:
  split: {kind: split, paths: [{percent: %d, next: rational}, {percent: %d, next: emotional}]}
  rational: {kind: send, channel: email, template: copy_rational, next: wait}
  emotional: {kind: send, channel: email, template: copy_emotional, next: wait}
  wait: {kind: wait, duration: 5d, next: done}
  done: {kind: exit}
"""
SPEC: dict[str, Any] = {"key": "copy_test", "journey": "coupon_copy", "split": "split",
                        "arms": ["rational", "emotional"], "variable": "copy", "primary": "conversion",
                        "guardrails": ["unsubscribe"], "strata": ["vip"], "baseline": 0.2, "mde": 0.1}


def _reactions(rational: float, emotional: float) -> list[dict[str, Any]]:
    return [{"template": "copy_rational", "event": "coupon_claimed", "properties": {"coupon_id": "c"},
             "probability": rational, "after": "3h"},
            {"template": "copy_emotional", "event": "coupon_claimed", "properties": {"coupon_id": "c"},
             "probability": emotional, "after": "3h"}]


def _scenario(start: Any, rational: float, emotional: float, unsubscribe: float = 0.0) -> Any:
    extra = [{"template": "copy_emotional", "event": "unsubscribe", "probability": unsubscribe, "after": "1h"}]
    personas = [{"name": f"d{day:02d}{'v' if vip else 'n'}", "count": 18, "tags": ["vip"] if vip else [],
                 "events": [{"at": f"{day}d1h", "type": "signup"}],
                 "behaviour": {"open": 0.6, "click": 0.2,
                               "reactions": _reactions(rational, emotional) + (extra if unsubscribe else [])}}
                for day in range(0, 16, 2) for vip in (True, False)]
    return parse_scenario({"seed": 3, "start": start.isoformat(), "duration": "20d", "personas": personas})


def _simulate(app: Application, text: str, scenario: Any) -> None:
    """The sandbox's engine, reactions and virtual clock, on the test's own database (both dialects)."""
    class Store:
        def __init__(self, clock: Clock) -> None:
            self.services: ServiceContext = dataclasses.replace(app.services, clock=clock)

        def init_database(self) -> str | None:
            return None

        def close(self) -> None:
            pass

    simulator.simulate([text], scenario, open_store=lambda _p, clock, _b: Store(clock))


@pytest.fixture
def journey(app: Application) -> str:
    text = JOURNEY % (50, 50)
    publish_journey(app.services, text, actor="t")
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "dynamic", "condition": {"tag": "vip"}},
                   actor="t")
    return text


def test_create_shows_the_plan_and_refuses_a_small_arm(app: Application, journey: str) -> None:
    spec, plan = plan_experiment(app.services, SPEC)
    assert spec.arms[0].name == "rational" and plan["sequential_per_arm"][0] > plan["fixed_per_arm"][0] > 0
    publish_journey(app.services, JOURNEY.replace("coupon_copy", "tiny") % (97, 3), actor="t")
    with pytest.raises(ExperimentRefused, match="arm-share: arm emotional gets 3 %") as caught:
        create_experiment(app.services, {**SPEC, "key": "tiny_test", "journey": "tiny"}, actor="t", start=True)
    assert caught.value.rules == ("arm-share",)
    with pytest.raises(ExperimentError, match="split: journey coupon_copy has no split node 'nope'"):
        create_experiment(app.services, {**SPEC, "split": "nope"}, actor="t", start=True)
    with pytest.raises(ExperimentRefused, match="strata: no segment gold"):
        create_experiment(app.services, {**SPEC, "strata": ["gold"]}, actor="t", start=True)


def test_a_decision_needs_fourteen_days(app: Application, journey: str) -> None:
    create_experiment(app.services, SPEC, actor="t", start=True)
    with pytest.raises(ExperimentRefused) as caught:
        rollout_experiment(app.services, "copy_test", actor="t")
    assert "min-duration" in caught.value.rules and "confidence" in caught.value.rules
    assert "needs ≥ 14 days" in str(caught.value)
    stopped = stop_experiment(app.services, "copy_test", actor="t", reason="wrong audience")
    assert stopped.state == "stopped"
    with pytest.raises(ExperimentError, match="state: experiment copy_test is stopped"):
        stop_experiment(app.services, "copy_test", actor="t", reason="again")


def test_simulated_traffic_analysed_and_rolled_out(app: Application, journey: str, clock: VirtualClock) -> None:
    created = create_experiment(app.services, SPEC, actor="市场部", start=True)
    assert created.state == "running" and created.plan["sequential_per_arm"]
    _simulate(app, journey, _scenario(clock.now(), 0.15, 0.5))
    clock.set(clock.now() + timedelta(days=20))
    experiment, analysis = analyse_experiment(app.services, "copy_test", actor="t")
    assert sum(analysis.sizes) == 288 and not analysis.srm_flagged
    assert set(analysis.srm_strata) == {"vip", "other"}
    emotional = analysis.metric("emotional", "conversion")
    assert emotional.difference is not None and emotional.difference > 0.2
    assert emotional.p_sequential is not None and emotional.p_sequential < 0.001
    assert experiment.last_analysis is not None and experiment.state == "running"
    rolled = rollout_experiment(app.services, "copy_test", actor="市场部")
    assert rolled.state == "rolled_out" and rolled.winner == "emotional" and rolled.rolled_out_version == 2
    with app.services.reader() as uow:
        record = uow.journeys.get("coupon_copy")
        assert record is not None and record.current_version == 2
        definition = parse_journey(uow.journeys.version(record.id, 2) or {})
    assert definition.start == "emotional" and "rational" not in definition.nodes
    assert not any(isinstance(n, Split) for n in definition.nodes.values())
    assert get_experiment(app.services, "copy_test").winner == "emotional"
    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action, audit_log.c.actor))
                   if r.actor == "市场部"]
    assert actions == ["experiment.create", "experiment.start", "journey.publish", "experiment.rollout"]


def test_a_guardrail_that_degrades_stops_the_experiment(app: Application, journey: str,
                                                        clock: VirtualClock) -> None:
    create_experiment(app.services, SPEC, actor="t", start=True)
    _simulate(app, journey, _scenario(clock.now(), 0.15, 0.5, unsubscribe=0.3))
    clock.set(clock.now() + timedelta(days=20))
    experiment, analysis = analyse_experiment(app.services, "copy_test", actor="worker")
    assert analysis.harm == (("emotional", "unsubscribe"),)
    assert experiment.state == "stopped" and experiment.stop_reason == "guardrail: unsubscribe worse in emotional"
    with pytest.raises(ExperimentRefused) as caught:
        rollout_experiment(app.services, "copy_test", actor="t")
    assert {"state", "guardrail"} <= set(caught.value.rules)
