"""``first`` / ``last`` in Python: which event is picked (window, ``where``, ties), the property test with
the attribute value rules, the time bounds, and what ``explain`` prints. test_predicate_sql.py checks SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.conditions.explain import explain
from touchflow.domain.conditions.parse import parse_condition
from touchflow.domain.conditions.predicates import (
    ContactFacts,
    EvalContext,
    EventFact,
    EventFirstLast,
    PropFilter,
    TimeBound,
    evaluate,
    first_or_last_event,
)
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.schema import validate_against_schema

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CTX = EvalContext(NOW)
D = timedelta(days=1)
US = timedelta(microseconds=1)


def ev(event_type: str, at: datetime, event_id: str | None = None, **props: object) -> EventFact:
    return EventFact(event_type, at, props, event_id)


def holds(data: object, *events: EventFact) -> bool:
    return evaluate(parse_condition(data), ContactFacts("c1", events=events), CTX)


def picked(data: object, *events: EventFact) -> EventFact | None:
    cond = parse_condition(data)
    assert isinstance(cond, EventFirstLast)
    return first_or_last_event(ContactFacts("c1", events=events), cond, NOW)


# --- which event is picked -----------------------------------------------------------------------------------

VISITS = (ev("page_view", NOW - 10 * D, "e1", utm_source="baidu"),
          ev("page_view", NOW - 3 * D, "e2", utm_source="wechat"),
          ev("page_view", NOW - D, "e3", utm_source="weibo"),
          ev("page_view", NOW + D, "e4", utm_source="future"),
          ev("signup", NOW - 2 * D, "e5", utm_source="signup"))


@pytest.mark.parametrize(("data", "expected"), [
    ({"first": "page_view.utm_source", "eq": "x"}, "e1"),
    ({"last": "page_view.utm_source", "eq": "x"}, "e3"),  # the event after now never counts
    ({"first": "page_view.utm_source", "eq": "x", "within": "7d"}, "e2"),  # the window narrows first
    ({"first": "page_view.utm_source", "eq": "x", "where": {"utm_source": {"ne": "baidu"}}}, "e2"),
    ({"last": "page_view.utm_source", "eq": "x", "where": {"utm_source": ["baidu", "wechat"]}}, "e2"),
    ({"last": "page_view.utm_source", "eq": "x", "within": "1d"}, None),  # now - 1d itself is outside
])
def test_the_window_and_where_choose_the_candidates(data: object, expected: str | None) -> None:
    found = picked(data, *VISITS)
    assert (found.event_id if found else None) == expected


def test_ties_break_by_event_id_in_code_point_order() -> None:
    # by code point "E9" < "e10" < "e2": upper case before lower, "1" before "2" (not numeric, not insertion order)
    same = NOW - D
    events = (ev("order_paid", same, "e2", amount=2), ev("order_paid", same, "E9", amount=9),
              ev("order_paid", same, "e10", amount=10))
    assert picked({"first": "order_paid.amount", "gt": 0}, *events) == events[1]
    assert picked({"last": "order_paid.amount", "gt": 0}, *events) == events[0]
    assert holds({"last": "order_paid.amount", "eq": 2}, *events)
    assert holds({"first": "order_paid.amount", "eq": 9}, *reversed(events))


def test_without_ids_ties_break_by_position() -> None:
    events = (ev("order_paid", NOW - D, amount=1), ev("order_paid", NOW - D, amount=2),
              ev("order_paid", NOW - D, amount=3))
    assert picked({"first": "order_paid.amount", "gt": 0}, *events) == events[0]
    assert picked({"last": "order_paid.amount", "gt": 0}, *events) == events[2]


# --- the property test: the attribute value rules -------------------------------------------------------------


@pytest.mark.parametrize(("value", "op", "expected", "result"), [
    (1200, "gte", 1000, True), (999.5, "gte", 1000, False), ("1200", "gte", 1000, False), (True, "eq", 1, False),
    ("1200", "eq", "1200", True), ("b", "gt", "a", True), ("B", "gt", "a", False), (1, "in", ("1", 1), True),
    (None, "eq", 1, False), (None, "ne", 1, True), ([1], "ne", 1, True), ([1], "eq", 1, False),
])
def test_the_property_compares_like_an_attribute(value: object, op: str, expected: object, result: bool) -> None:
    data = {"last": "order_paid.amount", op: list(expected) if isinstance(expected, tuple) else expected}
    assert holds(data, ev("order_paid", NOW - 2 * D, "e1", amount=0), ev("order_paid", NOW - D, "e2", amount=value)) \
        is result


def test_a_missing_property_on_the_picked_event_does_not_fall_back_to_another() -> None:
    events = (ev("order_paid", NOW - 2 * D, "e1", amount=5000), ev("order_paid", NOW - D, "e2"))
    assert not holds({"last": "order_paid.amount", "gte": 1}, *events)
    assert holds({"last": "order_paid.amount", "ne": 5000}, *events)
    assert holds({"first": "order_paid.amount", "gte": 1}, *events)


def test_with_no_matching_event_the_value_is_missing() -> None:
    other = ev("order_paid", NOW - 400 * D, "e1", amount=10)
    for op, value in (("eq", 10), ("gt", 0), ("lte", 10), ("in", [10])):
        assert not holds({"last": "order_paid.amount", op: value, "within": "365d"}, other)
    assert holds({"last": "order_paid.amount", "ne": 10, "within": "365d"}, other)
    assert holds({"last": "order_paid.amount", "ne": 10})  # no events at all


# --- the time bounds ----------------------------------------------------------------------------------------------


def test_last_before_includes_its_bound_and_needs_an_event() -> None:
    lapsed = {"last": "order_paid", "before": "90d"}
    assert holds(lapsed, ev("order_paid", NOW - 90 * D))
    assert not holds(lapsed, ev("order_paid", NOW - 90 * D + US))
    assert not holds(lapsed, ev("order_paid", NOW - 200 * D), ev("order_paid", NOW - D))  # bought again since
    assert holds(lapsed, ev("order_paid", NOW - 200 * D), ev("order_paid", NOW + D))  # the future does not count
    assert not holds(lapsed)
    assert holds({"any": [lapsed, {"no": "order_paid"}]})  # "lapsed or never" is spelled out


def test_last_after_excludes_its_bound() -> None:
    recent = {"last": "order_paid", "after": "30d"}
    assert not holds(recent, ev("order_paid", NOW - 30 * D))
    assert holds(recent, ev("order_paid", NOW - 30 * D + US))
    assert holds(recent, ev("order_paid", NOW - 90 * D), ev("order_paid", NOW))
    assert not holds(recent, ev("order_paid", NOW + D))


def test_first_after_means_new() -> None:
    new = {"first": "signup", "after": "7d"}
    assert holds(new, ev("signup", NOW - 2 * D))
    assert not holds(new, ev("signup", NOW - 8 * D), ev("signup", NOW - 2 * D))  # signed up before: not new
    assert not holds(new)
    assert holds({"first": "signup", "before": "7d"}, ev("signup", NOW - 8 * D), ev("signup", NOW - 2 * D))
    assert holds({"first": "signup", "before": "7d"}, ev("signup", NOW - 7 * D))


def test_within_and_where_narrow_the_events_a_bound_sees() -> None:
    events = (ev("order_paid", NOW - 200 * D, currency="USD"), ev("order_paid", NOW - 100 * D, currency="CNY"),
              ev("order_paid", NOW - D, currency="USD"))
    assert holds({"last": "order_paid", "before": "90d", "where": {"currency": "CNY"}}, *events)
    assert not holds({"last": "order_paid", "before": "90d"}, *events)
    assert holds({"first": "order_paid", "after": "150d", "within": "150d"}, *events)
    assert not holds({"first": "order_paid", "after": "150d"}, *events)


def test_the_ast_is_what_the_parser_builds() -> None:
    assert parse_condition({"last": "order_paid.amount", "gte": 1000, "within": "365d"}) == EventFirstLast(
        "last", "order_paid", PropFilter("amount", "gte", 1000), 365 * D)
    assert parse_condition({"first": "signup", "after": "7d"}) == EventFirstLast(
        "first", "signup", TimeBound("after", 7 * D))


# --- explain ------------------------------------------------------------------------------------------------------


def test_explain_shows_the_picked_value_and_time() -> None:
    facts = ContactFacts("c1", events=(ev("order_paid", NOW - 100 * D, "e1", amount=[1]),
                                       ev("order_paid", NOW - 95 * D, "e2", amount=1200)))
    cond = parse_condition({"all": [{"last": "order_paid.amount", "gte": 1000, "within": "365d"},
                                    {"first": "order_paid", "before": "90d"},
                                    {"last": "order_paid.amount", "in": [1], "within": "1d"}]})
    assert explain(cond, facts, CTX) == [
        {"last": "order_paid.amount", "within": "365d", "op": "gte", "expected": 1000, "actual": 1200, "result": True},
        {"first": "order_paid", "within": None, "before": "90d", "actual": (NOW - 100 * D).isoformat(),
         "result": True},
        {"last": "order_paid.amount", "within": "1d", "op": "in", "expected": [1], "actual": None, "result": False},
    ]


# --- in a journey: the published schema knows the heads ----------------------------------------------------------


def _journey(condition: object) -> dict[str, object]:
    return {"key": "winback", "trigger": {"manual": True},
            "nodes": {"b": {"kind": "branch", "cases": [{"if": condition, "next": "end"}], "else": None}}}


def test_a_journey_with_first_and_last_conforms_to_the_schema() -> None:
    condition = {"all": [{"last": "order_paid", "before": "90d"}, {"first": "signup.utm_source", "in": ["wechat"]}]}
    parse_journey(_journey(condition))
    assert validate_against_schema(_journey(condition)) == []


def test_schema_and_parser_name_the_same_bad_bound() -> None:
    data = _journey({"last": "order_paid", "after": "a month"})
    with pytest.raises(DefinitionError) as info:
        parse_journey(data)
    assert info.value.path == "nodes.b.cases[0].if.after"
    assert "nodes.b.cases[0].if.after" in {p.path for p in validate_against_schema(data)}
