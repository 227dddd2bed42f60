"""The condition language in Python: the parser (every form, errors naming the element), durations,
and the evaluator on hand-built facts. tests/integration/test_predicate_sql.py checks SQL agrees."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchflow.domain.conditions.parse import (
    condition_to_data,
    format_duration,
    parse_condition,
    parse_duration,
    parse_prop_filters,
)
from touchflow.domain.conditions.predicates import (
    ATTR_OPS,
    COUNT_OPS,
    PROP_OPS,
    Always,
    And,
    AttrCompare,
    Condition,
    ConditionError,
    ContactFacts,
    EvalContext,
    EventCount,
    EventFact,
    EventFirstLast,
    EventSum,
    HasTag,
    MessageEngagement,
    MissingRunContext,
    Not,
    Or,
    PropFilter,
    RandomBucket,
    TimeBound,
    evaluate,
    max_window,
    needs_events,
    random_bucket,
    uses_run_context,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CTX = EvalContext(NOW)
D = timedelta(days=1)


# --- the parser: every form -----------------------------------------------------------------------------

FORMS: list[tuple[object, Condition]] = [
    ({"attr": "industry", "eq": "制造业"}, AttrCompare("industry", "eq", "制造业")),
    ({"attr": "age", "gte": 30}, AttrCompare("age", "gte", 30)),
    ({"attr": "custom.score", "op": "lt", "value": 2.5}, AttrCompare("custom.score", "lt", 2.5)),
    ({"attr": "city", "in": ["上海", "Beijing"]}, AttrCompare("city", "in", ("上海", "Beijing"))),
    ({"attr": "city", "not_in": ["上海"]}, AttrCompare("city", "not_in", ("上海",))),
    ({"attr": "company", "contains": "科技"}, AttrCompare("company", "contains", "科技")),
    ({"attr": "custom.vip", "ne": True}, AttrCompare("custom.vip", "ne", True)),
    ({"attr": "job_title", "exists": True}, AttrCompare("job_title", "exists")),
    ({"attr": "job_title", "exists": False}, AttrCompare("job_title", "not_exists")),
    ({"attr": "job_title", "not_exists": True}, AttrCompare("job_title", "not_exists")),
    ({"attr": "custom.signed_up_on", "gte": date(2026, 1, 1)},
     AttrCompare("custom.signed_up_on", "gte", "2026-01-01")),
    ({"tag": "vip"}, HasTag("vip")),
    ({"stage": ["intent", "customer"]}, AttrCompare("lifecycle_stage", "in", ("intent", "customer"))),
    ({"stage": "customer"}, AttrCompare("lifecycle_stage", "eq", "customer")),
    ({"event": "signup"}, EventCount("signup", "gte", 1)),
    ({"event": "content_download", "count": ">= 2", "within": "30d", "where": {"content_type": "whitepaper"}},
     EventCount("content_download", "gte", 2, 30 * D, (PropFilter("content_type", "eq", "whitepaper"),))),
    ({"event": "page_view", "count": "= 0", "within": "24h"}, EventCount("page_view", "eq", 0, timedelta(hours=24))),
    ({"event": "page_view", "count": "≤3"}, EventCount("page_view", "lte", 3)),
    ({"event": "page_view", "at_least": 3}, EventCount("page_view", "gte", 3)),
    ({"event": "page_view", "at_most": 3}, EventCount("page_view", "lte", 3)),
    ({"event": "page_view", "exactly": 3}, EventCount("page_view", "eq", 3)),
    ({"event": "page_view", "more_than": 3}, EventCount("page_view", "gt", 3)),
    ({"event": "page_view", "fewer_than": 3}, EventCount("page_view", "lt", 3)),
    ({"event": "order_paid", "where": {"amount": {"gte": 100, "lt": 500}, "currency": ["CNY", "USD"]}},
     EventCount("order_paid", "gte", 1, None, (PropFilter("amount", "gte", 100), PropFilter("amount", "lt", 500),
                                               PropFilter("currency", "in", ("CNY", "USD"))))),
    ({"event": "order_paid", "where": [{"amount": {"gt": 1}}, {"amount": {"gt": 2}}]},
     EventCount("order_paid", "gte", 1, None, (PropFilter("amount", "gt", 1), PropFilter("amount", "gt", 2)))),
    ({"no": "order_paid", "within": "90d"}, EventCount("order_paid", "eq", 0, 90 * D)),
    ({"sum": "order_paid.amount", "op": "gte", "value": 5000, "within": "365d"},
     EventSum("order_paid", "amount", "gte", 5000, 365 * D)),
    ({"sum": "shop.order_paid.amount", "gt": 0.5}, EventSum("shop.order_paid", "amount", "gt", 0.5)),
    ({"first": "page_view.utm_source", "eq": "wechat"},
     EventFirstLast("first", "page_view", PropFilter("utm_source", "eq", "wechat"))),
    ({"last": "order_paid.amount", "gte": 1000, "within": "365d", "where": {"currency": "CNY"}},
     EventFirstLast("last", "order_paid", PropFilter("amount", "gte", 1000), 365 * D,
                    (PropFilter("currency", "eq", "CNY"),))),
    ({"last": "shop.order_paid.channel", "op": "in", "value": ["app", "web"]},
     EventFirstLast("last", "shop.order_paid", PropFilter("channel", "in", ("app", "web")))),
    ({"first": "signup.plan", "ne": True}, EventFirstLast("first", "signup", PropFilter("plan", "ne", True))),
    ({"last": "order_paid", "before": "90d"}, EventFirstLast("last", "order_paid", TimeBound("before", 90 * D))),
    ({"last": "shop.order_paid", "after": "30d", "within": "365d", "where": {"amount": {"gt": 0}}},
     EventFirstLast("last", "shop.order_paid", TimeBound("after", 30 * D), 365 * D, (PropFilter("amount", "gt", 0),))),
    ({"first": "signup", "after": "7d"}, EventFirstLast("first", "signup", TimeBound("after", 7 * D))),
    ({"first": "signup", "before": "1d", "within": "1d1s"},
     EventFirstLast("first", "signup", TimeBound("before", D), D + timedelta(seconds=1))),
    ({"opened": "send_digest"}, MessageEngagement("send_digest", "opened")),
    ({"clicked": "send_digest", "within": "3d"}, MessageEngagement("send_digest", "clicked", 3 * D)),
    ({"random": {"salt": "exp1", "below": 50}}, RandomBucket("exp1", 50.0)),
    ({"always": True}, Always()),
    ({"not": {"tag": "vip"}}, Not(HasTag("vip"))),
    ({"all": [{"tag": "a"}, {"any": [{"tag": "b"}, {"tag": "c"}]}]},
     And((HasTag("a"), Or((HasTag("b"), HasTag("c")))))),
    ([{"tag": "a"}, {"tag": "b"}], And((HasTag("a"), HasTag("b")))),
]


@pytest.mark.parametrize(("data", "expected"), FORMS)
def test_every_form_parses(data: object, expected: Condition) -> None:
    assert parse_condition(data) == expected


@pytest.mark.parametrize(("data", "expected"), FORMS)
def test_every_form_round_trips_through_data(data: object, expected: Condition) -> None:
    assert parse_condition(condition_to_data(expected)) == expected


ERRORS: list[tuple[object, str, str]] = [
    ({"all": [{"tag": "a"}, {"event": "x", "within": "soon"}]}, "nodes[3].if.all[1].within", "duration"),
    ({"all": []}, "nodes[3].if.all", "non-empty"),
    ({"any": [{"tag": "a"}, "vip"]}, "nodes[3].if.any[1]", "expected a condition"),
    ({"tag": "a", "attr": "city"}, "nodes[3].if", "exactly one of"),
    ({"colour": "red"}, "nodes[3].if", "names no condition"),
    ({"attr": "colour", "eq": "red"}, "nodes[3].if.attr", "unknown field"),
    ({"attr": "city"}, "nodes[3].if", "exactly one operator"),
    ({"attr": "city", "eq": "a", "ne": "b"}, "nodes[3].if", "exactly one operator"),
    ({"attr": "city", "op": "eq", "value": "a", "ne": "b"}, "nodes[3].if.ne", "not both"),
    ({"attr": "city", "op": "like", "value": "a"}, "nodes[3].if.op", "expected one of"),
    ({"attr": "city", "in": []}, "nodes[3].if.in", "non-empty list"),
    ({"attr": "city", "in": ["a", ["b"]]}, "nodes[3].if.in[1]", "a text, a number"),
    ({"attr": "city", "contains": 3}, "nodes[3].if.contains", "expected a text"),
    ({"attr": "city", "exists": "yes"}, "nodes[3].if.exists", "exists: true"),
    ({"attr": "age", "gt": float("nan")}, "nodes[3].if.gt", "finite"),
    ({"attr": "age", "gt": 2**60}, "nodes[3].if.gt", "2^53"),
    ({"attr": "city", "eq": datetime(2026, 1, 1, tzinfo=UTC)}, "nodes[3].if.eq", "quoted text"),
    ({"tag": "vip", "within": "3d"}, "nodes[3].if.within", "not allowed in a 'tag' condition"),
    ({"stage": []}, "nodes[3].if.stage", "at least one"),
    ({"event": "Page View"}, "nodes[3].if.event", "snake_case"),
    ({"event": "page_view", "count": 2}, "nodes[3].if.count", "'>= 2'"),
    ({"event": "page_view", "count": "about 2"}, "nodes[3].if.count", "comparison"),
    ({"event": "page_view", "at_least": -1}, "nodes[3].if.at_least", "whole number"),
    ({"event": "page_view", "at_least": 1, "count": ">= 1"}, "nodes[3].if", "not several"),
    ({"event": "page_view", "where": {"url": {"like": "x"}}}, "nodes[3].if.where.url.like", "expected one of"),
    ({"event": "page_view", "where": {"a.b": 1}}, "nodes[3].if.where.a.b", "without dots"),
    ({"event": "page_view", "where": {}}, "nodes[3].if.where", "property filters"),
    ({"event": "page_view", "where": [{"url": "x"}, 3]}, "nodes[3].if.where[1]", "expected a condition"),
    ({"no": "order_paid", "count": ">= 1"}, "nodes[3].if.count", "not allowed in a 'no' condition"),
    ({"sum": "amount", "gte": 1}, "nodes[3].if.sum", "<event type>.<property>"),
    ({"sum": "order_paid.amount", "gte": "lots"}, "nodes[3].if.gte", "expected a number"),
    ({"sum": "order_paid.amount", "contains": 1}, "nodes[3].if.contains", "not allowed"),
    ({"last": "order_paid"}, "nodes[3].if", "needs a property comparison"),
    ({"last": "order_paid", "before": "90d", "after": "1d"}, "nodes[3].if", "not both"),
    ({"last": "order_paid.amount", "gte": 1, "before": "9d"}, "nodes[3].if.gte", "not both"),
    ({"last": "order_paid", "before": "soon"}, "nodes[3].if.before", "duration"),
    ({"last": "order_paid", "before": "90d", "within": "90d"}, "nodes[3].if.before", "never true"),
    ({"first": "signup", "after": "1d", "count": ">= 1"}, "nodes[3].if.count", "not allowed in a 'first' condition"),
    ({"first": "Sign Up", "after": "1d"}, "nodes[3].if.first", "snake_case"),
    ({"first": "amount", "eq": 1}, "nodes[3].if.first", "<event type>.<property>"),
    ({"first": "page_view.url", "contains": "x"}, "nodes[3].if.contains", "not allowed in a 'first' condition"),
    ({"first": "page_view.url", "eq": "a", "ne": "b"}, "nodes[3].if", "exactly one operator"),
    ({"last": "order_paid.amount", "in": []}, "nodes[3].if.in", "non-empty list"),
    ({"last": "order_paid.amount", "gte": [1]}, "nodes[3].if.gte", "a text, a number"),
    ({"last": ["order_paid"], "before": "1d"}, "nodes[3].if.last", "an event type"),
    ({"first": "signup", "after": "1d", "last": "signup"}, "nodes[3].if", "has 'first' and 'last'"),
    ({"opened": "n1", "where": {"x": 1}}, "nodes[3].if.where", "not allowed"),
    ({"opened": ""}, "nodes[3].if.opened", "message node"),
    ({"random": {"salt": "x", "below": 150}}, "nodes[3].if.random.below", "0 to 100"),
    ({"random": {"salt": "x", "below": 5, "seed": 1}}, "nodes[3].if.random.seed", "only"),
    ({"random": {"below": 5}}, "nodes[3].if.random.salt", "salt"),
    ({"always": False}, "nodes[3].if.always", "never"),
    ({"not": [{"tag": "a"}, {"tag": 3}]}, "nodes[3].if.not[1].tag", "expected a tag"),
]


@pytest.mark.parametrize(("data", "path", "reason"), ERRORS)
def test_errors_name_the_offending_element(data: object, path: str, reason: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(data, "nodes[3].if")
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}: ")


def test_a_first_last_error_names_the_head_under_the_callers_path() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition({"all": [{"tag": "a"}, {"last": "Order Paid", "before": "90d"}]}, "segment.condition")
    assert str(info.value).startswith("segment.condition.all[1].last: ")


def test_property_filters_parse_on_their_own() -> None:
    assert parse_prop_filters({"channel": "email", "amount": {"gte": 1}}, "trigger.where") == (
        PropFilter("channel", "eq", "email"), PropFilter("amount", "gte", 1))
    with pytest.raises(ConditionError) as info:
        parse_prop_filters({"amount": {"gte": [1]}}, "trigger.where")
    assert info.value.path == "trigger.where.amount.gte"


def test_the_default_path_is_condition() -> None:
    with pytest.raises(ConditionError, match=r"^condition\.all\[0\]:"):
        parse_condition({"all": [{}]})


# --- durations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("90d", 90 * D), ("3d", 3 * D), ("24h", timedelta(hours=24)), ("30m", timedelta(minutes=30)),
    ("45s", timedelta(seconds=45)), ("1d12h", timedelta(days=1, hours=12)), ("1d 2h 3m 4s", timedelta(0, 93784)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "x") == expected


@pytest.mark.parametrize("text", ["", "0d", "12h1d", "3 days", "3", 3, None, "-1d", "1.5d"])
def test_bad_durations_name_the_path(text: object) -> None:
    with pytest.raises(ConditionError) as info:
        parse_duration(text, "nodes[0].wait")
    assert info.value.path == "nodes[0].wait"


@given(st.integers(min_value=1, max_value=10**8))
def test_format_duration_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value), "x") == value


def test_format_duration_refuses_what_it_cannot_write() -> None:
    for value in (timedelta(0), timedelta(milliseconds=1500), -D):
        with pytest.raises(ValueError):
            format_duration(value)


# --- round trip over generated trees ----------------------------------------------------------------------

_names = st.sampled_from(["a", "vip", "会员", "x_y"])
_scalars = st.one_of(st.sampled_from(["", "a", "上海", "2026-01-01"]), st.integers(-5, 5), st.booleans(),
                     st.floats(-10, 10, allow_nan=False).filter(lambda f: f == f))
_windows = st.one_of(st.none(), st.sampled_from([D, 30 * D, timedelta(hours=36), timedelta(seconds=59)]))


def _attr(op: str, value: object) -> AttrCompare:
    return AttrCompare("custom.score", op, value)  # type: ignore[arg-type]


_attr_cmp = st.one_of(
    st.builds(_attr, st.sampled_from([o for o in ATTR_OPS if o not in ("in", "not_in", "contains", "exists",
                                                                        "not_exists")]), _scalars),
    st.builds(_attr, st.sampled_from(["in", "not_in"]), st.lists(_scalars, min_size=1, max_size=3).map(tuple)),
    st.builds(_attr, st.just("contains"), st.sampled_from(["a", "上"])),
    st.builds(_attr, st.sampled_from(["exists", "not_exists"]), st.none()),
)
_prop_filter = st.one_of(
    st.builds(PropFilter, _names, st.sampled_from([o for o in PROP_OPS if o != "in"]), _scalars),
    st.builds(PropFilter, _names, st.just("in"), st.lists(_scalars, min_size=1, max_size=2).map(tuple)),
)
_where = st.lists(_prop_filter, max_size=3).map(tuple)
_leaves = st.one_of(
    _attr_cmp,
    st.builds(HasTag, _names),
    st.builds(EventCount, st.sampled_from(["signup", "shop.order_paid"]), st.sampled_from(COUNT_OPS),
              st.integers(0, 3), _windows, _where),
    st.builds(EventSum, st.just("order_paid"), st.just("amount"), st.sampled_from(COUNT_OPS),
              st.one_of(st.integers(0, 100), st.just(12.5)), _windows, _where),
    st.builds(EventFirstLast, st.sampled_from(["first", "last"]), st.sampled_from(["signup", "shop.order_paid"]),
              _prop_filter, _windows, _where),
    st.builds(EventFirstLast, st.sampled_from(["first", "last"]), st.just("signup"),
              st.builds(TimeBound, st.just("after"), st.sampled_from([D, timedelta(hours=36)])), _windows, _where),
    st.builds(EventFirstLast, st.sampled_from(["first", "last"]), st.just("order_paid"),
              st.builds(TimeBound, st.just("before"), st.sampled_from([timedelta(seconds=1), D])),
              st.sampled_from([None, 30 * D]), _where),
    st.builds(MessageEngagement, _names, st.sampled_from(["opened", "clicked"]), _windows),
    st.builds(RandomBucket, _names, st.sampled_from([0.0, 12.5, 100.0])),
    st.just(Always()),
)
conditions = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: Or(tuple(xs))),
    inner.map(Not),
), max_leaves=8)


@given(conditions)
def test_any_condition_round_trips_through_data(cond: Condition) -> None:
    assert parse_condition(condition_to_data(cond)) == cond


def test_the_ast_refuses_malformed_nodes() -> None:
    with pytest.raises(ValueError, match="tuple"):
        AttrCompare("city", "in", "上海")
    with pytest.raises(ValueError, match="no value"):
        AttrCompare("city", "exists", "x")
    with pytest.raises(ValueError, match="one value"):
        PropFilter("amount", "gt", (1, 2))
    with pytest.raises(ValueError, match="unknown operator"):
        PropFilter("amount", "like", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first or last"):
        EventFirstLast("middle", "signup", TimeBound("after", D))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive duration"):
        TimeBound("after", timedelta(0))
    with pytest.raises(ValueError, match="positive duration"):
        TimeBound("around", D)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="never true"):
        EventFirstLast("last", "order_paid", TimeBound("before", 30 * D), 30 * D)


# --- the evaluator: attributes -----------------------------------------------------------------------------


def facts(values: Mapping[str, object] | None = None, tags: tuple[str, ...] = (), events: tuple[EventFact, ...] = (),
          contact_id: str = "c1") -> ContactFacts:
    return ContactFacts(contact_id, values or {}, frozenset(tags), events)  # type: ignore[arg-type]


def attr(field: str, op: str, value: object = None) -> AttrCompare:
    return AttrCompare(field, op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("op", "value"), [
    ("eq", "x"), ("gt", 1), ("gte", 1), ("lt", 1), ("lte", 1), ("in", ("x",)), ("contains", "x"), ("exists", None),
])
def test_missing_values_fail_every_positive_operator(op: str, value: object) -> None:
    for present in ({}, {"city": None}):
        assert not evaluate(attr("city", op, value), facts(present), CTX)


@pytest.mark.parametrize(("op", "value"), [("ne", "x"), ("not_in", ("x",)), ("not_exists", None)])
def test_missing_values_pass_the_negative_operators(op: str, value: object) -> None:
    assert evaluate(attr("city", op, value), facts({}), CTX)
    assert evaluate(attr("custom.x", op, value), facts({"custom.x": None}), CTX)


@pytest.mark.parametrize(("actual", "op", "expected", "result"), [
    (30, "gt", 29.5, True), (30, "eq", 30.0, True), (2.5, "lte", 2, False),
    ("30", "eq", 30, False), ("30", "gt", 3, False), (30, "eq", "30", False), (30, "ne", "30", True),
    (True, "eq", 1, False), (1, "eq", True, False), (True, "gt", False, False), (True, "eq", True, True),
    ("b", "gt", "a", True), ("B", "gt", "a", False), ("上海", "gt", "北京", False),
    ("2026-02-01", "lt", "2026-10", True),
    ("科技公司", "contains", "科技", True), ("Tech", "contains", "tech", False), (5, "contains", "5", False),
    ("a", "in", ("b", "a"), True), (1, "in", ("1", True), False), (1, "not_in", ("1", True), True),
])
def test_values_compare_only_within_one_kind(actual: object, op: str, expected: object, result: bool) -> None:
    assert evaluate(attr("custom.v", op, expected), facts({"custom.v": actual}), CTX) is result


def test_tags() -> None:
    assert evaluate(HasTag("vip"), facts(tags=("vip",)), CTX)
    assert not evaluate(HasTag("vip"), facts(tags=("VIP",)), CTX)


def test_and_or_not_always() -> None:
    f = facts(tags=("a",))
    assert evaluate(And((HasTag("a"), Always())), f, CTX)
    assert not evaluate(And((HasTag("a"), HasTag("b"))), f, CTX)
    assert evaluate(Or((HasTag("b"), HasTag("a"))), f, CTX)
    assert evaluate(Not(HasTag("b")), f, CTX)
    assert evaluate(And(()), f, CTX) and not evaluate(Or(()), f, CTX)


# --- the evaluator: events and windows -------------------------------------------------------------------------


def ev(event_type: str, at: datetime, **props: object) -> EventFact:
    return EventFact(event_type, at, props)


def test_window_excludes_its_start_and_includes_now() -> None:
    download = EventCount("content_download", "gte", 1, 30 * D)
    assert not evaluate(download, facts(events=(ev("content_download", NOW - 30 * D),)), CTX)
    assert evaluate(download, facts(events=(ev("content_download", NOW - 30 * D + timedelta(microseconds=1)),)), CTX)
    assert evaluate(download, facts(events=(ev("content_download", NOW),)), CTX)


def test_events_after_now_never_count() -> None:
    future = (ev("content_download", NOW + timedelta(seconds=1)),)
    assert not evaluate(EventCount("content_download", "gte", 1), facts(events=future), CTX)
    assert not evaluate(EventCount("content_download", "gte", 1, 30 * D), facts(events=future), CTX)
    assert evaluate(EventCount("content_download", "gte", 1), facts(events=future),
                    EvalContext(NOW + timedelta(seconds=1)))


def test_counts_with_filters() -> None:
    events = (ev("content_download", NOW - D, content_type="whitepaper"),
              ev("content_download", NOW - 2 * D, content_type="whitepaper"),
              ev("content_download", NOW - 3 * D, content_type="case_study"),
              ev("content_download", NOW - 40 * D, content_type="whitepaper"),
              ev("page_view", NOW - D, url="/"))
    papers = (PropFilter("content_type", "eq", "whitepaper"),)
    f = facts(events=events)
    assert evaluate(EventCount("content_download", "gte", 2, 30 * D, papers), f, CTX)
    assert not evaluate(EventCount("content_download", "gte", 3, 30 * D, papers), f, CTX)
    assert evaluate(EventCount("content_download", "eq", 3, None, papers), f, CTX)
    assert evaluate(EventCount("content_download", "eq", 4), f, CTX)
    assert evaluate(EventCount("content_download", "gte", 1, 30 * D, (PropFilter("content_type", "ne", "x"),)), f, CTX)
    assert not evaluate(EventCount("page_view", "gte", 1, None, (PropFilter("title", "eq", "x"),)), f, CTX)
    assert evaluate(EventCount("page_view", "gte", 1, None, (PropFilter("title", "ne", "x"),)), f, CTX)


def test_absence() -> None:
    no_order = parse_condition({"no": "order_paid", "within": "90d"})
    assert evaluate(no_order, facts(), CTX)
    assert evaluate(no_order, facts(events=(ev("order_paid", NOW - 90 * D, amount=1),)), CTX)
    assert evaluate(no_order, facts(events=(ev("order_paid", NOW + D, amount=1),)), CTX)
    assert not evaluate(no_order, facts(events=(ev("order_paid", NOW - 89 * D, amount=1),)), CTX)


def test_sums_add_numbers_only_and_start_at_zero() -> None:
    events = (ev("order_paid", NOW - D, amount=3000), ev("order_paid", NOW - 2 * D, amount=2000.5),
              ev("order_paid", NOW - 3 * D, amount="999"), ev("order_paid", NOW - 4 * D, amount=True),
              ev("order_paid", NOW - 400 * D, amount=10_000), ev("order_paid", NOW - D))
    f = facts(events=events)
    assert evaluate(EventSum("order_paid", "amount", "gte", 5000, 365 * D), f, CTX)
    assert evaluate(EventSum("order_paid", "amount", "eq", 5000.5, 365 * D), f, CTX)
    assert evaluate(EventSum("order_paid", "amount", "eq", 15000.5), f, CTX)
    assert evaluate(EventSum("order_paid", "amount", "eq", 0), facts(), CTX)
    assert evaluate(EventSum("order_paid", "amount", "eq", 3000, 365 * D, (PropFilter("amount", "gt", 2500),)), f, CTX)


# --- the evaluator: message engagement -------------------------------------------------------------------------


def test_engagement_is_scoped_to_the_journey_the_node_and_the_run() -> None:
    entered = NOW - 5 * D
    ctx = EvalContext(NOW, journey_id="j1", run_entered_at=entered)
    opened = MessageEngagement("send_digest", "opened")

    def one(at: datetime, journey: object = "j1", node: object = "send_digest", kind: str = "message_opened") -> bool:
        return evaluate(opened, facts(events=(ev(kind, at, journey_id=journey, node_id=node),)), ctx)

    assert one(NOW - D)
    assert one(entered)  # at the entry instant: counts
    assert not one(entered - timedelta(seconds=1))  # an earlier run's open
    assert not one(NOW - D, journey="j2")
    assert not one(NOW - D, node="other")
    assert not one(NOW - D, kind="message_clicked")
    assert not one(NOW + D)
    assert not one(NOW - D, journey=None)
    assert evaluate(MessageEngagement("send_digest", "clicked", 3 * D),
                    facts(events=(ev("message_clicked", NOW - 2 * D, journey_id="j1", node_id="send_digest"),)), ctx)
    assert not evaluate(MessageEngagement("send_digest", "clicked", D),
                        facts(events=(ev("message_clicked", NOW - 2 * D, journey_id="j1", node_id="send_digest"),)),
                        ctx)


def test_engagement_outside_a_run_is_an_error_not_a_silent_false() -> None:
    with pytest.raises(MissingRunContext):
        evaluate(MessageEngagement("n", "opened"), facts(), CTX)
    assert uses_run_context(Not(MessageEngagement("n", "opened")))
    assert not uses_run_context(HasTag("a"))


# --- random buckets ----------------------------------------------------------------------------------------------


def test_random_bucket_is_the_documented_hash() -> None:
    import hashlib

    expected = int(hashlib.sha256(b"exp1:c42").hexdigest()[:8], 16) % 10000
    assert random_bucket("exp1", "c42") == expected
    assert evaluate(RandomBucket("exp1", expected / 100 + 0.01), facts(contact_id="c42"), CTX)
    assert not evaluate(RandomBucket("exp1", expected / 100), facts(contact_id="c42"), CTX)


def test_random_bucket_is_deterministic_and_splits_evenly() -> None:
    half = RandomBucket("exp1", 50)
    ids = [f"c{i}" for i in range(10_000)]
    first = {i for i in ids if evaluate(half, facts(contact_id=i), CTX)}
    assert first == {i for i in ids if evaluate(half, facts(contact_id=i), CTX)}
    assert 4800 <= len(first) <= 5200
    other = {i for i in ids if evaluate(RandomBucket("exp2", 50), facts(contact_id=i), CTX)}
    assert 2300 <= len(first & other) <= 2700  # another salt is an independent split
    assert not any(evaluate(RandomBucket("exp1", 0), facts(contact_id=i), CTX) for i in ids[:500])
    assert all(evaluate(RandomBucket("exp1", 100), facts(contact_id=i), CTX) for i in ids[:500])


# --- analysis --------------------------------------------------------------------------------------------------


def test_needs_events_and_max_window() -> None:
    assert needs_events(And((HasTag("a"), AttrCompare("city", "exists")))) is None
    assert max_window(HasTag("a")) == timedelta(0)
    cond = parse_condition({"all": [
        {"event": "page_view", "within": "7d"},
        {"not": {"sum": "order_paid.amount", "gte": 1, "within": "30d"}},
        {"any": [{"opened": "n1", "within": "3d"}, {"tag": "x"}]},
        {"first": "signup.utm_source", "eq": "wechat", "within": "45d"},
        {"not": {"last": "shop.order_paid", "before": "40d"}},
    ]})
    assert needs_events(cond) == frozenset({"page_view", "order_paid", "message_opened", "signup", "shop.order_paid"})
    assert max_window(cond) is None  # the last order "before 40d" reads all history up to now
    assert max_window(And((cond.items[0], cond.items[3]))) == 45 * D
    assert max_window(Or((cond, EventCount("signup", "gte", 1)))) is None
    assert max_window(MessageEngagement("n", "clicked")) is None
