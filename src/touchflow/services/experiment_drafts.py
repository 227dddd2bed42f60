"""An experiment's life before it runs (A5, ADR 0034): ``create`` makes a draft whose arms, metrics and plan can
still be edited; ``start`` checks governance against the journey as it is then, recomputes the power plan and
starts the randomisation (audited). An experiment binds to a split node or to published versions of a journey."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.actors import Actor
from touchflow.domain.events import JSONValue
from touchflow.domain.journeys.model import JourneyDefinition, Split
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.measurement.experiment_means import plan_mean_sample_size
from touchflow.domain.measurement.experiment_rules import (
    EDITABLE,
    Experiment,
    ExperimentRefused,
    ExperimentSpec,
    Refusal,
    check_create,
    parse_spec,
    request_of,
)
from touchflow.domain.measurement.experiment_stats import plan_sample_size
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

__all__ = [
    "ExperimentError",
    "arm_definition",
    "create_experiment",
    "get_in",
    "journey_of",
    "plan_experiment",
    "start_experiment",
    "update_experiment",
]

TRAFFIC_WINDOW = timedelta(days=28)  # the plan's traffic estimate: the split's passes (or entries) of 4 weeks


class ExperimentError(ValueError):
    """An experiment request that cannot be done: ``field`` names what to fix (``key``, ``journey``, …)."""

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.status = field, reason, status


def journey_of(uow: UnitOfWork, key: str) -> tuple[JourneyRecord, dict[str, Any], JourneyDefinition]:
    """The journey's record, its live version's data and definition."""
    record = uow.journeys.get(key) if key else None
    if record is None or record.current_version is None:
        raise ExperimentError("journey", f"no published journey {key!r}")
    data = uow.journeys.version(record.id, record.current_version) or {}
    return record, data, parse_journey(data)


def arm_definition(uow: UnitOfWork, spec: ExperimentSpec) -> tuple[JourneyRecord, JourneyDefinition]:
    """The journey and the definition whose goal the analysis counts: the control arm's version for a version
    experiment (versions may differ in their goal; control is the reference), the live version for a split."""
    record, _, definition = journey_of(uow, spec.journey)
    control = spec.arms[0].version
    if spec.kind == "versions" and control is not None:
        definition = parse_journey(uow.journeys.version(record.id, control) or {})
    return record, definition


def get_in(uow: UnitOfWork, key: str) -> Experiment:
    experiment = uow.experiments.get(key)
    if experiment is None:
        raise ExperimentError("key", f"no experiment {key!r}", 404)
    return experiment


def _trigger(definition: JourneyDefinition) -> tuple[Any, ...]:
    t = definition.trigger
    return (t.kind, t.event, t.segment, t.on)


def _spec(uow: UnitOfWork, raw: Mapping[str, Any]) -> tuple[ExperimentSpec, JourneyRecord, JourneyDefinition]:
    if not isinstance(raw, Mapping):
        raise ExperimentError("experiment", "a mapping")
    record, _, definition = journey_of(uow, str(raw.get("journey") or ""))
    versions = raw.get("versions")
    paths: list[tuple[float, str | None]] | None = None
    published: list[int] = []
    if versions is not None:
        if raw.get("split"):
            raise ExperimentError("split", "an experiment binds to a split or to versions, not both")
        published = [v for v in range(1, (record.current_version or 0) + 1)
                     if uow.journeys.version(record.id, v) is not None]
    else:
        node = definition.nodes.get(str(raw.get("split") or ""))
        if not isinstance(node, Split):
            splits = [n.id for n in definition.nodes.values() if isinstance(n, Split)]
            raise ExperimentError("split", f"journey {record.key} has no split node {raw.get('split')!r} "
                                           f"(its splits: {', '.join(splits) or 'none'}; or name `versions`)")
        paths = list(node.paths)
    try:
        spec = parse_spec(raw, paths, published)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise ExperimentError(getattr(exc, "path", field), getattr(exc, "reason", reason)) from None
    if spec.kind == "versions":
        live = _trigger(definition)
        for arm in spec.arms:
            assert arm.version is not None
            other = parse_journey(uow.journeys.version(record.id, arm.version) or {})
            if _trigger(other) != live:  # entry is matched on the live version's trigger
                raise ExperimentError("versions", f"version {arm.version} of {record.key} has another trigger "
                                                  f"than the live version {record.current_version}")
        _, definition = arm_definition(uow, spec)
    if "conversion" in (spec.primary, *spec.guardrails) and definition.goal is None:
        raise ExperimentError("primary", f"conversion needs a goal on journey {record.key}")
    return spec, record, definition


def _plan(uow: UnitOfWork, spec: ExperimentSpec, record: JourneyRecord, now: datetime) -> dict[str, Any]:
    shares = [a.share for a in spec.arms]
    try:
        if spec.primary == "revenue":
            plan = plan_mean_sample_size(spec.revenue_baseline, spec.revenue_sd, spec.revenue_mde, shares,
                                         alpha=spec.alpha, power=spec.power)
        else:
            plan = plan_sample_size(spec.baseline, spec.mde, shares, alpha=spec.alpha, power=spec.power)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise ExperimentError(field, reason) from None
    passes = 0 if spec.kind == "versions" else \
        len(uow.experiments.assignments(record.id, spec.split_node, now - TRAFFIC_WINDOW, now))
    traffic = passes or uow.experiments.entries_between(record.id, now - TRAFFIC_WINDOW, now)
    per_day = traffic / TRAFFIC_WINDOW.days
    days = max(spec.min_days, math.ceil(plan.sequential_total / per_day)) if per_day > 0 else None
    revenue = spec.primary == "revenue"
    return {"metric": spec.primary, "baseline": spec.revenue_baseline if revenue else spec.baseline,
            "sd": spec.revenue_sd if revenue else None, "mde": spec.revenue_mde if revenue else spec.mde,
            "alpha": spec.alpha, "power": spec.power,
            "shares": list(plan.shares), "fixed_per_arm": list(plan.fixed_per_arm),
            "sequential_per_arm": list(plan.sequential_per_arm), "sequential_total": plan.sequential_total,
            "msprt_tau": plan.mde, "traffic_per_day": round(per_day, 2), "days_needed": days,
            "min_days": spec.min_days}


def plan_experiment(ctx: ServiceContext, raw: Mapping[str, Any]) -> tuple[ExperimentSpec, dict[str, Any]]:
    """The spec and its power / sample-size plan, without creating anything (``experiment plan``)."""
    with ctx.reader() as uow:
        spec, record, _ = _spec(uow, raw)
        return spec, _plan(uow, spec, record, ctx.clock.now())


def _refusals(uow: UnitOfWork, spec: ExperimentSpec, key: str) -> list[Refusal]:
    refusals = check_create(spec, {s.key for s in uow.segments.all()})
    busy = [e.spec.key for e in uow.experiments.all() if e.state == "running" and e.spec.key != key
            and e.spec.journey == spec.journey and e.spec.split_node == spec.split_node]
    if busy:
        where = "this split" if spec.kind == "split" else "this journey's versions"
        refusals.append(Refusal("one-per-split", f"experiment {busy[0]} already runs on {where}"))
    return refusals


def create_experiment(ctx: ServiceContext, raw: Mapping[str, Any], *, actor: Actor | str,
                      start: bool = False) -> Experiment:
    """A draft bound to a split or to journey versions, with its plan (``start=True``: start it at once, which
    is what ``create --start`` and older scripts ask for). Input errors raise ``ExperimentError``."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.uow() as uow:
        spec, record, _ = _spec(uow, raw)
        if uow.experiments.get(spec.key) is not None:
            raise ExperimentError("key", f"experiment {spec.key} exists", 409)
        plan = _plan(uow, spec, record, now)
        experiment = Experiment(ctx.ids.new(now), spec, "draft", now, who, plan=plan)
        uow.experiments.add(experiment, record.id)
        uow.audit.record(who, "experiment.create", spec.key, {
            "journey": spec.journey, "split": spec.split_node, "versions": list(spec.versions),
            "arms": [a.name for a in spec.arms], "plan": plan}, now)
        if start:
            experiment = _start(uow, experiment, who, now)
        uow.commit()
    return experiment


