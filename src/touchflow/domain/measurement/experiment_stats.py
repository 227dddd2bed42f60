"""The statistics of an A/B test, as pure functions over counts and arrays (A5).

Every method and its assumptions are written down in docs/subsystems/measurement.md:

- ``two_proportion``: the difference of two rates with a pooled-variance z test and an unpooled Wald interval;
  each rate with a Wilson interval. Assumes independent contacts and enough of them for the normal
  approximation (≥ 5 successes and failures per arm).
- ``cuped``: variance reduction with a pre-period covariate (Deng et al. 2013): ``Y' = Y − θ(X − mean X)``,
  ``θ = cov(X, Y) / var(X)`` over all arms together, so the adjustment is the same for every arm and the
  difference of adjusted means stays unbiased (randomisation makes X independent of the arm).
- ``msprt_p_values``: the mixture sequential probability ratio test with a normal mixture N(0, τ²) over the
  true difference (Johari et al. 2017, "Always valid inference"): the p-value is the running minimum of
  1/Λₙ, so looking every day does not raise the false-positive rate above α.
- ``srm_test``: sample-ratio mismatch, a chi-square goodness-of-fit of the arm sizes against the planned
  shares; flagged at p < 0.001.
- ``bh_adjust``: Benjamini–Hochberg false-discovery-rate adjustment across metrics and arms.
- ``plan_sample_size``: contacts needed per arm for the fixed-horizon test (statsmodels NormalIndPower with
  Cohen's h) and for the sequential test at its final look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

# scipy and statsmodels (~1 s of start-up together) are imported inside the functions that use them, so that a
# process that never analyses an experiment (the worker, most CLI commands) does not load them.

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "SRM_ALPHA",
    "Comparison",
    "CupedResult",
    "SamplePlan",
    "SrmResult",
    "bh_adjust",
    "cuped",
    "msprt_lambda",
    "msprt_p_values",
    "msprt_power",
    "plan_sample_size",
    "rate_interval",
    "srm_test",
    "two_proportion",
]

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control on one rate."""

    rate_control: float
    rate_treatment: float
    difference: float  # absolute, treatment − control
    ci_low: float
    ci_high: float
    z: float
    p_value: float  # two-sided, fixed-horizon: only valid at a planned end, see msprt_p_values for peeking

    @property
    def lift(self) -> float | None:
        """Relative change against control (None when control is 0)."""
        return self.difference / self.rate_control if self.rate_control else None


def rate_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of one rate (it stays inside [0, 1] and behaves near 0, unlike Wald)."""
    if n <= 0:
        return (0.0, 1.0)
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return (float(low), float(high))


def two_proportion(x_control: int, n_control: int, x_treatment: int, n_treatment: int,
                   alpha: float = 0.05) -> Comparison:
    """Pooled z test of equal rates and the unpooled (1 − α) Wald interval of the difference."""
    if n_control <= 0 or n_treatment <= 0:
        return Comparison(0.0, 0.0, 0.0, -1.0, 1.0, 0.0, 1.0)
    p1, p2 = x_control / n_control, x_treatment / n_treatment
    diff = p2 - p1
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    z = diff / se_pooled if se_pooled > 0 else 0.0
    from scipy import stats

    p_value = float(2 * stats.norm.sf(abs(z))) if se_pooled > 0 else 1.0
    se = math.sqrt(p1 * (1 - p1) / n_control + p2 * (1 - p2) / n_treatment)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return Comparison(p1, p2, diff, diff - half, diff + half, z, p_value)


@dataclass(frozen=True)
class CupedResult:
    theta: float
    variance_reduction: float  # 1 − var(Y') / var(Y) = corr(X, Y)²; 0 without a usable covariate
    means: tuple[float, ...]  # adjusted mean per arm
    variances: tuple[float, ...]  # sample variance of Y' per arm
    sizes: tuple[int, ...]

    def difference(self, control: int, treatment: int) -> tuple[float, float]:
        """(adjusted treatment − control mean, its variance)."""
        var = (self.variances[control] / max(self.sizes[control], 1)
               + self.variances[treatment] / max(self.sizes[treatment], 1))
        return self.means[treatment] - self.means[control], var


def cuped(y: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray, arms: Sequence[int] | np.ndarray,
          arm_count: int) -> CupedResult:
    """CUPED-adjusted means per arm; with no covariate variance (θ undefined) the plain means come back."""
    import numpy as np

    ys, xs, groups = np.asarray(y, dtype=float), np.asarray(x, dtype=float), np.asarray(arms, dtype=int)
    theta = 0.0
    if ys.size > 1:
        var_x = float(np.var(xs, ddof=1))
        if var_x > 0:
            theta = float(np.cov(xs, ys, ddof=1)[0, 1]) / var_x
    adjusted = ys - theta * (xs - (float(xs.mean()) if xs.size else 0.0))
    var_y = float(np.var(ys, ddof=1)) if ys.size > 1 else 0.0
    var_adj = float(np.var(adjusted, ddof=1)) if ys.size > 1 else 0.0
    reduction = 1 - var_adj / var_y if var_y > 0 else 0.0
    means, variances, sizes = [], [], []
    for arm in range(arm_count):
        part = adjusted[groups == arm]
        sizes.append(int(part.size))
        means.append(float(part.mean()) if part.size else 0.0)
        variances.append(float(np.var(part, ddof=1)) if part.size > 1 else 0.0)
    return CupedResult(theta, max(reduction, 0.0), tuple(means), tuple(variances), tuple(sizes))


def msprt_lambda(difference: float, variance: float, tau2: float) -> float:
    """The mixture likelihood ratio Λ of 'difference ≠ 0' against 0, for an estimate ~ N(θ, variance) and a
    N(0, τ²) mixture over θ: Λ = sqrt(V / (V + τ²)) · exp(τ² d² / (2 V (V + τ²)))."""
    if variance <= 0 or tau2 <= 0:
        return 1.0
    exponent = tau2 * difference * difference / (2 * variance * (variance + tau2))
    return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))


def msprt_p_values(looks: Sequence[tuple[float, float]], tau2: float | Sequence[float]) -> list[float]:
    """Always-valid p-values, one per look (difference, its variance), in time order: pₙ = min(pₙ₋₁, 1/Λₙ).

    Several mixing variances average their Λ: an average of test martingales is one too, so the test stays
    valid and works across effect sizes (used for guardrails, whose harmful size is not known in advance)."""
    taus = [tau2] if isinstance(tau2, int | float) else list(tau2)
    p, out = 1.0, []
    for difference, variance in looks:
        evidence = sum(msprt_lambda(difference, variance, t) for t in taus) / len(taus)
        p = min(p, 1.0 / evidence)
        out.append(p)
    return out


@dataclass(frozen=True)
class SrmResult:
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float

    @property
    def flagged(self) -> bool:
        return self.p_value < SRM_ALPHA


def srm_test(observed: Sequence[int], shares: Sequence[float]) -> SrmResult:
    """Chi-square goodness of fit of the arm sizes against the planned shares (which are normalised)."""
    total = sum(observed)
    weight = sum(shares)
    expected = tuple(total * s / weight for s in shares)
    if total == 0:
        return SrmResult(tuple(observed), expected, 0.0, 1.0)
    from scipy import stats

    chi2, p = stats.chisquare(list(observed), list(expected))
    return SrmResult(tuple(observed), expected, float(chi2), float(p))


def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (reject where adjusted ≤ α keeps the FDR at α)."""
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(v) for v in multipletests(list(p_values), method="fdr_bh")[1]]


