"""A/B statistics (A5): the methods on known cases, then simulations of many experiments (seeded, fast)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from touchflow.demo.sample_data import write_sample_data
from touchflow.domain.measurement.experiment_stats import (
    bh_adjust,
    cuped,
    msprt_lambda,
    msprt_p_values,
    plan_sample_size,
    srm_test,
    two_proportion,
)

CHINA = ZoneInfo("Asia/Shanghai")


def test_two_proportion_matches_the_textbook_case() -> None:
    result = two_proportion(100, 1000, 130, 1000)
    assert result.difference == pytest.approx(0.03)
    assert result.z == pytest.approx(2.1027, abs=1e-3)  # pooled: p = 0.115
    assert result.p_value == pytest.approx(0.0355, abs=1e-3)
    assert result.ci_low < 0.03 < result.ci_high and result.ci_low > 0  # the interval excludes 0 here
    assert result.lift == pytest.approx(0.3)


def test_srm_flags_a_broken_split_only() -> None:
    assert not srm_test([5040, 4960], [50, 50]).flagged
    broken = srm_test([5300, 4700], [50, 50])
    assert broken.flagged and broken.p_value < 1e-6
    assert not srm_test([900, 100], [90, 10]).flagged  # shares are the plan, not equal halves


def test_benjamini_hochberg() -> None:
    assert bh_adjust([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.0533333, 0.0533333, 0.5], abs=1e-6)
    assert bh_adjust([]) == []


def test_msprt_running_minimum_and_no_evidence_without_difference() -> None:
    assert msprt_lambda(0.0, 1e-4, 1e-4) < 1  # no difference: evidence for the null
    p = msprt_p_values([(0.04, 1e-4), (0.0, 1e-4)], 4e-4)
    assert p[1] == p[0] < 0.05  # a p-value once small stays small: it is the running minimum


def test_cuped_removes_covariate_variance_and_keeps_the_difference() -> None:
    rng = np.random.default_rng(7)
    n = 20000
    x = rng.normal(0, 1, n)
    arms = rng.integers(0, 2, n)
    y = 0.8 * x + rng.normal(0, 0.6, n) + 0.05 * arms
    result = cuped(y, x, arms, 2)
    assert result.theta == pytest.approx(0.8, abs=0.02)
    assert result.variance_reduction == pytest.approx(0.64, abs=0.02)  # corr² = 0.64 / (0.64 + 0.36)
    diff, var = result.difference(0, 1)
    assert diff == pytest.approx(0.05, abs=0.02)
    raw_var = y[arms == 0].var(ddof=1) / (arms == 0).sum() + y[arms == 1].var(ddof=1) / (arms == 1).sum()
    assert var < 0.4 * raw_var


def test_plan_uses_statsmodels_and_the_sequential_test_needs_more() -> None:
    plan = plan_sample_size(0.10, 0.02, [50, 50])
    assert plan.fixed_per_arm[0] == pytest.approx(3841, rel=0.01)  # Cohen's h for 10 % → 12 %, α .05, power .8
    assert plan.sequential_per_arm[0] > plan.fixed_per_arm[0]
    uneven = plan_sample_size(0.10, 0.02, [80, 20])
    assert uneven.fixed_per_arm[0] == pytest.approx(4 * uneven.fixed_per_arm[1], rel=0.01)
    with pytest.raises(ValueError, match="baseline"):
        plan_sample_size(1.2, 0.02, [50, 50])


# --- simulations --------------------------------------------------------------------------------

def _daily_experiments(rng: np.random.Generator, count: int, days: int, per_arm_day: int, rate_a: float,
                       rate_b: float, tau2: float | list[float]) -> np.ndarray:
    """Final always-valid p-value of ``count`` experiments, each looked at every day."""
    conv_a = rng.binomial(per_arm_day, rate_a, (count, days)).cumsum(axis=1)
    conv_b = rng.binomial(per_arm_day, rate_b, (count, days)).cumsum(axis=1)
    finals = np.empty(count)
    for e in range(count):
        looks = []
        for d in range(days):
            n = per_arm_day * (d + 1)
            pa, pb = conv_a[e, d] / n, conv_b[e, d] / n
            looks.append((pb - pa, (pa * (1 - pa) + pb * (1 - pb)) / n))
        finals[e] = msprt_p_values(looks, tau2)[-1]
    return finals


def test_type_one_error_under_a_a_with_daily_peeking() -> None:
    """2,000 A/A experiments, 28 daily looks each: the always-valid test rejects ≤ α + 0.5 pp of them."""
    rng = np.random.default_rng(20261206)
    finals = _daily_experiments(rng, 2000, 28, 150, 0.05, 0.05, 0.01 ** 2)
    rejected = float((finals <= 0.05).mean())
    print(f"mSPRT type-I error, A/A, 28 daily looks, 2000 runs: {rejected:.4f}")
    assert rejected <= 0.055
    grid = _daily_experiments(np.random.default_rng(9), 1000, 28, 150, 0.05, 0.05,
                              [(0.005 * k) ** 2 for k in (1, 4, 16)])  # the guardrails' mixture of mixtures
    assert float((grid <= 0.05).mean()) <= 0.055
    # the naive fixed-horizon z test peeked at daily rejects far more often: the reason for the mSPRT
    naive = 0
    rng = np.random.default_rng(5)
    conv = rng.binomial(150, 0.05, (2000, 28, 2)).cumsum(axis=1)
    for e in range(2000):
        n = 150 * np.arange(1, 29)
        if any(two_proportion(int(conv[e, d, 0]), int(n[d]), int(conv[e, d, 1]), int(n[d])).p_value <= 0.05
               for d in range(28)):
            naive += 1
    assert naive / 2000 > 0.1


def test_the_planned_power_is_reached_under_a_true_effect() -> None:
    """Traffic for the sequential plan over 14 daily looks: the mSPRT rejects in ≥ planned power − 2.5 pp."""
    plan = plan_sample_size(0.05, 0.02, [50, 50], power=0.8)
    per_day = math.ceil(plan.sequential_per_arm[0] / 14)
    rng = np.random.default_rng(11)
    finals = _daily_experiments(rng, 2000, 14, per_day, 0.05, 0.07, plan.tau2)
    power = float((finals <= 0.05).mean())
    print(f"plan {plan.sequential_per_arm[0]} per arm (fixed-horizon {plan.fixed_per_arm[0]}): power {power:.3f}")
    assert power >= 0.8 - 0.025
    # and the fixed-horizon test at its own planned size reaches its planned power too
    rng = np.random.default_rng(12)
    n = plan.fixed_per_arm[0]
    a, b = rng.binomial(n, 0.05, 2000), rng.binomial(n, 0.07, 2000)
    fixed = sum(two_proportion(int(x), n, int(y), n).p_value <= 0.05 for x, y in zip(a, b, strict=True)) / 2000
    assert abs(fixed - 0.8) < 0.03


def test_cuped_variance_cut_on_the_sample_company(tmp_path: Path) -> None:
    """The demo company's shop: did a customer order in the 30 days after a (pseudo) entry date, with the
    orders of the 90 days before as the covariate (the default pre-period). The cut is corr², reported here."""
    files = write_sample_data(tmp_path, contacts=3000, seed=1)
    orders: dict[str, list[datetime]] = defaultdict(list)
    with open(files.path("shop_orders"), encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                at = datetime.fromisoformat(row["occurred_at"].replace(" ", "T"))
            except ValueError:
                continue  # the deliberately unreadable dates of the sample
            orders[row["phone"] or row["email"]].append(at if at.tzinfo else at.replace(tzinfo=CHINA))
    entry = max(t for times in orders.values() for t in times) - timedelta(days=30)
    x = np.array([sum(entry - timedelta(days=90) <= t < entry for t in ts) for ts in orders.values()], float)
    y = np.array([1.0 if any(entry <= t < entry + timedelta(days=30) for t in ts) else 0.0
                  for ts in orders.values()])
    arms = np.random.default_rng(3).integers(0, 2, x.size)
    result = cuped(y, x, arms, 2)
    print(f"CUPED on the sample company: {x.size} customers, variance cut {result.variance_reduction:.1%}")
    assert result.variance_reduction > 0.10  # 12.4 % with seed 1
    plain = cuped(y, np.zeros(x.size), arms, 2)
    assert result.difference(0, 1)[1] < 0.9 * plain.difference(0, 1)[1]
