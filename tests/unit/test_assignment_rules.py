"""Assignment rules and the follow-up timeliness math, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from touchflow.domain.conditions.predicates import ContactFacts
from touchflow.domain.messaging.followup import percentile, timeliness
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.scoring.assignment import (
    AssignmentError,
    RoundRobinRule,
    decide,
    policy_from_document,
    policy_to_document,
    round_robin_turns,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = {"rules": [
    {"owner": True},
    {"territory": {"上海": "张三", "江苏": "李四"}},
    {"industry": {"制造业": "王五"}, "when": {"tag": "b2b"}},
    {"round_robin": ["小王", "小李", "小张"], "name": "east"},
]}


def who(values: dict[str, Any], tags: frozenset[str] = frozenset(), queue: str = "sales") -> object:
    return decide(policy_from_document(POLICY), queue, ContactFacts("c1", values, tags), NOW)


def test_first_matching_rule_wins() -> None:
    assert who({"custom.owner": "老板", "city": "上海"}) == "老板"
    assert who({"custom.owner": " ", "city": "上海"}) == "张三"  # a blank owner is no owner
    assert who({"city": "苏州", "province": "江苏"}) == "李四"  # city first, then province
    assert who({"industry": "制造业"}, frozenset({"b2b"})) == "王五"
    fallthrough = who({"industry": "制造业"})  # the industry rule's `when` does not hold
    assert isinstance(fallthrough, RoundRobinRule) and fallthrough.name == "east"
    assert who({"city": "上海"}, queue="service") is None  # only sales tasks by default


def test_round_robin_turns_continue_from_the_cursor() -> None:
    rule = RoundRobinRule(("a", "b", "c"))
    assert round_robin_turns(rule, 0, 4) == ["a", "b", "c", "a"]
    assert round_robin_turns(rule, 4, 2) == ["b", "c"]


def test_a_policy_reads_back_equal() -> None:
    policy = policy_from_document(POLICY)
    assert policy_from_document(policy_to_document(policy)) == policy


@pytest.mark.parametrize(("document", "path"), [
    ({"rules": [{"owner": True, "territory": {"上海": "x"}}]}, "rules[0]"),
    ({"rules": [{"round_robin": []}]}, "rules[0].round_robin"),
    ({"rules": [{"round_robin": ["a", "a"]}]}, "rules[0].round_robin"),
    ({"rules": [{"round_robin": ["a"]}, {"round_robin": ["b"]}]}, "rules[1].name"),
    ({"rules": [{"territory": {"上海": "x"}, "fields": ["street"]}]}, "rules[0].fields"),
    ({"rules": [{"industry": {"制造业": ""}}]}, "rules[0].industry.制造业"),
    ({"rules": [{"industry": {"制造业": "x"}, "when": {"opened": "n1"}}]}, "rules[0].when"),
    ({"queues": ["marketing"]}, "queues"),
    ({"rule": []}, "rule"),
])
def test_an_unusable_policy_names_the_element(document: dict[str, Any], path: str) -> None:
    with pytest.raises(AssignmentError) as info:
        policy_from_document(document)
    assert info.value.path == path


def task(n: int, assignee: str | None, created: timedelta, done: timedelta | None, queue: str = "sales") -> TaskRecord:
    at = NOW - created
    return TaskRecord(f"t{n}", f"k{n}", "c", None, None, None, queue, "x", assignee, "open" if done is None else "done",
                      at, at + timedelta(hours=2), None if done is None else at + done)


def test_timeliness_counts_open_tasks_past_their_deadline_as_late() -> None:
    h = timedelta(hours=1)
    rows = timeliness([
        task(1, "a", 10 * h, 1 * h), task(2, "a", 10 * h, 3 * h),  # one in time, one late
        task(3, "a", 5 * h, None),  # open, past its deadline: late
        task(4, "a", 1 * h, None),  # open, not due yet: pending
        task(5, "b", 10 * h, timedelta(minutes=30)), task(6, None, 10 * h, None),
    ], NOW)
    by = {(r.scope, r.assignee): r for r in rows}
    a = by[("person", "a")]
    assert (a.within_sla, a.done_late, a.open_late, a.pending, a.counted) == (1, 1, 1, 1, 3)
    assert a.share == pytest.approx(1 / 3) and not a.meets_target
    assert a.p50_response == h and a.p90_response == 3 * h
    assert by[("person", "b")].share == 1.0 and by[("person", "b")].meets_target
    assert by[("person", None)].open_late == 1 and by[("person", None)].p50_response is None
    team = by[("team", None)]
    assert (team.within_sla, team.counted, team.pending) == (2, 5, 1)
    assert [(r.scope, r.assignee) for r in rows] == [("person", "a"), ("person", "b"), ("person", None),
                                                     ("team", None)]


def test_percentile_is_nearest_rank() -> None:
    values = [timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    assert percentile(values, 0.5) == timedelta(minutes=50)
    assert percentile(values, 0.9) == timedelta(minutes=90)
    assert percentile(values[:1], 0.9) == timedelta(minutes=10)
    assert percentile([], 0.5) is None
