"""Statistics of a continuous metric (revenue per entrant, in cents) in an A/B test (A5, ADR 0034).

- ``welch``: the difference of two means with Welch's t test (unequal variances) and its Welch–Satterthwaite
  interval; each mean with a t interval. Assumes independent contacts and enough of them for the mean to be
  near normal: revenue is zero for most entrants and heavy-tailed for the rest, so a few hundred buyers per arm
  are needed before the interval is honest (the CLT, not the data, is normal).
- The always-valid test is the same mSPRT as for rates (``experiment_stats.msprt_p_values``): a normal mixture
  N(0, τ²) over the mean difference, the estimate's variance from the data at each look, τ = the smallest
  difference worth detecting in cents. CUPED (``experiment_stats.cuped``) works on any numeric outcome.
- ``plan_mean_sample_size``: contacts per arm for the fixed-horizon test (statsmodels ``TTestIndPower`` with
  Cohen's d = mde / the arms' pooled sd) and for the mSPRT at its final look; the treatment's sd is scaled with
  its mean (a multiplicative lift).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from touchflow.domain.measurement.experiment_stats import SamplePlan

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MeanComparison", "mean_interval", "msprt_power_means", "plan_mean_sample_size", "welch"]


@dataclass(frozen=True)
class MeanComparison:
    """Treatment minus control on one mean."""

    mean_control: float
    mean_treatment: float
    difference: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float  # two-sided, fixed-horizon

    @property
    def lift(self) -> float | None:
        return self.difference / self.mean_control if self.mean_control else None


def mean_interval(values: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Student t interval of one mean (fewer than two values: a point, 0 for none; JSON has no infinity)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return (0.0, 0.0) if data.size == 0 else (float(data[0]), float(data[0]))
    from scipy import stats  # here, not at import: see experiment_stats.py

    half = float(stats.t.ppf(1 - alpha / 2, data.size - 1)) * float(data.std(ddof=1)) / math.sqrt(data.size)
    mean = float(data.mean())
    return (mean - half, mean + half)


def welch(control: Sequence[float] | np.ndarray, treatment: Sequence[float] | np.ndarray,
          alpha: float = 0.05) -> MeanComparison:
    """Welch's unequal-variance t test of equal means and its (1 − α) interval of the difference (fewer than two
    contacts in an arm: no test, p = 1, the interval a point)."""
    import numpy as np

    a, b = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    if a.size < 2 or b.size < 2:
        mean_a = float(a.mean()) if a.size else 0.0
        mean_b = float(b.mean()) if b.size else 0.0
        return MeanComparison(mean_a, mean_b, mean_b - mean_a, mean_b - mean_a, mean_b - mean_a, 0.0, 0.0, 1.0)
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    diff = float(b.mean() - a.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return MeanComparison(float(a.mean()), float(b.mean()), diff, diff, diff, 0.0, 0.0,
                              1.0 if diff == 0 else 0.0)
    df = (va + vb) ** 2 / (va * va / (a.size - 1) + vb * vb / (b.size - 1))
    t = diff / se
    from scipy import stats

    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return MeanComparison(float(a.mean()), float(b.mean()), diff, diff - half, diff + half, t, df,
                          float(2 * stats.t.sf(abs(t), df)))


def msprt_power_means(n_control: float, sd: float, mde: float, ratio: float, alpha: float, tau2: float,
                      sd_treatment: float | None = None) -> float:
    """Power of the mSPRT on a mean difference judged at one look after ``n_control`` control contacts."""
    sd_t = sd if sd_treatment is None else sd_treatment
    variance = (sd * sd + sd_t * sd_t / ratio) / n_control
    c = math.sqrt((variance + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance)))
    shift = abs(mde) / math.sqrt(variance)
    from scipy import stats

    return float(stats.norm.sf(c - shift) + stats.norm.cdf(-c - shift))


def plan_mean_sample_size(baseline: float, sd: float, mde: float, shares: Sequence[float], *,
                          alpha: float = 0.05, power: float = 0.8) -> SamplePlan:
    """Contacts per arm to detect an absolute change ``mde`` of a mean (``baseline`` ± ``sd`` per contact).

    A revenue lift is multiplicative (more buyers, bigger baskets), so the treatment's spread grows with its mean:
    with a baseline the plan takes ``sd × (1 + mde / baseline)`` for the treatment (equal spreads understate the
    traffic needed: a planted 25 % lift reached 70 % power on a plan for 80 % before this)."""
    if not sd > 0:
        raise ValueError("revenue_sd: the per-entrant standard deviation, > 0")
    if not mde > 0:
        raise ValueError("revenue_mde: the smallest difference worth detecting, > 0")
    from statsmodels.stats.power import TTestIndPower

    tau2 = mde * mde
    sd_t = sd * (1 + mde / baseline) if baseline > 0 else sd
    pooled = math.sqrt((sd * sd + sd_t * sd_t) / 2)
    fixed_control, sequential_control = 0.0, 0.0
    for share in shares[1:]:
        ratio = share / shares[0]
        n1 = float(TTestIndPower().solve_power(effect_size=mde / pooled, alpha=alpha, power=power, ratio=ratio,
                                               alternative="two-sided"))
        fixed_control = max(fixed_control, n1)
        low, high = 2.0, 2.0
        while msprt_power_means(high, sd, mde, ratio, alpha, tau2, sd_t) < power:
            low, high = high, high * 2
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if msprt_power_means(middle, sd, mde, ratio, alpha, tau2, sd_t) < power \
                else (low, middle)
        sequential_control = max(sequential_control, high)
    scale = [s / shares[0] for s in shares]
    return SamplePlan(baseline, mde, alpha, power, tuple(shares),
                      tuple(math.ceil(fixed_control * k) for k in scale),
                      tuple(math.ceil(sequential_control * k) for k in scale), tau2)
