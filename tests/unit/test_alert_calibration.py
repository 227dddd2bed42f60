"""The measured quality of the shipped rule on synthetic traffic (seeded): the aims of issue 13 as assertions.

bench/bench_alerts.py prints the same figures on a larger run; docs/benchmarks.md records them.
"""

from __future__ import annotations

from touchflow.domain.measurement.alert_calibration import Traffic, calibrate
from touchflow.domain.measurement.alert_rules import DEFAULT_RULES, default_rules, parse_rule


def test_open_rate_rule_catches_real_drops_and_leaves_healthy_journeys_alone() -> None:
    figures = calibrate(default_rules()[0], Traffic(journeys=400), seed=13)
    assert figures.drops > 150 and figures.healthy > 150
    assert figures.catch_rate >= 0.95  # of drops of 30–60 % on 1,000–20,000 messages a day, within 7 days
    assert figures.false_alerts_per_month <= 1  # across all simulated journeys, not per journey
    assert figures.healthy_paused_share <= 0.01


def test_click_rate_rule_on_high_volume_journeys() -> None:
    click = parse_rule({**DEFAULT_RULES[0], "name": "click-rate-drop", "metric": "click_rate"})
    figures = calibrate(click, Traffic(journeys=200, volume=(10_000, 50_000), base_rate=(0.02, 0.06)), seed=13)
    assert figures.catch_rate >= 0.95 and figures.false_alerts_per_month <= 1 and figures.healthy_paused_share <= 0.01


def test_drops_inside_the_threshold_are_not_what_it_catches() -> None:
    # 5–10 % drops are within the 15 % threshold: pausing for them would be a false alert
    figures = calibrate(default_rules()[0], Traffic(journeys=200, drop=(0.05, 0.10)), seed=13)
    assert figures.catch_rate <= 0.05


def test_pooled_streaks_catch_more_small_drops_without_false_pauses() -> None:
    """The shipped rule pools its three days (ADR 0034): drops of 15–30 % and click rates on 1,000–20,000
    messages a day, which a test of each day alone mostly misses, are caught far more often; no healthy journey is
    paused and no journey before its drop."""
    pooled = default_rules()[0]
    each = parse_rule({**DEFAULT_RULES[0], "streak_test": "each"})
    assert pooled.streak_test == "pooled"
    small = Traffic(journeys=400, drop=(0.15, 0.30))
    better, before = calibrate(pooled, small, seed=13), calibrate(each, small, seed=13)
    assert better.catch_rate >= before.catch_rate + 0.1 and better.catch_rate >= 0.55
    assert better.healthy_paused == 0 and better.false_alerts == 0
    clicks = Traffic(journeys=400, base_rate=(0.02, 0.06))
    click_pooled = calibrate(parse_rule({**DEFAULT_RULES[0], "name": "c", "metric": "click_rate"}), clicks, seed=13)
    click_each = calibrate(parse_rule({**DEFAULT_RULES[0], "name": "c", "metric": "click_rate",
                                       "streak_test": "each"}), clicks, seed=13)
    assert click_pooled.catch_rate >= 0.85 > click_each.catch_rate
    assert click_pooled.healthy_paused == 0 and click_pooled.false_alerts == 0
