"""Rate definitions (None without a denominator), grouping, percentiles and NPS."""

from __future__ import annotations

from datetime import date

import pytest

from touchflow.domain.measurement.metrics import (
    MetricRow,
    click_rate,
    click_to_open_rate,
    combine,
    complaint_rate,
    conversion_rate,
    group_rows,
    nearest_rank,
    open_rate,
    rates,
    row_to_dict,
    unsubscribe_rate,
)
from touchflow.domain.measurement.nps import net_promoter_score, valid_score


def test_rates_follow_their_definitions() -> None:
    row = MetricRow(sent=100, delivered=80, opened_unique=40, clicked_unique=10, unsubscribed=2, complained=1,
                    entered=50, converted=5, queued=120, skipped={"quiet_hours": 20})
    assert open_rate(row) == 0.5 and click_rate(row) == 0.125 and click_to_open_rate(row) == 0.25
    assert unsubscribe_rate(row) == 2 / 80 and complaint_rate(row) == 1 / 80 and conversion_rate(row) == 0.1
    assert rates(row)["skip_rate"] == 20 / 120 and rates(row)["delivery_rate"] == 0.8


def test_no_denominator_is_no_rate_not_zero() -> None:
    assert all(value is None for value in rates(MetricRow()).values())
    assert click_to_open_rate(MetricRow(delivered=5, clicked_unique=0)) is None


def test_grouping_sums_counts_and_skip_reasons() -> None:
    a = MetricRow(day=date(2026, 3, 2), channel="email", sent=3, skipped={"quiet_hours": 1}, revenue=1.5)
    b = MetricRow(day=date(2026, 3, 3), channel="email", sent=2, skipped={"quiet_hours": 2, "frequency_cap": 1})
    c = MetricRow(day=date(2026, 3, 3), channel="sms", sent=7)
    (email, sms) = group_rows([a, b, c], ("channel",))
    assert (email.channel, email.day, email.sent, email.revenue) == ("email", None, 5, 1.5)
    assert email.skipped == {"quiet_hours": 3, "frequency_cap": 1} and sms.sent == 7
    assert combine(a, c).sent == 10
    document = row_to_dict(email)
    assert document["channel"] == "email" and "day" not in document and document["skipped_total"] == 4


def test_nearest_rank_percentile() -> None:
    assert nearest_rank([], 0.95) is None
    assert nearest_rank([float(n) for n in range(1, 101)], 0.95) == 95.0
    with pytest.raises(ValueError):
        nearest_rank([1.0], 0)


def test_nps_promoters_minus_detractors() -> None:
    result = net_promoter_score([10, 9, 9, 8, 7, 6, 0, "10", 9.0, "x", 11, True, None, 5.5])
    assert (result.promoters, result.passives, result.detractors, result.invalid) == (5, 2, 2, 5)
    assert result.score == pytest.approx(100 * (5 - 2) / 9)
    assert net_promoter_score([]).score is None
    assert net_promoter_score([10, 10]).score == 100.0 and net_promoter_score([0]).score == -100.0
    assert valid_score(" 7 ") == 7 and valid_score(-1) is None
