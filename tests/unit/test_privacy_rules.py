"""The pure PIPL and P7 rules: blind index, anonymised properties, the targeting guard, clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from touchflow.domain.conditions.predicates import And, AttrCompare, ContactFacts, EvalContext, evaluate
from touchflow.domain.governance.incidents import clock_of, format_left, kill_switch_on
from touchflow.domain.governance.privacy import (
    anonymised_properties,
    blind_index,
    blind_indexer,
    is_opted_out,
    targeting,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_blind_index_is_keyed_and_stable() -> None:
    key = b"k" * 32
    assert blind_index(key, "email", "a@b.cn") == blind_indexer(key)("email", "a@b.cn")
    assert blind_index(key, "email", "a@b.cn") != blind_index(b"j" * 32, "email", "a@b.cn")
    assert blind_index(key, "email", "a@b.cn") != blind_index(key, "phone", "a@b.cn")


def test_anonymised_properties_keep_numbers_and_descriptive_keys_only() -> None:
    props = {"amount": 99.5, "product_id": "p1", "comment": "我是李娜", "address": {"city": "上海"}, "vip": True,
             "channel": "email", "name": "李娜"}
    assert anonymised_properties(props) == {"amount": 99.5, "product_id": "p1", "vip": True, "channel": "email"}


def test_targeting_guards_profiling_conditions_only() -> None:
    on_score = AttrCompare("custom.lead_score", "gte", 50)
    on_city = AttrCompare("city", "eq", "上海")
    assert targeting(on_city) is on_city
    guarded = targeting(on_score)
    assert isinstance(guarded, And)
    ctx = EvalContext(NOW)
    hot = ContactFacts("c1", {"custom.lead_score": 80})
    out = ContactFacts("c2", {"custom.lead_score": 80, "custom.personalisation": "opted_out"})
    assert evaluate(guarded, hot, ctx) and not evaluate(guarded, out, ctx)
    assert targeting(AttrCompare("custom.predicted_churn", "gt", 0.5)) != AttrCompare("custom.predicted_churn",
                                                                                      "gt", 0.5)
    assert is_opted_out({"custom.personalisation": "Opted_Out"}) and not is_opted_out({})


def test_clocks_left_overdue_and_done() -> None:
    due = NOW + timedelta(hours=1)
    assert clock_of("isolate", due, None, NOW).state == "open"
    late = clock_of("isolate", due, None, NOW + timedelta(hours=1, minutes=5))
    assert late.state == "overdue" and format_left(late.left) == "overdue by 0h 05m"
    assert clock_of("isolate", due, NOW + timedelta(hours=2), NOW).state == "done_late"
    assert clock_of("isolate", due, NOW, NOW).state == "done"
    assert kill_switch_on({"on": True}) and not kill_switch_on({"on": "yes"}) and not kill_switch_on(None)
