"""Is the lead score right? Score bands against what happened, and proposed changes a person accepts (S5).

An observation is one contact's score as of a cut-off date, whether it converted (paid an order within
N days after it) and what sales said of it (``lead_feedback``: good or bad). Sales' word wins over the
order book: a lead marked bad counts as a miss even if it bought, one marked good counts as a hit.

Proposals are estimates on the same observations: a new MQL threshold is checked exactly; a rule's new
points are estimated by scaling that rule's part of each contact's score (caps make this approximate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from touchflow.domain.scoring.model import ScoringModel

__all__ = ["DEFAULT_EDGES", "Band", "CalibrationReport", "Observation", "Proposal", "Quality", "calibrate",
           "quality_at"]

DEFAULT_EDGES = (0.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0)
MIN_SUPPORT = 20  # a rule must touch at least this many observations before its points are questioned
MIN_GAIN = 0.02  # a proposal must improve F1 at the MQL threshold by at least this much


@dataclass(frozen=True)
class Observation:
    contact_id: str
    score: float
    converted: bool
    feedback: str | None = None  # "good" | "bad" | None
    parts: Mapping[str, float] = field(default_factory=dict)

    @property
    def positive(self) -> bool:
        if self.feedback == "good":
            return True
        if self.feedback == "bad":
            return False
        return self.converted


@dataclass(frozen=True)
class Band:
    low: float
    high: float | None  # None: no upper bound
    contacts: int
    positives: int
    rate: float | None
    lift: float | None  # rate / overall rate


@dataclass(frozen=True)
class Quality:
    threshold: float
    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None

    @property
    def f1(self) -> float:
        p, r = self.precision or 0.0, self.recall or 0.0
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True)
class Proposal:
    kind: str  # "threshold" | "points"
    target: str  # "mql" or a rule name
    current: float
    proposed: float
    summary: str
    before: Quality
    after: Quality


@dataclass(frozen=True)
class CalibrationReport:
    model_version: int
    contacts: int
    positives: int
    base_rate: float | None
    bands: tuple[Band, ...]
    at_mql: Quality | None
    feedback_good: int
    feedback_bad: int
    proposals: tuple[Proposal, ...]


def quality_at(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> Quality:
    flagged = tp = 0
    for score, label in zip(scores, labels, strict=True):
        if score >= threshold:
            flagged += 1
            tp += label
    positives = sum(labels)
    return Quality(threshold, flagged, tp, tp / flagged if flagged else None, tp / positives if positives else None)


def _bands(observations: Sequence[Observation], edges: Sequence[float], base: float | None) -> tuple[Band, ...]:
    bounds = sorted(set(edges))
    bands: list[Band] = []
    for i, low in enumerate(bounds):
        high = bounds[i + 1] if i + 1 < len(bounds) else None
        inside = [o for o in observations if o.score >= low and (high is None or o.score < high)]
        if i == 0:  # scores below the first edge (negative points) belong to the first band
            inside += [o for o in observations if o.score < low]
        hits = sum(o.positive for o in inside)
        rate = hits / len(inside) if inside else None
        bands.append(Band(low, high, len(inside), hits, rate,
                          None if rate is None or not base else round(rate / base, 3)))
    return tuple(bands)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _threshold_proposal(scores: list[float], labels: list[bool], current: float) -> Proposal | None:
    before = quality_at(scores, labels, current)
    candidates = sorted(set(round(s) for s in scores if s > 0))
    best = before
    for candidate in candidates:
        quality = quality_at(scores, labels, float(candidate))
        if quality.f1 > best.f1 + 1e-9:
            best = quality
    if best.threshold == current or best.f1 - before.f1 < MIN_GAIN:
        return None
    verb = "raise" if best.threshold > current else "lower"
    summary = (f"{verb} the MQL threshold from {current:g} to {best.threshold:g}: precision "
               f"{_fmt(before.precision)} → {_fmt(best.precision)}, recall {_fmt(before.recall)} → "
               f"{_fmt(best.recall)}")
    return Proposal("threshold", "mql", current, best.threshold, summary, before, best)


def _points_proposals(model: ScoringModel, observations: Sequence[Observation], labels: list[bool],
                      threshold: float, base: float) -> list[Proposal]:
    scores = [o.score for o in observations]
    before = quality_at(scores, labels, threshold)
    proposals: list[Proposal] = []
    rules = [(r.name, r.points) for r in model.events] + [(r.name, r.points) for r in model.attributes]
    for name, points in rules:
        if points <= 0:
            continue
        touched = [i for i, o in enumerate(observations) if abs(o.parts.get(name, 0.0)) > 1e-9]
        if len(touched) < MIN_SUPPORT:
            continue
        rate = sum(labels[i] for i in touched) / len(touched)
        lift = rate / base
        if lift < 0.8:
            factor = 0.5
        elif lift >= 2.0:
            factor = 1.5
        else:
            continue
        proposed = round(points * factor, 1)
        estimated = [o.score + o.parts.get(name, 0.0) * (factor - 1) for o in observations]
        after = quality_at(estimated, labels, threshold)
        if after.f1 - before.f1 < MIN_GAIN:
            continue
        summary = (f"{'lower' if factor < 1 else 'raise'} the points of {name!r} from {points:g} to {proposed:g} "
                   f"(its leads convert at {lift:.2f}× the average): at the MQL threshold precision "
                   f"{_fmt(before.precision)} → {_fmt(after.precision)}, recall {_fmt(before.recall)} → "
                   f"{_fmt(after.recall)} (estimated)")
        proposals.append(Proposal("points", name, points, proposed, summary, before, after))
    return proposals


def calibrate(model: ScoringModel, observations: Sequence[Observation],
              edges: Sequence[float] = DEFAULT_EDGES) -> CalibrationReport:
    """Bands with their conversion rate and lift, quality at the MQL threshold, and proposals."""
    labels = [o.positive for o in observations]
    positives = sum(labels)
    base = positives / len(observations) if observations else None
    mql = model.threshold("mql")
    scores = [o.score for o in observations]
    at_mql = quality_at(scores, labels, mql) if mql is not None and observations else None
    proposals: list[Proposal] = []
    if mql is not None and positives and base:
        found = _threshold_proposal(scores, labels, mql)
        if found is not None:
            proposals.append(found)
        proposals.extend(_points_proposals(model, observations, labels, mql, base))
    return CalibrationReport(model.version, len(observations), positives, base,
                             _bands(observations, [*edges, *(v for _, v in model.thresholds)], base),
                             at_mql, sum(o.feedback == "good" for o in observations),
                             sum(o.feedback == "bad" for o in observations), tuple(proposals))
