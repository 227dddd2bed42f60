"""An experiment's analysis from its units (one per contact the split assigned) and the roll-out decision.

The sequential test looks once per day since the start (cumulative data up to each day's end) and at ``now``;
its p-value is the running minimum, so asking again tomorrow is safe. CUPED adjusts every look with θ from
that look's data. Benjamini–Hochberg runs over every (treatment arm × metric) comparison. A continuous metric
(revenue per entrant, cents) is compared by Welch's test; its mSPRT mixes over the mean difference (ADR 0034).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from touchflow.domain.measurement.experiment_means import mean_interval, welch
from touchflow.domain.measurement.experiment_rules import (
    CONTINUOUS,
    HARM_WHEN_UP,
    MIN_DURATION,
    Experiment,
    ExperimentSpec,
    Refusal,
)
from touchflow.domain.measurement.experiment_stats import (
    SrmResult,
    bh_adjust,
    cuped,
    msprt_p_values,
    rate_interval,
    srm_test,
    two_proportion,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Analysis", "ArmMetric", "Unit", "analyse", "rollout_decision", "rollout_journey_data"]

_Z95 = 1.959963984540054
GUARDRAIL_TAU_SCALES = (1, 4, 16)  # guardrail τ = guardrail_mde × these: harm of unknown size, small to large


@dataclass(frozen=True)
class Unit:
    """One contact in the experiment: its arm (index), when the split assigned it, its stratum (the first
    main segment it was in then, or ``other``), when each metric first happened after assignment (None: not
    yet) and its pre-period value of each metric (the CUPED covariate)."""

    contact_id: str
    arm: int
    assigned_at: datetime
    stratum: str
    outcomes: Mapping[str, datetime | None]
    pre: Mapping[str, float] = field(default_factory=dict)
    values: Mapping[str, tuple[tuple[datetime, float], ...]] = field(default_factory=dict)  # continuous metrics


@dataclass(frozen=True)
class ArmMetric:
    arm: str
    metric: str
    n: int
    successes: int  # contacts with the outcome (for revenue: buyers)
    rate: float  # a rate, or for a continuous metric the mean per contact (cents)
    rate_ci: tuple[float, float]
    difference: float | None = None  # against control (None for control itself)
    difference_ci: tuple[float, float] | None = None
    p_fixed: float | None = None
    cuped_difference: float | None = None
    cuped_ci: tuple[float, float] | None = None
    variance_reduction: float | None = None
    p_sequential: float | None = None
    p_adjusted: float | None = None  # Benjamini–Hochberg over every comparison
    continuous: bool = False  # a mean per contact (Welch), not a rate (two proportions)

    def to_data(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Analysis:
    at: datetime
    days: float
    sizes: tuple[int, ...]
    srm: SrmResult
    srm_strata: Mapping[str, SrmResult]
    metrics: tuple[ArmMetric, ...]
    harm: tuple[tuple[str, str], ...]  # (arm, guardrail metric) that got significantly worse
    looks: int

    @property
    def srm_flagged(self) -> list[str]:
        found = ["all"] if self.srm.flagged else []
        return found + [s for s, r in self.srm_strata.items() if r.flagged]

    def metric(self, arm: str, metric: str) -> ArmMetric:
        return next(m for m in self.metrics if m.arm == arm and m.metric == metric)

    def to_data(self) -> dict[str, Any]:
        def srm(r: SrmResult) -> dict[str, Any]:
            return {"observed": list(r.observed), "expected": [round(e, 2) for e in r.expected],
                    "chi2": r.chi2, "p_value": r.p_value, "flagged": r.flagged}
        return {"at": self.at.isoformat(), "days": round(self.days, 2), "sizes": list(self.sizes), "looks": self.looks,
                "srm": srm(self.srm), "srm_strata": {k: srm(v) for k, v in self.srm_strata.items()},
                "metrics": [m.to_data() for m in self.metrics],
                "guardrail_harm": [{"arm": a, "metric": m} for a, m in self.harm]}


def _cutoffs(start: datetime, now: datetime) -> list[datetime]:
    days = int((now - start) / timedelta(days=1))
    looks = [start + timedelta(days=d) for d in range(1, days + 1)]
    return [*looks, now] if not looks or looks[-1] < now else looks


class _Columns:
    """The units as numpy columns (seconds since the start; +inf for an outcome not reached), so each daily
    look is a mask instead of a pass over Python objects."""

    def __init__(self, units: Sequence[Unit], metrics: Sequence[str], start: datetime) -> None:
        import numpy as np

        def seconds(at: datetime | None) -> float:
            return float("inf") if at is None else (at - start).total_seconds()
        self.assigned = np.array([seconds(u.assigned_at) for u in units])
        self.arms = np.array([u.arm for u in units], dtype=int)
        self.outcome = {m: np.array([seconds(u.outcomes.get(m)) for u in units]) for m in metrics}
        self.pre = {m: np.array([u.pre.get(m, 0.0) for u in units]) for m in metrics}
        self.start = start
        self.amounts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (unit index, seconds, value)
        for m in metrics:
            if m in CONTINUOUS:
                flat = [(i, seconds(at), v) for i, u in enumerate(units) for at, v in u.values.get(m, ())]
                self.amounts[m] = (np.array([f[0] for f in flat], dtype=int), np.array([f[1] for f in flat]),
                                   np.array([f[2] for f in flat], dtype=float))

    def at(self, metric: str, cutoff: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        limit = (cutoff - self.start).total_seconds()
        inside = self.assigned < limit
        if metric in self.amounts:  # the sum of the contact's values up to the look
            index, times, amounts = self.amounts[metric]
            seen = times <= limit
            total = np.bincount(index[seen], weights=amounts[seen], minlength=self.assigned.size)
            return total[inside], self.pre[metric][inside], self.arms[inside]
        y = (self.outcome[metric][inside] <= limit).astype(float)
        return y, self.pre[metric][inside], self.arms[inside]


def _tau2(spec: ExperimentSpec, metric: str) -> float | tuple[float, ...]:
    """The mSPRT's mixing variance: the smallest difference worth detecting, squared (rates or cents);
    guardrails mix over several sizes since the harmful size is not known in advance."""
    if metric in CONTINUOUS:
        if metric == spec.primary:
            return spec.revenue_mde ** 2
        return tuple((spec.revenue_mde * k / 4) ** 2 for k in GUARDRAIL_TAU_SCALES)
    if metric == spec.primary:
        return spec.mde ** 2
    return tuple((spec.guardrail_mde * k) ** 2 for k in GUARDRAIL_TAU_SCALES)


def analyse(spec: ExperimentSpec, units: Sequence[Unit], started_at: datetime, now: datetime) -> Analysis:
    """Every arm × metric at ``now``, with the sequential test over the daily looks since ``started_at``."""
    import numpy as np

    arm_count = len(spec.arms)
    shares = [a.share for a in spec.arms]
    sizes = tuple(sum(1 for u in units if u.arm == i) for i in range(arm_count))
    strata: dict[str, list[int]] = {}
    for u in units:
        strata.setdefault(u.stratum, [0] * arm_count)[u.arm] += 1
    cutoffs = _cutoffs(started_at, now)
    rows: list[ArmMetric] = []
    metrics = (spec.primary, *spec.guardrails)
    columns = _Columns(units, metrics, started_at)
    for metric in metrics:
        tau2 = _tau2(spec, metric)
        paths: dict[int, list[tuple[float, float]]] = {i: [] for i in range(1, arm_count)}
        final = None
        for cutoff in cutoffs:
            y, x, arms = columns.at(metric, cutoff)
            final = cuped(y, x, arms, arm_count)
            for arm in range(1, arm_count):
                paths[arm].append(final.difference(0, arm))
        y, _, arms = columns.at(metric, now)
        if metric in CONTINUOUS:
            rows.extend(_mean_rows(spec, metric, y, arms, sizes, final, paths, tau2))
            continue
        wins = [int(y[arms == i].sum()) for i in range(arm_count)]
        for i in range(arm_count):
            n = sizes[i]
            rate = wins[i] / n if n else 0.0
            if i == 0:
                rows.append(ArmMetric(spec.arms[0].name, metric, n, wins[0], rate, rate_interval(wins[0], n)))
                continue
            test = two_proportion(wins[0], sizes[0], wins[i], n, spec.alpha)
            assert final is not None
            diff, var = final.difference(0, i)
            half = _Z95 * float(np.sqrt(var))
            rows.append(ArmMetric(spec.arms[i].name, metric, n, wins[i], rate, rate_interval(wins[i], n),
                                  test.difference, (test.ci_low, test.ci_high), test.p_value, diff,
                                  (diff - half, diff + half), final.variance_reduction,
                                  msprt_p_values(paths[i], tau2)[-1] if paths[i] else 1.0))
    compared = [r for r in rows if r.p_sequential is not None]
    adjusted = iter(bh_adjust([r.p_sequential or 1.0 for r in compared]))
    rows = [r if r.p_sequential is None else _with(r, p_adjusted=next(adjusted)) for r in rows]
    harm = tuple((r.arm, r.metric) for r in rows if r.metric in spec.guardrails and r.p_sequential is not None
                 and r.p_sequential <= spec.alpha and _worse(r))
    return Analysis(now, (now - started_at) / timedelta(days=1), sizes, srm_test(sizes, shares),
                    {k: srm_test(v, shares) for k, v in sorted(strata.items())}, tuple(rows), harm, len(cutoffs))


def _mean_rows(spec: ExperimentSpec, metric: str, y: np.ndarray, arms: np.ndarray, sizes: Sequence[int],
               final: Any, paths: Mapping[int, list[tuple[float, float]]],
               tau2: float | tuple[float, ...]) -> list[ArmMetric]:
    """A continuous metric's rows: each arm's mean with a t interval, each treatment by Welch and CUPED."""
    import numpy as np

    rows = []
    for i in range(len(spec.arms)):
        part = y[arms == i]
        mean = float(part.mean()) if part.size else 0.0
        buyers = int((part > 0).sum())
        if i == 0:
            rows.append(ArmMetric(spec.arms[0].name, metric, sizes[0], buyers, mean, mean_interval(part),
                                  continuous=True))
            continue
        test = welch(y[arms == 0], part, spec.alpha)
        diff, var = final.difference(0, i)
        half = _Z95 * float(np.sqrt(var))
        rows.append(ArmMetric(spec.arms[i].name, metric, sizes[i], buyers, mean, mean_interval(part),
                              test.difference, (test.ci_low, test.ci_high), test.p_value, diff,
                              (diff - half, diff + half), final.variance_reduction,
                              msprt_p_values(paths[i], tau2)[-1] if paths[i] else 1.0, continuous=True))
    return rows


def _with(row: ArmMetric, **changes: Any) -> ArmMetric:
    data = dict(row.__dict__)
    data.update(changes)
    return ArmMetric(**data)


def _worse(row: ArmMetric) -> bool:
    """Guardrails are judged on the CUPED estimate's sign (the one the sequential test ran on)."""
    diff = row.cuped_difference if row.cuped_difference is not None else (row.difference or 0.0)
    return diff > 0 if row.metric in HARM_WHEN_UP else diff < 0


