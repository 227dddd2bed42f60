"""Governed A/B tests (A5): create (governance checked, plan shown), analyse (and stop on guardrail harm),
stop, and roll out the winner as a new journey version through the publish use case. Each write is one
transaction with one audit row; a refusal names the governance rule it breaks."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.journey_parse import parse_journey
from touchflow.domain.journeys import JourneyDefinition, Split
from touchflow.domain.measurement.experiment_analysis import (
    Analysis,
    analyse,
    rollout_decision,
    rollout_journey_data,
)
from touchflow.domain.measurement.experiment_rules import (
    Experiment,
    ExperimentRefused,
    ExperimentSpec,
    Refusal,
    check_create,
    parse_spec,
)
from touchflow.domain.measurement.experiment_stats import plan_sample_size
from touchflow.domain.measurement.experiment_units import build_units, event_types
from touchflow.domain.ports import JourneyRecord, UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import publish_journey
from touchflow.services.periodic import Every

__all__ = [
    "ExperimentError",
    "ExperimentRefused",
    "ExperimentSweeper",
    "analyse_experiment",
    "check_running_experiments",
    "create_experiment",
    "experiment_report",
    "get_experiment",
    "list_experiments",
    "plan_experiment",
    "rollout_experiment",
    "stop_experiment",
]

TRAFFIC_WINDOW = timedelta(days=28)  # the plan's traffic estimate: the split's passes (or entries) of 4 weeks


class ExperimentError(ValueError):
    """An experiment request that cannot be done: ``field`` names what to fix (``key``, ``journey``, …)."""

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.status = field, reason, status


def _journey(uow: UnitOfWork, key: str) -> tuple[JourneyRecord, dict[str, Any], JourneyDefinition]:
    record = uow.journeys.get(key) if key else None
    if record is None or record.current_version is None:
        raise ExperimentError("journey", f"no published journey {key!r}")
    data = uow.journeys.version(record.id, record.current_version) or {}
    return record, data, parse_journey(data)


def _spec(uow: UnitOfWork, raw: Mapping[str, Any]) -> tuple[ExperimentSpec, JourneyRecord, JourneyDefinition]:
    if not isinstance(raw, Mapping):
        raise ExperimentError("experiment", "a mapping")
    record, _, definition = _journey(uow, str(raw.get("journey") or ""))
    node = definition.nodes.get(str(raw.get("split") or ""))
    if not isinstance(node, Split):
        splits = [n.id for n in definition.nodes.values() if isinstance(n, Split)]
        raise ExperimentError("split", f"journey {record.key} has no split node {raw.get('split')!r} "
                                       f"(its splits: {', '.join(splits) or 'none'})")
    try:
        spec = parse_spec(raw, node.paths)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise ExperimentError(getattr(exc, "path", field), getattr(exc, "reason", reason)) from None
    if "conversion" in (spec.primary, *spec.guardrails) and definition.goal is None:
        raise ExperimentError("primary", f"conversion needs a goal on journey {record.key}")
    return spec, record, definition


def _plan(uow: UnitOfWork, spec: ExperimentSpec, record: JourneyRecord, now: datetime) -> dict[str, Any]:
    plan = plan_sample_size(spec.baseline, spec.mde, [a.share for a in spec.arms], alpha=spec.alpha,
                            power=spec.power)
    passes = len(uow.experiments.assignments(record.id, spec.split_node, now - TRAFFIC_WINDOW, now))
    traffic = passes or uow.experiments.entries_between(record.id, now - TRAFFIC_WINDOW, now)
    per_day = traffic / TRAFFIC_WINDOW.days
    days = max(spec.min_days, math.ceil(plan.sequential_total / per_day)) if per_day > 0 else None
    return {"baseline": spec.baseline, "mde": spec.mde, "alpha": spec.alpha, "power": spec.power,
            "shares": list(plan.shares), "fixed_per_arm": list(plan.fixed_per_arm),
            "sequential_per_arm": list(plan.sequential_per_arm), "sequential_total": plan.sequential_total,
            "msprt_tau": spec.mde, "traffic_per_day": round(per_day, 2), "days_needed": days,
            "min_days": spec.min_days}


def plan_experiment(ctx: ServiceContext, raw: Mapping[str, Any]) -> tuple[ExperimentSpec, dict[str, Any]]:
    """The spec and its power / sample-size plan, without creating anything (``experiment plan``)."""
    with ctx.reader() as uow:
        spec, record, _ = _spec(uow, raw)
        return spec, _plan(uow, spec, record, ctx.clock.now())


def create_experiment(ctx: ServiceContext, raw: Mapping[str, Any], *, actor: Actor | str) -> Experiment:
    """Bind an experiment to a split and start it now; governance refusals raise ``ExperimentRefused``."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.uow() as uow:
        spec, record, _ = _spec(uow, raw)
        refusals = check_create(spec, {s.key for s in uow.segments.all()})
        if uow.experiments.get(spec.key) is not None:
            raise ExperimentError("key", f"experiment {spec.key} exists", 409)
        busy = [e.spec.key for e in uow.experiments.all() if e.state == "running"
                and e.spec.journey == spec.journey and e.spec.split_node == spec.split_node]
        if busy:
            refusals.append(Refusal("one-per-split", f"experiment {busy[0]} already runs on this split"))
        if refusals:
            raise ExperimentRefused(refusals)
        plan = _plan(uow, spec, record, now)
        experiment = Experiment(ctx.ids.new(now), spec, "running", now, who, started_at=now, plan=plan)
        uow.experiments.add(experiment, record.id)
        uow.audit.record(who, "experiment.create", spec.key, {"journey": spec.journey, "split": spec.split_node,
                                                              "arms": [a.name for a in spec.arms], "plan": plan}, now)
        uow.commit()
    return experiment