@dataclass(frozen=True)
class SamplePlan:
    baseline: float
    mde: float  # absolute difference to detect
    alpha: float
    power: float
    shares: tuple[float, ...]
    fixed_per_arm: tuple[int, ...]  # contacts per arm for the fixed-horizon two-proportion test
    sequential_per_arm: tuple[int, ...]  # contacts per arm so the mSPRT reaches ``power`` by its last look
    tau2: float  # the mSPRT mixing variance the plan assumed (= mde²)

    @property
    def sequential_total(self) -> int:
        return sum(self.sequential_per_arm)

    @property
    def fixed_total(self) -> int:
        return sum(self.fixed_per_arm)


def _variance_unit(baseline: float, mde: float, ratio: float) -> float:
    """n · var(treatment − control) with n control contacts and ratio · n treated ones."""
    p2 = min(max(baseline + mde, 1e-9), 1 - 1e-9)
    return baseline * (1 - baseline) + p2 * (1 - p2) / ratio


def msprt_power(n_control: float, baseline: float, mde: float, ratio: float, alpha: float, tau2: float) -> float:
    """Power of the mSPRT judged at one look after ``n_control`` control contacts (earlier looks only add)."""
    variance = _variance_unit(baseline, mde, ratio) / n_control
    # Λ ≥ 1/α  ⇔  |z| ≥ c with z = d / sqrt(V)
    c = math.sqrt((variance + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance)))
    shift = abs(mde) / math.sqrt(variance)
    from scipy import stats

    return float(stats.norm.sf(c - shift) + stats.norm.cdf(-c - shift))


def plan_sample_size(baseline: float, mde: float, shares: Sequence[float], *, alpha: float = 0.05,
                     power: float = 0.8) -> SamplePlan:
    """Contacts per arm to detect an absolute change ``mde`` of a rate at ``baseline`` (arm 0 is control;
    the largest requirement over the treatment arms sets the scale for all, in the planned shares)."""
    if not 0 < baseline < 1:
        raise ValueError("baseline: a rate strictly between 0 and 1")
    if mde == 0 or not 0 < baseline + mde < 1:
        raise ValueError("mde: a non-zero absolute change that keeps the rate between 0 and 1")
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    tau2 = mde * mde
    fixed_control, sequential_control = 0.0, 0.0
    for share in shares[1:]:
        ratio = share / shares[0]
        effect = abs(float(proportion_effectsize(baseline + mde, baseline)))
        n1 = float(NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio,
                                                alternative="two-sided"))
        fixed_control = max(fixed_control, n1)
        low, high = 2.0, 2.0
        while msprt_power(high, baseline, mde, ratio, alpha, tau2) < power:
            low, high = high, high * 2
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if msprt_power(middle, baseline, mde, ratio, alpha, tau2) < power \
                else (low, middle)
        sequential_control = max(sequential_control, high)
    scale = [s / shares[0] for s in shares]
    return SamplePlan(baseline, mde, alpha, power, tuple(shares),
                      tuple(math.ceil(fixed_control * k) for k in scale),
                      tuple(math.ceil(sequential_control * k) for k in scale), tau2)
