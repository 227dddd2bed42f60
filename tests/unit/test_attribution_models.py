"""Attribution models, ROI arithmetic and holdout statistics: pure rules, exact money."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.measurement.attribution import (
    MODELS,
    Conversion,
    Touch,
    attribute,
    cents,
    totals_by,
)
from touchflow.domain.measurement.holdouts import Holdout, held_out, newcombe_interval, uplift, wilson_interval
from touchflow.domain.measurement.roi import CostError, parse_costs, percentile, returns_by, sales_cycles

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def touch(contact: str, days: float, channel: str, journey: str = "j", node: str = "n", mid: str = "") -> Touch:
    return Touch(contact, at(days), channel, journey, node, f"{channel}_tpl", mid or f"{contact}-{days}-{channel}")


# --- a hand-built scenario with known answers -----------------------------------------------------------------

TOUCHES = [
    touch("a", 0, "email", "welcome"), touch("a", 2, "sms", "welcome"), touch("a", 4, "wecom", "promo"),
    touch("b", 1, "email", "promo"),
    touch("c", 0, "email", "welcome"),  # more than 7 days before c's order
]
ORDERS = [
    Conversion("a", at(5), "o1", 30000),  # ¥300.00 after three touches
    Conversion("a", at(5.5), "o1", 30000),  # the same order seen twice: counted once
    Conversion("b", at(1), "o2", 10001),  # at the touch's very instant: in the window
    Conversion("c", at(7), "o3", 5000),  # c's touch is exactly 7 days old: (paid − 7d, paid] leaves it out
    Conversion("d", at(3), "o4", 999),  # never touched
]


def test_last_touch_credits_the_latest_touch_in_the_window() -> None:
    result = attribute(TOUCHES, ORDERS, "last")
    assert {(c.order_id, c.touch.channel, c.revenue_cents) for c in result.credits} == {
        ("o1", "wecom", 30000), ("o2", "email", 10001)}
    assert result.duplicates == 1
    assert sorted(c.order_id for c in result.unattributed) == ["o3", "o4"]
    assert result.credited_cents() == 40001 and result.revenue_cents() == 40001 + 5999


def test_first_touch_credits_the_earliest_touch_in_the_window() -> None:
    result = attribute(TOUCHES, ORDERS, "first")
    assert {(c.order_id, c.touch.channel) for c in result.credits} == {("o1", "email"), ("o2", "email")}
    assert totals_by(result.credits, "journey") == {"welcome": (Fraction(1), 30000), "promo": (Fraction(1), 10001)}


def test_linear_splits_cents_exactly() -> None:
    result = attribute(TOUCHES, ORDERS, "linear")
    o1 = [c for c in result.credits if c.order_id == "o1"]
    assert [c.revenue_cents for c in o1] == [10000, 10000, 10000]
    assert all(c.conversions == Fraction(1, 3) for c in o1)
    odd = attribute([touch("x", 0, "email"), touch("x", 1, "sms"), touch("x", 2, "wecom")],
                    [Conversion("x", at(3), "ox", 100)], "linear")
    assert [c.revenue_cents for c in odd.credits] == [34, 33, 33]  # the extra cent to the first touch


def test_window_is_configurable() -> None:
    result = attribute(TOUCHES, ORDERS, "last", timedelta(days=8))
    assert "o3" in {c.order_id for c in result.credits}
    with pytest.raises(ValueError, match="window"):
        attribute(TOUCHES, ORDERS, "last", timedelta(0))


def test_a_touch_after_the_order_earns_nothing() -> None:
    result = attribute([touch("a", 6, "sms")], [Conversion("a", at(5), "o", 100)], "first")
    assert result.credits == () and len(result.unattributed) == 1


def test_amounts_become_cents_without_float_drift() -> None:
    assert cents("0.1") == 10 and cents(0.1) == 10 and cents("19.995") == 2000 and cents(299) == 29900
    assert cents("abc") is None and cents(-1) is None and cents(True) is None and cents(None) is None
    assert cents("NaN") is None


# --- properties -----------------------------------------------------------------------------------------------

contacts = st.sampled_from(["a", "b", "c", "d"])
touch_st = st.builds(lambda c, d, ch, i: touch(c, d, ch, mid=f"m{i}"), contacts,
                     st.integers(0, 20 * 24).map(lambda h: h / 24), st.sampled_from(["email", "sms", "wecom"]),
                     st.integers(0, 10**6))
order_st = st.builds(lambda c, d, o, amount: Conversion(c, at(d), o, amount), contacts,
                     st.integers(0, 20 * 24).map(lambda h: h / 24), st.sampled_from([f"o{i}" for i in range(12)]),
                     st.integers(0, 10**9))


@settings(max_examples=300, deadline=None)
@given(st.lists(touch_st, max_size=30), st.lists(order_st, max_size=20), st.sampled_from(MODELS),
       st.integers(1, 15))
def test_credits_sum_exactly_to_what_they_distribute(touches: list[Touch], orders: list[Conversion], model: str,
                                                     window_days: int) -> None:
    result = attribute(touches, orders, model, timedelta(days=window_days))  # type: ignore[arg-type]
    ids = [c.order_id for c in result.conversions]
    assert len(ids) == len(set(ids)) == len({o.order_id for o in orders})  # each order once
    attributed = result.attributed
    assert result.credited_cents() == sum(c.revenue_cents for c in attributed)
    assert result.credited_conversions() == len(attributed)
    assert len(attributed) + len(result.unattributed) == len(result.conversions)  # nothing dropped
    per_order: dict[str, Fraction] = {}
    for credit in result.credits:
        per_order[credit.order_id] = per_order.get(credit.order_id, Fraction(0)) + credit.conversions
    assert all(v == 1 for v in per_order.values())  # never more than one conversion per order
    by_channel = totals_by(result.credits, "channel")
    assert sum(v[1] for v in by_channel.values()) == result.credited_cents()
    assert sum((v[0] for v in by_channel.values()), Fraction(0)) == len(attributed)


# --- ROI, CPA, sales cycle --------------------------------------------------------------------------------------

def test_roi_and_cpa() -> None:
    costs = parse_costs({"email": "0.001", "sms": 0.045, "wecom": 0})
    touches = [touch("a", 0, "sms"), touch("b", 0, "sms"), touch("c", 0, "email"), touch("d", 0, "email")]
    result = attribute(touches, [Conversion("a", at(1), "o1", 1000)], "last")
    rows = {r.group: r for r in returns_by(touches, result.credits, costs, lambda t: t.channel)}
    sms, email = rows["sms"], rows["email"]
    assert sms.cost == Decimal("0.090") and sms.revenue == Decimal("10.00")
    assert sms.roi == (Decimal("10.00") - Decimal("0.090")) / Decimal("0.090")
    assert sms.cpa == Decimal("0.090") and sms.conversions_per_touch == 0.5
    assert email.cpa is None and email.roi == Decimal(-1)
    free = returns_by([touch("a", 0, "wecom")], [], costs, lambda t: t.channel)[0]
    assert free.roi is None  # nothing spent: no ratio


def test_costs_are_validated_by_channel() -> None:
    for bad, field in (({"sms": "-1"}, "sms"), ({"sms": "x"}, "sms"), ({"sms": True}, "sms"),
                       ({"s m s": 1}, "s m s"), ({"sms": 10**6}, "sms")):
        with pytest.raises(CostError) as caught:
            parse_costs(bad)
        assert caught.value.field == field


def test_sales_cycle_median_and_p90() -> None:
    touches = [touch(c, 0, "email") for c in "abcdefghij"]
    orders = [Conversion(c, at(i + 1), f"o{c}", 100) for i, c in enumerate("abcdefghij")]
    orders.append(Conversion("z", at(0), "oz", 100))  # ordered, never touched: not a cycle
    (cycle,) = sales_cycles([*touches, touch("k", 5, "email")], [*orders, Conversion("k", at(1), "ok", 1)],
                            lambda t: t.channel)
    assert cycle.contacts == 10  # k ordered before its first touch: already a customer
    assert cycle.median_days == 5.5 and cycle.p90_days == pytest.approx(9.1)
    assert percentile([], 0.5) is None


# --- holdouts ---------------------------------------------------------------------------------------------------

def test_holdout_share_within_three_sigma_and_stable() -> None:
    holdout = Holdout(0.1)
    n = 10_000
    held = sum(held_out(holdout, f"c{i:05d}", "welcome") for i in range(n))
    assert abs(held - n * 0.1) <= 3 * math.sqrt(n * 0.1 * 0.9)
    assert all(held_out(holdout, f"c{i:05d}", "welcome") == held_out(holdout, f"c{i:05d}", "welcome")
               for i in range(100))
    other = sum(held_out(Holdout(0.1, key="q2"), f"c{i:05d}", "welcome") and held_out(holdout, f"c{i:05d}",
                                                                                   "welcome") for i in range(n))
    assert other < held / 2  # a new key draws a new group (≈ 1 % overlap, not 10 %)


def test_newcombe_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    low, high = confint_proportions_2indep(60, 500, 30, 500, method="newcomb", compare="diff")
    ours = newcombe_interval(60, 500, 30, 500)
    assert ours.estimate == pytest.approx(0.06) and ours.low == pytest.approx(low) and ours.high == pytest.approx(high)
    assert wilson_interval(3, 40) == pytest.approx(proportion_confint(3, 40, method="wilson"))


def test_uplift_with_revenue_interval() -> None:
    treated = [(True, 100.0)] * 30 + [(False, 0.0)] * 70
    control = [(True, 100.0)] * 10 + [(False, 0.0)] * 90
    result = uplift(treated, control)
    assert result.conversion is not None and result.conversion.estimate == pytest.approx(0.2)
    assert result.significant and result.conversion.low > 0
    assert result.revenue_per_contact is not None and result.revenue_per_contact.estimate == pytest.approx(20.0)
    assert uplift(treated, []).conversion is None


def test_holdout_in_the_journey_document() -> None:
    base = {"key": "j", "trigger": {"manual": True}, "nodes": {"s": {"kind": "send", "channel": "email",
                                                                      "template": "t"}}}
    definition = parse_journey({**base, "holdout": {"share": 0.1, "key": "q1", "window": "14d"}})
    assert definition.holdout == Holdout(0.1, "q1", timedelta(days=14))
    assert parse_journey(base).holdout is None
    for bad, path in (({"share": 0}, "holdout.share"), ({"share": 0.6}, "holdout.share"),
                      ({"share": "10%"}, "holdout.share"), ({}, "holdout.share"),
                      ({"share": 0.1, "key": "a b"}, "holdout.key"), ({"share": 0.1, "size": 1}, "holdout.size"),
                      ({"share": 0.1, "window": "soon"}, "holdout.window")):
        with pytest.raises(DefinitionError) as caught:
            parse_journey({**base, "holdout": bad})
        assert caught.value.path == path
