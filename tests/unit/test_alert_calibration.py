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