def update_experiment(ctx: ServiceContext, key: str, changes: Mapping[str, Any], *,
                      actor: Actor | str) -> Experiment:
    """Edit a draft: arms, shares, versions, metrics, strata and plan inputs; the plan is recomputed."""
    who = Actor.of(actor).label
    if not isinstance(changes, Mapping) or not changes:
        raise ExperimentError("experiment", "a mapping of the fields to change")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ExperimentError(unknown[0], f"not editable (editable: {', '.join(EDITABLE)})")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        experiment = get_in(uow, key)
        if experiment.state != "draft":
            raise ExperimentError("state", f"experiment {key} is {experiment.state}; only a draft is edited", 409)
        raw = {**request_of(experiment.spec), **changes}
        if "split" in changes:
            raw.pop("versions", None)
            raw.pop("shares", None)
        if "versions" in changes:
            raw.pop("split", None)
            if "arms" not in changes:
                raw.pop("arms", None)
        spec, record, _ = _spec(uow, raw)
        plan = _plan(uow, spec, record, now)
        experiment = replace(experiment, spec=spec, plan=plan)
        uow.experiments.save(experiment)
        changed: list[JSONValue] = [str(c) for c in sorted(changes)]
        uow.audit.record(who, "experiment.update", key, {"changed": changed, "plan": plan}, now)
        uow.commit()
    return experiment


def _start(uow: UnitOfWork, experiment: Experiment, who: str, now: datetime) -> Experiment:
    if experiment.state != "draft":
        raise ExperimentError("state", f"experiment {experiment.spec.key} is {experiment.state}, not a draft", 409)
    spec, record, _ = _spec(uow, request_of(experiment.spec))  # the journey as it is now
    refusals = _refusals(uow, spec, spec.key)
    if refusals:
        raise ExperimentRefused(refusals)
    plan = _plan(uow, spec, record, now)
    if not plan["sequential_total"]:
        raise ExperimentRefused([Refusal("plan", "no power plan could be made")])
    experiment = replace(experiment, spec=spec, plan=plan, state="running", started_at=now)
    uow.experiments.save(experiment)
    uow.audit.record(who, "experiment.start", spec.key, {"plan": plan, "arms": [a.name for a in spec.arms]}, now)
    return experiment


def start_experiment(ctx: ServiceContext, key: str, *, actor: Actor | str) -> Experiment:
    """Start a draft: governance (every arm ≥ 5 %, strata, one experiment per split or journey) is checked on the
    journey as it is now and the power plan is recomputed and kept; refusals raise ``ExperimentRefused``."""
    who = Actor.of(actor).label
    now = ctx.clock.now()
    with ctx.uow() as uow:
        experiment = _start(uow, get_in(uow, key), who, now)
        uow.commit()
    return experiment
