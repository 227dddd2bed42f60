"""Revenue per entrant as an experiment metric (ADR 0034): Welch's test on a known case, the power plan for means,
then simulations of many experiments with zero-inflated, heavy-tailed revenue looked at every day (seeded)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from touchflow.domain.measurement.experiment_analysis import Unit, analyse
from touchflow.domain.measurement.experiment_means import plan_mean_sample_size, welch
from touchflow.domain.measurement.experiment_rules import parse_spec
from touchflow.domain.measurement.experiment_stats import cuped, msprt_p_values

START = datetime(2026, 3, 2, tzinfo=UTC)


def test_welch_matches_scipy_and_its_interval_covers_the_difference() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(100, 30, 400), rng.normal(108, 60, 300)
    result = welch(a, b)
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert result.t == pytest.approx(reference.statistic) and result.p_value == pytest.approx(reference.pvalue)
    assert result.ci_low < result.difference < result.ci_high and result.ci_low > 0
    assert welch([5.0], [1.0, 2.0]).p_value == 1.0  # too few to test


def test_plan_for_means_uses_statsmodels_and_the_sequential_test_needs_more() -> None:
    plan = plan_mean_sample_size(0, 8000, 1000, [50, 50])  # no baseline: equal spreads
    # d = 1000 / 8000 = 0.125: n = 2 (1.96 + 0.84)² / d² ≈ 1005 per arm (t test: a little more)
    assert plan.fixed_per_arm[0] == pytest.approx(1006, abs=3)
    lifted = plan_mean_sample_size(2000, 8000, 1000, [50, 50])  # +50 %: the treatment's spread grows with it
    assert lifted.fixed_per_arm[0] > 1.5 * plan.fixed_per_arm[0]
    assert plan.sequential_per_arm[0] > plan.fixed_per_arm[0]
    with pytest.raises(ValueError, match="revenue_sd"):
        plan_mean_sample_size(2000, 0, 1000, [50, 50])


def _revenue(rng: np.random.Generator, shape: tuple[int, ...], buy: float, mean_order: float) -> np.ndarray:
    """Zero for most entrants; a log-normal order (σ = 1) for the buyers: revenue's usual shape, in cents."""
    orders = rng.lognormal(math.log(mean_order) - 0.5, 1.0, shape)
    return np.where(rng.random(shape) < buy, orders, 0.0)


def _finals(rng: np.random.Generator, count: int, days: int, per_arm_day: int, lift: float, tau: float,
            pre: bool = False) -> np.ndarray:
    """Final always-valid p of ``count`` experiments with daily looks (CUPED on a correlated pre-period)."""
    finals = np.empty(count)
    for e in range(count):
        n = per_arm_day * days
        base = _revenue(rng, (2, n), 0.08, 10000)
        x = 0.5 * base + _revenue(rng, (2, n), 0.08, 10000) if pre else np.zeros((2, n))
        y = base + _revenue(rng, (2, n), 0.04, 10000)
        y[1] *= 1 + lift
        looks = []
        for d in range(1, days + 1):
            m = per_arm_day * d
            ys = np.concatenate([y[0, :m], y[1, :m]])
            xs = np.concatenate([x[0, :m], x[1, :m]])
            arms = np.repeat([0, 1], m)
            looks.append(cuped(ys, xs, arms, 2).difference(0, 1))
        finals[e] = msprt_p_values(looks, tau * tau)[-1]
    return finals


def test_a_a_type_one_error_with_daily_looks_stays_within_alpha() -> None:
    """1,000 A/A experiments on revenue, 28 daily looks each: rejected ≤ α + 0.5 pp (CUPED on, as analysed)."""
    finals = _finals(np.random.default_rng(20261206), 1000, 28, 100, 0.0, 300, pre=True)
    rejected = float((finals <= 0.05).mean())
    print(f"revenue mSPRT type-I error, A/A, 28 daily looks, 1000 runs: {rejected:.4f}")
    assert rejected <= 0.055
    # a naive Welch test peeked at daily is the reason for the mSPRT: it rejects far more often
    rng = np.random.default_rng(5)
    naive = 0
    for _ in range(300):
        y = _revenue(rng, (2, 2800), 0.12, 10000)
        naive += any(welch(y[0, :m], y[1, :m]).p_value <= 0.05 for m in range(100, 2801, 100))
    assert naive / 300 > 0.1


def test_a_planted_lift_is_found_at_the_planned_power() -> None:
    """A 25 % revenue lift with traffic for the sequential plan over 14 looks: found in ≥ power − 2.5 pp."""
    rng = np.random.default_rng(3)
    sample = _revenue(rng, (200000,), 0.08, 10000) + _revenue(rng, (200000,), 0.04, 10000)
    mean, sd = float(sample.mean()), float(sample.std())
    mde = 0.25 * mean
    plan = plan_mean_sample_size(mean, sd, mde, [50, 50], power=0.8)
    per_day = math.ceil(plan.sequential_per_arm[0] / 14)
    finals = _finals(np.random.default_rng(11), 600, 14, per_day, 0.25, mde)
    power = float((finals <= 0.05).mean())
    print(f"revenue plan {plan.sequential_per_arm[0]} per arm (fixed {plan.fixed_per_arm[0]}): power {power:.3f}")
    assert power >= 0.8 - 0.025


def test_analysis_of_units_with_revenue_uses_welch_cuped_and_the_sequential_test() -> None:
    spec = parse_spec({"key": "r", "versions": [1, 2], "primary": "revenue", "guardrails": ["unsubscribe"],
                       "revenue_mde": 1000, "revenue_sd": 9000, "strata": ["vip"]}, None, (1, 2))
    rng = np.random.default_rng(8)
    units = []
    for i in range(4000):
        arm = i % 2
        at = START + timedelta(minutes=7 * i)
        past = float(_revenue(rng, (1,), 0.3, 10000)[0])
        value = 0.6 * past + float(_revenue(rng, (1,), 0.1, 10000)[0]) * (2.5 if arm else 1.0)
        orders = ((at + timedelta(days=1), value),) if value > 0 else ()
        units.append(Unit(f"c{i}", arm, at, "other", {"revenue": orders[0][0] if orders else None,
                                                      "unsubscribe": None}, {"revenue": past, "unsubscribe": 0.0},
                          {"revenue": orders}))
    analysis = analyse(spec, units, START, START + timedelta(days=21))
    row = analysis.metric("v2", "revenue")
    assert row.continuous and row.n == 2000 and row.difference is not None and row.difference > 0
    assert row.variance_reduction is not None and row.variance_reduction > 0.1  # CUPED on the pre-period
    assert row.cuped_ci is not None and row.difference_ci is not None
    assert row.cuped_ci[1] - row.cuped_ci[0] < row.difference_ci[1] - row.difference_ci[0]
    assert row.p_sequential is not None and row.p_sequential < 0.05 and analysis.looks == 21
    control = analysis.metric("v1", "revenue")
    assert control.rate_ci[0] < control.rate < control.rate_ci[1]
    assert analysis.to_data()["metrics"][1]["continuous"] is True
