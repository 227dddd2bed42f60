"""Governed A/B tests (A5): drafts and their start (``experiment_drafts``), analyse (and stop on guardrail harm),
stop, and roll out the winner — for a split, a new journey version without the split; for a version experiment,
the winning version made live again through the publish use case (ADR 0034). Each write is one transaction with
one audit row; a refusal names the governance rule it breaks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from touchflow.domain.actors import Actor
from touchflow.domain.journeys.model import Split
from touchflow.domain.measurement.experiment_analysis import (
    Analysis,
    analyse,
    rollout_decision,
    rollout_journey_data,
)
from touchflow.domain.measurement.experiment_rules import Experiment, ExperimentRefused, Refusal
from touchflow.domain.measurement.experiment_units import build_units, event_types
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.experiment_drafts import (
    ExperimentError,
    arm_definition,
    create_experiment,
    get_in,
    journey_of,
    plan_experiment,
    start_experiment,
    update_experiment,
)
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
    "start_experiment",
    "stop_experiment",
    "update_experiment",
]


def list_experiments(ctx: ServiceContext) -> list[Experiment]:
    with ctx.reader() as uow:
        return uow.experiments.all()


_get = get_in


def get_experiment(ctx: ServiceContext, key: str) -> Experiment:
    with ctx.reader() as uow:
        return _get(uow, key)


def _analysis(uow: UnitOfWork, experiment: Experiment, now: datetime) -> Analysis:
    spec = experiment.spec
    record, definition = arm_definition(uow, spec)
    start = experiment.started_at or experiment.created_at
    until = experiment.stopped_at or now
    if experiment.state == "draft":  # nothing assigned yet (a split's plain-hash passes are not the experiment's)
        return analyse(spec, [], start, max(now, start))
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
    """End a running experiment (or discard a draft) without a winner (the split or live version stays)."""
    who = Actor.of(actor).label
    if not reason.strip():
        raise ExperimentError("reason", "say why the experiment stops")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        experiment = _get(uow, key)
        if experiment.state not in ("draft", "running"):
            raise ExperimentError("state", f"experiment {key} is {experiment.state}, not running", 409)
        experiment = replace(experiment, state="stopped", stopped_at=now, stop_reason=reason.strip()[:500])
        uow.experiments.save(experiment)
        uow.audit.record(who, "experiment.stop", key, {"reason": experiment.stop_reason}, now)
        uow.commit()
    return experiment


def rollout_experiment(ctx: ServiceContext, key: str, *, actor: Actor | str, arm: str | None = None) -> Experiment:
    """Roll the winner out if governance allows: ≥ 14 days, no sample-ratio mismatch, no guardrail harm, and the
    winner significant at ≥ 95 % (BH-adjusted mSPRT). A split: a journey version in which everyone takes the
    winning arm. Versions: the winner's definition published again as the live version, so the other versions
    take no more entrants (their running contacts finish on them)."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.reader() as uow:
        experiment = _get(uow, key)
        analysis = _analysis(uow, experiment, now)
        winner, refusals = rollout_decision(experiment, analysis, now, arm)
        record, data, definition = journey_of(uow, experiment.spec.journey)
        chosen = next((a for a in experiment.spec.arms if a.name == winner), None)
        text = None
        if experiment.spec.kind == "versions":
            if chosen is not None and chosen.version is not None:
                text = uow.journeys.source_text(record.id, chosen.version)
        else:
            node = definition.nodes.get(experiment.spec.split_node)
            if not isinstance(node, Split) or [p for p, _ in node.paths] != [a.share for a in experiment.spec.arms]:
                refusals.append(Refusal("journey-changed", f"journey {record.key} no longer has split "
                                                           f"{experiment.spec.split_node} as the experiment bound it"))
    if refusals or chosen is None:
        raise ExperimentRefused(refusals)
    if experiment.spec.kind == "versions":
        if text is None:
            raise ExperimentError("versions", f"version {chosen.version} of {record.key} has no source")
    else:
        try:
            text = json.dumps(rollout_journey_data(data, experiment.spec.split_node, chosen.target),
                              ensure_ascii=False)
        except ValueError as exc:
            raise ExperimentError("split", str(exc).partition(": ")[2]) from None
    # the winner's steps were published (and their content checked) with the journey already
    result = publish_journey(ctx, text, actor=who)
    with ctx.uow() as uow:
        experiment = replace(_get(uow, key), state="rolled_out", stopped_at=now, winner=winner,
                             rolled_out_version=result.version, last_analysis=analysis.to_data(),
                             stop_reason=f"rolled out {winner}")
        uow.experiments.save(experiment)
        uow.audit.record(who, "experiment.rollout", key, {
            "winner": winner, "journey": record.key, "version": result.version,
            "winner_version": chosen.version, "was_live": record.current_version}, now)
        uow.commit()
    return experiment
