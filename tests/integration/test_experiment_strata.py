"""Stratified assignment on SQLite and PostgreSQL: with an experiment running, the split assigns by permuted
blocks per stratum (arm counts within one block in every stratum, SRM quiet); without one, the plain hash."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import Clock, VirtualClock
from touchflow.domain.journeys.scenarios import parse_scenario
from touchflow.engine import simulator
from touchflow.services.context import ServiceContext
from touchflow.services.experiments import analyse_experiment, create_experiment
from touchflow.services.journeys import publish_journey
from touchflow.services.segments import create_segment
from touchflow.store.tables import experiment_strata, run_steps

JOURNEY = """
key: {key}
trigger: {{event: signup}}
goal: {{event: order_paid}}
nodes:
  split: {{kind: split, paths: [{{percent: 30, next: a}}, {{percent: 70, next: b}}]}}
  a: {{kind: send, channel: email, template: copy_a}}
  b: {{kind: send, channel: email, template: copy_b}}
"""
SPEC: dict[str, Any] = {"key": "strata_test", "journey": "copy", "split": "split", "arms": ["a", "b"],
                        "primary": "conversion", "guardrails": ["unsubscribe"], "strata": ["vip", "city"]}


def _simulate(app: Application, texts: list[str], start: Any) -> None:
    class Store:
        def __init__(self, clock: Clock) -> None:
            self.services: ServiceContext = dataclasses.replace(app.services, clock=clock)

        def init_database(self) -> str | None:
            return None

        def close(self) -> None:
            pass

    personas = [{"name": f"d{day:02d}{kind}", "count": count, "tags": tags,
                 "events": [{"at": f"{day}d1h", "type": "signup"}]}
                for day in range(0, 10, 2)
                for kind, count, tags in (("v", 7, ["vip"]), ("c", 5, ["city"]), ("n", 23, []))]
    scenario = parse_scenario({"seed": 5, "start": start.isoformat(), "duration": "12d", "personas": personas})
    simulator.simulate(texts, scenario, open_store=lambda _p, clock, _b: Store(clock))


def _arms(app: Application, journey: str) -> tuple[dict[str, Counter[str]], list[dict[str, Any]]]:
    with app.services.reader() as uow:
        record = uow.journeys.get(journey)
        assert record is not None
    with app.engine.connect() as c:
        rows = c.execute(select(run_steps.c.edge, run_steps.c.detail).where(
            run_steps.c.journey_id == record.id, run_steps.c.kind == "split")).all()
    by_stratum: dict[str, Counter[str]] = {}
    for edge, detail in rows:
        by_stratum.setdefault(str(detail.get("stratum", "-")), Counter())[edge] += 1
    return by_stratum, [dict(d) for _, d in rows]


def test_running_experiment_balances_every_stratum(app: Application, clock: VirtualClock) -> None:
    copy, plain = JOURNEY.format(key="copy"), JOURNEY.format(key="plain")
    publish_journey(app.services, copy, actor="t")
    publish_journey(app.services, plain, actor="t")
    for key in ("vip", "city"):
        create_segment(app.services, {"key": key, "name": key, "kind": "dynamic", "condition": {"tag": key}},
                       actor="t")
    create_experiment(app.services, SPEC, actor="t", start=True)
    _simulate(app, [copy, plain], clock.now())
    clock.set(clock.now() + timedelta(days=12))

    by_stratum, details = _arms(app, "copy")
    assert {k: sum(v.values()) for k, v in by_stratum.items()} == {"vip": 35, "city": 25, "other": 115}
    for stratum, counts in by_stratum.items():  # 30/70: a block of 10, so each arm within 10 of its share
        total = sum(counts.values())
        assert abs(counts["path[0]"] - 0.3 * total) < 10 and abs(counts["path[1]"] - 0.7 * total) < 10, stratum
        assert sorted(d["n"] for d in details if d["stratum"] == stratum) == list(range(total))
    with app.engine.connect() as c:
        counters = dict(c.execute(select(experiment_strata.c.stratum, experiment_strata.c.entrants)).all())
    assert counters == {"vip": 35, "city": 25, "other": 115}
    _, analysis = analyse_experiment(app.services, "strata_test", actor="t")
    assert sum(analysis.sizes) == 175 and not analysis.srm_flagged
    assert {k: sum(v.observed) for k, v in analysis.srm_strata.items()} == {"vip": 35, "city": 25, "other": 115}
    assert all(r.p_value > 0.5 for r in analysis.srm_strata.values())  # balanced by construction, not by luck

    # the other journey's split has no experiment: the plain hash, as before
    plain_strata, plain_details = _arms(app, "plain")
    assert set(plain_strata) == {"-"} and all("bucket" in d for d in plain_details)
    assert sum(plain_strata["-"].values()) == 175