def list_experiments(ctx: ServiceContext) -> list[Experiment]:
    with ctx.reader() as uow:
        return uow.experiments.all()


def _get(uow: UnitOfWork, key: str) -> Experiment:
    experiment = uow.experiments.get(key)
    if experiment is None:
        raise ExperimentError("key", f"no experiment {key!r}", 404)
    return experiment


def get_experiment(ctx: ServiceContext, key: str) -> Experiment:
    with ctx.reader() as uow:
        return _get(uow, key)


def _analysis(uow: UnitOfWork, experiment: Experiment, now: datetime) -> Analysis:
    spec = experiment.spec
    record, _, definition = _journey(uow, spec.journey)
    start = experiment.started_at or experiment.created_at
    until = experiment.stopped_at or now
    repo = uow.experiments
    units = build_units(spec, record.id, definition.goal,
                        repo.assignments(record.id, spec.split_node, start, until),
                        repo.events_of_assigned(record.id, spec.split_node, start, until,
                                                event_types(spec, definition.goal), timedelta(days=spec.pre_days)),
                        repo.stays_of_assigned(record.id, spec.split_node, start, until, spec.strata))
    return analyse(spec, units, start, until)


def analyse_experiment(ctx: ServiceContext, key: str, *, actor: Actor | str) -> tuple[Experiment, Analysis]:
    """Analyse from the raw tables and keep the result; a guardrail that got significantly worse stops a
    running experiment there and then (audited as ``experiment.stop`` with the guardrail as the reason)."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.uow() as uow:
        experiment = _get(uow, key)
        analysis = _analysis(uow, experiment, now)
        experiment = replace(experiment, last_analysis=analysis.to_data())
        if experiment.state == "running" and analysis.harm:
            reason = "guardrail: " + ", ".join(f"{m} worse in {a}" for a, m in analysis.harm)
            experiment = replace(experiment, state="stopped", stopped_at=now, stop_reason=reason)
            uow.audit.record(who, "experiment.stop", key, {"reason": reason, "automatic": True}, now)
        uow.experiments.save(experiment)
        uow.commit()
    return experiment, analysis


def experiment_report(ctx: ServiceContext, key: str) -> tuple[Experiment, Analysis]:
    """The analysis now, read only (``GET /v1/experiments/{key}``): nothing is saved or stopped."""
    with ctx.reader() as uow:
        experiment = _get(uow, key)
        return experiment, _analysis(uow, experiment, ctx.clock.now())


class ExperimentSweeper:
    """What the worker's tick calls: at most once every ``every`` (a day), analyse the running experiments so a
    guardrail metric that degrades stops its experiment without anyone looking (A5)."""

    def __init__(self, ctx: ServiceContext, every: timedelta = timedelta(days=1)) -> None:
        self.ctx = ctx
        self.gate = Every(ctx.clock, every)

    def __call__(self) -> list[str]:
        if self.gate.due() is None:
            return []
        return check_running_experiments(self.ctx)


def check_running_experiments(ctx: ServiceContext, *, actor: Actor | str = "system:experiments") -> list[str]:
    """Analyse every running experiment (the worker's daily pass); the keys stopped by a guardrail."""
    stopped = []
    for experiment in list_experiments(ctx):
        if experiment.state == "running":
            after, _ = analyse_experiment(ctx, experiment.spec.key, actor=actor)
            if after.state == "stopped":
                stopped.append(after.spec.key)
    return stopped


def stop_experiment(ctx: ServiceContext, key: str, *, actor: Actor | str, reason: str) -> Experiment:
    """End a running experiment without a winner (the split stays as it is)."""
    who = Actor.of(actor).label
    if not reason.strip():
        raise ExperimentError("reason", "say why the experiment stops")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        experiment = _get(uow, key)
        if experiment.state != "running":
            raise ExperimentError("state", f"experiment {key} is {experiment.state}, not running", 409)
        experiment = replace(experiment, state="stopped", stopped_at=now, stop_reason=reason.strip()[:500])
        uow.experiments.save(experiment)
        uow.audit.record(who, "experiment.stop", key, {"reason": experiment.stop_reason}, now)
        uow.commit()
    return experiment


def rollout_experiment(ctx: ServiceContext, key: str, *, actor: Actor | str, arm: str | None = None) -> Experiment:
    """Publish a journey version in which everyone takes the winning arm, if governance allows: ≥ 14 days, no
    sample-ratio mismatch, no guardrail harm, and the winner significant at ≥ 95 % (BH-adjusted mSPRT)."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.reader() as uow:
        experiment = _get(uow, key)
        analysis = _analysis(uow, experiment, now)
        winner, refusals = rollout_decision(experiment, analysis, now, arm)
        record, data, definition = _journey(uow, experiment.spec.journey)
        node = definition.nodes.get(experiment.spec.split_node)
        if not isinstance(node, Split) or [p for p, _ in node.paths] != [a.share for a in experiment.spec.arms]:
            refusals.append(Refusal("journey-changed", f"journey {record.key} no longer has split "
                                                       f"{experiment.spec.split_node} as the experiment bound it"))
    if refusals or winner is None:
        raise ExperimentRefused(refusals)
    chosen = next(a for a in experiment.spec.arms if a.name == winner)
    try:
        new_data = rollout_journey_data(data, experiment.spec.split_node, chosen.target)
    except ValueError as exc:
        raise ExperimentError("split", str(exc).partition(": ")[2]) from None
    # the winner's steps were published (and their content checked) with the journey already
    result = publish_journey(ctx, json.dumps(new_data, ensure_ascii=False), actor=who)
    with ctx.uow() as uow:
        experiment = replace(_get(uow, key), state="rolled_out", stopped_at=now, winner=winner,
                             rolled_out_version=result.version, last_analysis=analysis.to_data(),
                             stop_reason=f"rolled out {winner}")
        uow.experiments.save(experiment)
        uow.audit.record(who, "experiment.rollout", key, {"winner": winner, "journey": record.key,
                                                          "version": result.version}, now)
        uow.commit()
    return experiment
