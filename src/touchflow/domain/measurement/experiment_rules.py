"""What an experiment is and the governance it must pass (A5): arms of a split or published versions of one
journey (ADR 0034), metrics, and the rules —
every arm ≥ 5 % of the population, randomisation checked over the main segments, ≥ 14 days before a decision,
roll-out only at ≥ 95 % confidence with no guardrail harm. Each refusal names its rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "CONTINUOUS",
    "EDITABLE",
    "HARM_WHEN_UP",
    "METRICS",
    "MIN_ARM_SHARE",
    "MIN_DURATION",
    "ROLLOUT_ALPHA",
    "Arm",
    "Experiment",
    "ExperimentRefused",
    "ExperimentSpec",
    "ExperimentState",
    "Refusal",
    "check_create",
    "parse_spec",
    "request_of",
    "version_edge",
]

MIN_ARM_SHARE = 5.0  # percent of the population, per arm
MIN_DURATION = timedelta(days=14)
ROLLOUT_ALPHA = 0.05  # ≥ 95 % confidence
METRICS = ("conversion", "click", "open", "unsubscribe", "complaint", "revenue")
CONTINUOUS = frozenset({"revenue"})  # a mean per entrant (cents), not a rate: Welch, τ in cents
EDITABLE = ("name", "arms", "shares", "versions", "split", "primary", "guardrails", "strata", "variable",
            "baseline", "mde", "guardrail_mde", "alpha", "power", "pre_days", "revenue_baseline", "revenue_sd",
            "revenue_mde")  # what a draft may change; key and journey are its identity
HARM_WHEN_UP = frozenset({"unsubscribe", "complaint"})  # the others do harm when they go down
VARIABLES = ("send_time", "copy", "channel_mix", "other")
ExperimentState = Literal["draft", "running", "stopped", "rolled_out"]


@dataclass(frozen=True)
class Refusal:
    """A governance rule the request breaks: ``rule`` is a stable code, ``message`` says why."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class ExperimentRefused(ValueError):
    """Governance says no; every broken rule is listed."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        super().__init__("; ".join(str(r) for r in refusals))
        self.refusals = tuple(refusals)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(r.rule for r in self.refusals)


def version_edge(version: int) -> str:
    """The edge an entry step records for an entrant of a version experiment."""
    return f"v{version}"


@dataclass(frozen=True)
class Arm:
    name: str
    share: float  # percent, from the split's path (or the experiment's shares of entrants)
    edge: str  # the edge the engine records for this arm: path[i] at the split, v<version> at the entry
    target: str | None  # the node it leads to (None for a version arm)
    version: int | None = None  # the journey version this arm runs (version experiments)


@dataclass(frozen=True)
class ExperimentSpec:
    key: str
    name: str
    journey: str
    split_node: str
    arms: tuple[Arm, ...]  # arms[0] is the control
    primary: str
    guardrails: tuple[str, ...]
    strata: tuple[str, ...]  # the main segments randomisation is checked over
    variable: str = "other"
    baseline: float = 0.05  # the primary rate expected in control, for the plan
    mde: float = 0.02  # the smallest absolute change worth detecting; also the mSPRT's τ
    guardrail_mde: float = 0.005  # τ of the guardrail metrics (their rates are small)
    alpha: float = ROLLOUT_ALPHA
    power: float = 0.8
    pre_days: int = 90  # CUPED covariate window before entry
    min_days: int = 14
    kind: str = "split"  # "split" | "versions"
    revenue_baseline: float = 0.0  # revenue per entrant expected in control, cents (plan)
    revenue_sd: float = 0.0  # its standard deviation per entrant, cents (plan)
    revenue_mde: float = 0.0  # the smallest revenue difference per entrant worth detecting, cents; the mSPRT's τ

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(a.version for a in self.arms if a.version is not None)

    def to_data(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "journey": self.journey, "split": self.split_node,
                "arms": [{"name": a.name, "share": a.share, "edge": a.edge, "next": a.target, "version": a.version}
                         for a in self.arms], "kind": self.kind,
                "primary": self.primary, "guardrails": list(self.guardrails), "strata": list(self.strata),
                "variable": self.variable, "baseline": self.baseline, "mde": self.mde,
                "guardrail_mde": self.guardrail_mde, "alpha": self.alpha, "power": self.power,
                "pre_days": self.pre_days, "min_days": self.min_days, "revenue_baseline": self.revenue_baseline,
                "revenue_sd": self.revenue_sd, "revenue_mde": self.revenue_mde}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ExperimentSpec:
        return cls(str(data["key"]), str(data["name"]), str(data["journey"]), str(data["split"]),
                   tuple(Arm(str(a["name"]), float(a["share"]), str(a["edge"]), a.get("next"),
                             int(a["version"]) if a.get("version") is not None else None) for a in data["arms"]),
                   str(data["primary"]), tuple(data["guardrails"]), tuple(data["strata"]), str(data["variable"]),
                   float(data["baseline"]), float(data["mde"]), float(data["guardrail_mde"]), float(data["alpha"]),
                   float(data["power"]), int(data["pre_days"]), int(data["min_days"]), str(data.get("kind", "split")),
                   float(data.get("revenue_baseline", 0.0)), float(data.get("revenue_sd", 0.0)),
                   float(data.get("revenue_mde", 0.0)))


@dataclass(frozen=True)
class Experiment:
    id: str
    spec: ExperimentSpec
    state: ExperimentState
    created_at: datetime
    created_by: str
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    winner: str | None = None
    rolled_out_version: int | None = None
    plan: Mapping[str, Any] = field(default_factory=dict)
    last_analysis: Mapping[str, Any] | None = None


class _Bad(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _number(raw: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < float(value) < high:
        raise _Bad(name, f"a number between {low:g} and {high:g} (exclusive)")
    return float(value)


def _cents(raw: Mapping[str, Any], name: str) -> float:
    value = raw.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= float(value) < 1e12:
        raise _Bad(name, "an amount in cents, ≥ 0")
    return float(value)


def _version_arms(raw: Mapping[str, Any], published: Sequence[int]) -> tuple[Arm, ...]:
    versions = raw.get("versions")
    if (not isinstance(versions, list) or len(versions) < 2 or len(set(map(str, versions))) != len(versions)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in versions)):
        raise _Bad("versions", "two or more distinct published version numbers (the first is the control)")
    missing = [v for v in versions if v not in published]
    if missing:
        raise _Bad("versions", f"no published version {', '.join(map(str, missing))} "
                               f"(published: {', '.join(map(str, published))})")
    shares = raw.get("shares") or [100 / len(versions)] * len(versions)
    if (not isinstance(shares, list) or len(shares) != len(versions)
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 100 for x in shares)
            or abs(sum(shares) - 100) > 1e-6):
        raise _Bad("shares", f"one percent per version ({len(versions)}), adding up to 100")
    names = raw.get("arms") or [f"v{v}" for v in versions]
    if not isinstance(names, list) or len(names) != len(versions) or len(set(map(str, names))) != len(names):
        raise _Bad("arms", f"one distinct name per version ({len(versions)})")
    return tuple(Arm(str(n)[:40], float(p), version_edge(v), None, v)
                 for n, p, v in zip(names, shares, versions, strict=True))


def parse_spec(raw: Mapping[str, Any], split_paths: Sequence[tuple[float, str | None]] | None,
               published: Sequence[int] = ()) -> ExperimentSpec:
    """An experiment from its request; ``split_paths`` are the (percent, next) of the split it binds to, or None
    for an experiment on the journey's ``published`` versions. Raises ``ValueError`` subclasses whose message
    starts with the field (``path`` attribute)."""
    key = raw.get("key")
    if not isinstance(key, str) or not key or len(key) > 64 or not key.replace("_", "").replace("-", "").isalnum():
        raise _Bad("key", "required: letters, digits, - and _ (≤ 64)")
    if split_paths is None:
        arms = _version_arms(raw, published)
    else:
        names = raw.get("arms") or [("control" if i == 0 else chr(ord("A") + i)) for i in range(len(split_paths))]
        if not isinstance(names, list) or len(names) != len(split_paths) or len(set(map(str, names))) != len(names):
            raise _Bad("arms", f"one distinct name per path of the split ({len(split_paths)})")
        arms = tuple(Arm(str(n)[:40], p, f"path[{i}]", t)
                     for i, (n, (p, t)) in enumerate(zip(names, split_paths, strict=True)))
    primary = raw.get("primary", "conversion")
    if primary not in METRICS:
        raise _Bad("primary", f"one of {', '.join(METRICS)}")
    guardrails = raw.get("guardrails", ["unsubscribe", "complaint"])
    if not isinstance(guardrails, list) or any(g not in METRICS or g == primary for g in guardrails):
        raise _Bad("guardrails", f"a list of metrics ({', '.join(METRICS)}) other than the primary")
    strata = raw.get("strata", [])
    if not isinstance(strata, list) or not all(isinstance(s, str) and s for s in strata):
        raise _Bad("strata", "a list of segment keys")
    variable = raw.get("variable", "other")
    if variable not in VARIABLES:
        raise _Bad("variable", f"one of {', '.join(VARIABLES)}")
    baseline = _number(raw, "baseline", 0.05, 0, 1)
    mde = _number(raw, "mde", 0.02, 0, 1)
    if baseline + mde >= 1:
        raise _Bad("mde", "baseline + mde must stay below 1")
    pre_days = raw.get("pre_days", 90)
    if not isinstance(pre_days, int) or isinstance(pre_days, bool) or not 1 <= pre_days <= 365:
        raise _Bad("pre_days", "whole days between 1 and 365")
    revenue = (_cents(raw, "revenue_baseline"), _cents(raw, "revenue_sd"), _cents(raw, "revenue_mde"))
    if "revenue" in (primary, *guardrails) and not revenue[2] > 0:
        raise _Bad("revenue_mde", "the smallest revenue difference per entrant worth detecting, in cents (> 0)")
    if primary == "revenue" and not revenue[1] > 0:
        raise _Bad("revenue_sd", "revenue per entrant's standard deviation in cents (> 0), for the plan")
    return ExperimentSpec(key, str(raw.get("name") or key)[:200], str(raw.get("journey", "")),
                          "" if split_paths is None else str(raw.get("split", "")), arms, primary, tuple(guardrails),
                          tuple(strata), variable, baseline, mde, _number(raw, "guardrail_mde", 0.005, 0, 1),
                          _number(raw, "alpha", ROLLOUT_ALPHA, 0, ROLLOUT_ALPHA + 1e-12),
                          _number(raw, "power", 0.8, 0.5, 1), pre_days,
                          kind="versions" if split_paths is None else "split",
                          revenue_baseline=revenue[0], revenue_sd=revenue[1], revenue_mde=revenue[2])


def request_of(spec: ExperimentSpec) -> dict[str, Any]:
    """The request a spec was parsed from (a draft's edit is merged into it and parsed again)."""
    data: dict[str, Any] = {"key": spec.key, "name": spec.name, "journey": spec.journey,
                            "arms": [a.name for a in spec.arms], "primary": spec.primary,
                            "guardrails": list(spec.guardrails), "strata": list(spec.strata),
                            "variable": spec.variable, "baseline": spec.baseline, "mde": spec.mde,
                            "guardrail_mde": spec.guardrail_mde, "alpha": spec.alpha, "power": spec.power,
                            "pre_days": spec.pre_days, "revenue_baseline": spec.revenue_baseline,
                            "revenue_sd": spec.revenue_sd, "revenue_mde": spec.revenue_mde}
    if spec.kind == "versions":
        data.update(versions=list(spec.versions), shares=[a.share for a in spec.arms])
    else:
        data["split"] = spec.split_node
    return data


def check_create(spec: ExperimentSpec, known_segments: set[str]) -> list[Refusal]:
    """Governance at the start: every arm ≥ 5 %, and main segments to check the randomisation over."""
    refusals = [Refusal("arm-share", f"arm {a.name} gets {a.share:g} % of the population; every arm needs "
                                     f"≥ {MIN_ARM_SHARE:g} %") for a in spec.arms if a.share < MIN_ARM_SHARE]
    if not spec.strata:
        refusals.append(Refusal("strata", "name the main segments (strata) the randomisation is checked over"))
    missing = [s for s in spec.strata if s not in known_segments]
    if missing:
        refusals.append(Refusal("strata", f"no segment {', '.join(missing)}"))
    return refusals