def rollout_decision(experiment: Experiment, analysis: Analysis, now: datetime,
                     arm: str | None = None) -> tuple[str | None, list[Refusal]]:
    """The arm to roll out and the governance rules a roll-out would break (none: go ahead).

    The winner is the treatment with the largest significant improvement of the primary metric (BH-adjusted
    sequential p ≤ α), or control when every treatment is significantly worse; ``arm`` asks for one."""
    spec = experiment.spec
    refusals: list[Refusal] = []
    if experiment.state != "running":
        refusals.append(Refusal("state", f"the experiment is {experiment.state}, not running"))
    started = experiment.started_at or now
    if now - started < timedelta(days=spec.min_days) or now - started < MIN_DURATION:
        refusals.append(Refusal("min-duration", f"ran {(now - started) / timedelta(days=1):.1f} days; a decision "
                                                f"needs ≥ {max(spec.min_days, MIN_DURATION.days)} days"))
    small = [a.name for a in spec.arms if a.share < 5]
    if small:
        refusals.append(Refusal("arm-share", f"arm {', '.join(small)} below 5 % of the population"))
    if analysis.srm_flagged:
        refusals.append(Refusal("srm", "sample-ratio mismatch (p < 0.001) in " + ", ".join(analysis.srm_flagged)))
    if analysis.harm:
        refusals.append(Refusal("guardrail", ", ".join(f"{m} worse in {a}" for a, m in analysis.harm)))
    treated = [analysis.metric(a.name, spec.primary) for a in spec.arms[1:]]
    better = [r for r in treated if (r.p_adjusted or 1) <= spec.alpha and (r.cuped_difference or 0) > 0]
    worse = [r for r in treated if (r.p_adjusted or 1) <= spec.alpha and (r.cuped_difference or 0) < 0]
    winner = max(better, key=lambda r: r.cuped_difference or 0).arm if better else \
        (spec.arms[0].name if len(worse) == len(treated) else None)
    if arm is not None and arm not in {a.name for a in spec.arms}:
        refusals.append(Refusal("arm", f"no arm {arm!r}"))
    elif arm is not None and arm != winner:
        winner = None
    if winner is None:
        best = min((r.p_adjusted or 1.0 for r in treated), default=1.0)
        refusals.append(Refusal("confidence", f"no arm {'' if arm is None else arm + ' '}beats the others at "
                                              f"≥ {100 * (1 - spec.alpha):g} % confidence on {spec.primary} "
                                              f"(best adjusted sequential p = {best:.3f})"))
    return winner, refusals


