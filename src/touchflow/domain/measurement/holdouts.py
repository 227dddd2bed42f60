"""Control groups: which entrants a journey holds out, and the uplift it shows against them.

Assignment is a hash, not a draw: ``sha256(contact id, journey key, holdout key)`` mapped to [0, 1) and compared
with the share, so a contact who enters again (or whose run is replayed) lands in the same arm, and two journeys
(or two holdout keys) split independently. Uplift is a difference of two proportions with Newcombe's hybrid
score interval (method 10, built from Wilson intervals: sound near 0 % and with small arms, where the Wald
interval is not), and revenue per contact with a Welch (unequal-variance) normal interval.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from statistics import NormalDist

__all__ = [
    "MAX_SHARE",
    "Holdout",
    "Interval",
    "Uplift",
    "assignment_point",
    "held_out",
    "newcombe_interval",
    "uplift",
    "wilson_interval",
]

MAX_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Holdout:
    """A journey's control group: ``share`` of entrants get no message (0 < share ≤ 0.5)."""

    share: float
    key: str = "default"  # a new key draws a new control group; the same key keeps the same contacts out
    window: timedelta | None = None  # how long after entry a conversion counts (default: the attribution window)


def assignment_point(contact_id: str, journey_key: str, holdout_key: str) -> float:
    """A uniform number in [0, 1) fixed by the contact, the journey and the holdout."""
    digest = hashlib.sha256("\x00".join((contact_id, journey_key, holdout_key)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def held_out(holdout: Holdout, contact_id: str, journey_key: str) -> bool:
    return assignment_point(contact_id, journey_key, holdout.key) < holdout.share


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Uplift:
    treated: int
    treated_converted: int
    control: int
    control_converted: int
    conversion: Interval | None  # treated rate − control rate; None while an arm is empty
    revenue_per_contact: Interval | None  # yuan per entrant, treated − control
    confidence: float

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def control_rate(self) -> float | None:
        return self.control_converted / self.control if self.control else None

    @property
    def significant(self) -> bool:
        return self.conversion is not None and (self.conversion.low > 0 or self.conversion.high < 0)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n <= 0:
        raise ValueError("an interval needs at least one observation")
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """p1 − p2 with Newcombe's hybrid score interval (1998, method 10)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(diff, low, high)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var


def uplift(treated: Sequence[tuple[bool, float]], control: Sequence[tuple[bool, float]],
           confidence: float = 0.95) -> Uplift:
    """Each entrant as (converted, revenue in yuan); the treated arm got the journey, the control arm did not."""
    t_conv = sum(1 for c, _ in treated if c)
    c_conv = sum(1 for c, _ in control if c)
    conversion = revenue = None
    if treated and control:
        conversion = newcombe_interval(t_conv, len(treated), c_conv, len(control), confidence)
        t_mean, t_var = _mean_var([r for _, r in treated])
        c_mean, c_var = _mean_var([r for _, r in control])
        half = _z(confidence) * math.sqrt(t_var / len(treated) + c_var / len(control))
        diff = t_mean - c_mean
        revenue = Interval(diff, diff - half, diff + half)
    return Uplift(len(treated), t_conv, len(control), c_conv, conversion, revenue, confidence)
