"""The goal table's rules: the seeds' table parses, deadlines count months from launch, progress is
direction-aware, and the at-risk flag follows the linear trend to the deadline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from touchflow.domain.measurement.goals import GoalError, assess, parse_goals, progress_of, projected
from touchflow.services.goals import default_goals


def test_the_seeds_table_has_three_phases_and_the_nine_key_results() -> None:
    table = parse_goals(default_goals())
    assert [p.months for p in table.phases] == [(1, 2), (3, 6), (7, 12)]
    targets = {kr.metric: (kr.comparison, kr.target) for kr in table.key_results()}
    assert targets == {
        "persona_coverage": (">=", 0.8), "data_sync_success": (">=", 0.95), "intent_conversion": (">=", 0.25),
        "lead_response_hours": ("<=", 2), "followup_timeliness": (">=", 0.9), "dormant_reactivation": (">=", 0.15),
        "coupon_use": (">=", 0.08), "repurchase_growth": (">=", 0.2), "nps": (">=", 50)}
    assert all(kr.owner and kr.title for kr in table.key_results())


def test_deadlines_count_months_from_launch() -> None:
    kr = parse_goals(default_goals()).find("persona_coverage")
    assert kr is not None and kr.deadline_month == 2
    assert kr.deadline(date(2026, 1, 15)) == date(2026, 3, 14)
    assert kr.deadline(date(2026, 1, 1)) == date(2026, 2, 28)
    assert kr.deadline(date(2025, 12, 31)) == date(2026, 2, 27)  # no 31 February: the month's last day, minus one


@pytest.mark.parametrize(("change", "error"), [
    ({"metric": "happiness"}, "metric: 'happiness' is not one of"),
    ({"target": "high"}, "target: a number"),
    ({"deadline_month": 0}, "deadline_month: a month number"),
    ({"comparison": "=="}, "comparison: >= or <="),
])
def test_a_bad_key_result_is_refused_naming_its_field(change: dict[str, Any], error: str) -> None:
    document = default_goals()
    document["phases"][0]["objectives"][0]["key_results"][0].update(change)
    with pytest.raises(GoalError, match=r"phases\[0\]\.objectives\[0\]\.key_results\[0\]\." + error.split(":")[0]):
        parse_goals(document)


def test_progress_is_direction_aware() -> None:
    table = parse_goals(default_goals())
    coverage, response = table.find("persona_coverage"), table.find("lead_response")
    assert coverage is not None and response is not None
    assert progress_of(coverage, 0.4) == pytest.approx(0.5)
    assert progress_of(coverage, 0.9) == 1.0
    assert progress_of(response, 4.0) == pytest.approx(0.5)  # 2 h target, 4 h now: halfway
    assert progress_of(response, 1.5) == 1.0
    assert progress_of(coverage, None) is None


def test_at_risk_when_the_trend_misses_the_deadline() -> None:
    kr = parse_goals(default_goals()).find("coupon_use")  # ≥ 8 %
    assert kr is not None
    today, deadline = date(2026, 3, 1), date(2026, 3, 31)
    rising = [(today - timedelta(days=d), 0.07 - 0.001 * d) for d in range(10, 0, -1)]  # +0.1 pp a day
    flat = [(today - timedelta(days=d), 0.05) for d in range(10, 0, -1)]
    assert projected([*rising, (today, 0.07)], deadline) == pytest.approx(0.10)
    assert assess(kr, 0.07, rising, today, deadline) == (False, "trend reaches 0.1 by 2026-03-31")
    risky, why = assess(kr, 0.05, flat, today, deadline)
    assert risky and "0.05" in why
    assert assess(kr, 0.09, flat, today, deadline) == (False, "met")
    assert assess(kr, None, flat, today, deadline) == (False, "not measured")
    assert assess(kr, 0.05, [], today, deadline) == (False, "no trend yet")
    assert assess(kr, 0.05, [], deadline + timedelta(days=1), deadline) == (True, "deadline passed")