_EDGE_KEYS = ("next", "else", "on_event", "on_timeout", "on_error")


def rollout_journey_data(data: Mapping[str, Any], split_node: str, target: str | None) -> dict[str, Any]:
    """The journey's data with the split gone: every edge into it leads to the winner's ``target`` instead,
    and nodes only the losing arms reached are dropped. Runs already inside keep their version."""
    out = copy.deepcopy(dict(data))
    nodes: dict[str, Any] = out["nodes"]
    start = out.get("start") or next(iter(nodes))
    if start == split_node:
        if target is None:
            raise ValueError("split: the winning arm ends the run at once; edit the journey by hand")
        start = target
    for node in nodes.values():
        for key in _EDGE_KEYS:
            if node.get(key) == split_node:
                node[key] = target
        for entry in [*(node.get("cases") or []), *(node.get("paths") or [])]:
            if isinstance(entry, dict) and entry.get("next") == split_node:
                entry["next"] = target
    del nodes[split_node]
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        node = nodes[name]
        todo.extend(node[k] for k in _EDGE_KEYS if isinstance(node.get(k), str))
        todo.extend(e["next"] for e in [*(node.get("cases") or []), *(node.get("paths") or [])]
                    if isinstance(e, dict) and isinstance(e.get("next"), str))
    out["nodes"] = {k: v for k, v in nodes.items() if k in seen}
    out["start"] = start
    return out
