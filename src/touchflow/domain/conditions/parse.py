"""Conditions from plain YAML/JSON data (and back, through ``predicate_data``); durations such as ``90d``.

Every error is a ``ConditionError`` whose ``path`` names the offending element, starting from the
caller's path (``nodes[3].if``) — so ``nodes[3].if.all[1].within: …`` tells a marketer exactly
which line to fix. The forms are documented in docs/subsystems/conditions.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Literal, cast

from touchflow.domain.conditions.data import condition_to_data
from touchflow.domain.conditions.durations import format_duration, parse_duration
from touchflow.domain.conditions.predicates import (
    ATTR_OPS,
    COUNT_OPS,
    PROP_OPS,
    Always,
    And,
    AttrCompare,
    AttrOp,
    Condition,
    ConditionError,
    CountOp,
    EventCount,
    EventFirstLast,
    EventSum,
    HasTag,
    InSegment,
    MessageEngagement,
    Not,
    Or,
    PropFilter,
    PropOp,
    RandomBucket,
    TimeBound,
)
from touchflow.domain.contacts import STANDARD_FIELDS, Scalar
from touchflow.domain.errors import FieldError
from touchflow.domain.events import validate_event_type

__all__ = ["CONDITION_HEADS", "condition_to_data", "format_duration", "parse_condition", "parse_duration",
           "parse_prop_filters"]

_NAME = re.compile(r"[^\"\\\x00-\x1f]{1,100}")  # safe as a JSON key in SQLite paths and PostgreSQL ->
_PROP = re.compile(r"[^.\"\\\x00-\x1f]{1,100}")  # no dot: ``sum: order_paid.amount`` splits on the last one
_COUNT = re.compile(r"\s*(>=|<=|!=|==|=|>|<|≥|≤)\s*(\d+)\s*")
_COUNT_SYMBOLS: dict[str, CountOp] = {">=": "gte", "≥": "gte", "<=": "lte", "≤": "lte", "!=": "ne", "==": "eq",
                                      "=": "eq", ">": "gt", "<": "lt"}
_COUNT_WORDS: dict[str, CountOp] = {"at_least": "gte", "at_most": "lte", "exactly": "eq", "more_than": "gt",
                                    "fewer_than": "lt"}
_MAX_EXACT = 2**53
CONDITION_HEADS = ("all", "any", "not", "always", "attr", "tag", "stage", "event", "no", "sum", "first", "last",
                   "opened", "clicked", "random", "in_segment")


# --- small checks ------------------------------------------------------------------------------------


def _text(value: object, path: str, what: str = "a text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConditionError(path, f"expected {what}, got {value!r}")
    return value


def _scalar(value: object, path: str) -> Scalar:
    if isinstance(value, datetime):
        raise ConditionError(path, "a date-time is ambiguous here; write it as quoted text, e.g. '2026-03-01'")
    if isinstance(value, date):
        return value.isoformat()  # an unquoted YAML date: compare as ISO text, which sorts like dates
    if isinstance(value, float) and not math.isfinite(value):
        raise ConditionError(path, "must be a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_EXACT:
        raise ConditionError(path, "numbers are compared as doubles; whole numbers must be within ±2^53")
    if isinstance(value, str | int | float | bool):
        return value
    raise ConditionError(path, f"expected a text, a number or true/false, got {value!r}")


def _scalars(value: object, path: str) -> tuple[Scalar, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ConditionError(path, "expected a non-empty list of values")
    return tuple(_scalar(v, f"{path}[{i}]") for i, v in enumerate(value))


def _number(value: object, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(path, f"expected a number, got {value!r}")
    result = _scalar(value, path)
    assert isinstance(result, int | float)
    return result


def _event_type(value: object, path: str) -> str:
    try:
        return validate_event_type(_text(value, path, "an event type"))
    except FieldError as exc:
        raise ConditionError(path, exc.reason) from None


def _field(value: object, path: str) -> str:
    name = _text(value, path, "a field name")
    if name in STANDARD_FIELDS:
        return name
    if name.startswith("custom.") and _NAME.fullmatch(name[7:]):
        return name
    raise ConditionError(path, f"unknown field {name!r}; use one of {', '.join(STANDARD_FIELDS)} or custom.<name>")


def _mapping(data: object, path: str) -> Mapping[str, object]:
    if isinstance(data, Mapping) and any(isinstance(k, bool) for k in data):
        raise ConditionError(path, "a key read as true/false: quote it ('no': order_paid); YAML reads unquoted "
                                   "no/yes/on/off as true/false")
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise ConditionError(path, f"expected a condition (a mapping such as 'tag: vip'), got {data!r}")
    return cast(Mapping[str, object], data)


def _only(data: Mapping[str, object], path: str, head: str, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key != head and key not in allowed:
            hint = f"; expected {', '.join(allowed)}" if allowed else ""
            raise ConditionError(f"{path}.{key}", f"not allowed in a '{head}' condition{hint}")


def _within(data: Mapping[str, object], path: str) -> timedelta | None:
    return parse_duration(data["within"], f"{path}.within") if "within" in data else None


def _op_value(data: Mapping[str, object], path: str, ops: tuple[str, ...], head: str) -> tuple[str, object, str]:
    """The one operator of a comparison: ``gte: 5`` or ``op: gte, value: 5``; returns (op, raw value, path)."""
    found = [k for k in data if k in ops]
    if "op" in data:
        op = data["op"]
        if found:
            raise ConditionError(f"{path}.{found[0]}", "give either 'op' and 'value' or one operator key, not both")
        if op not in ops:
            raise ConditionError(f"{path}.op", f"expected one of {', '.join(ops)}, got {op!r}")
        if "value" not in data and op not in ("exists", "not_exists"):
            raise ConditionError(path, f"'op: {op}' needs a 'value'")
        return str(op), data.get("value", True), f"{path}.value"
    if len(found) != 1:
        raise ConditionError(path, f"a '{head}' condition needs exactly one operator of {', '.join(ops)}")
    return found[0], data[found[0]], f"{path}.{found[0]}"


def _operand(op: str, raw: object, path: str) -> Scalar | tuple[Scalar, ...] | None:
    if op in ("in", "not_in"):
        return _scalars(raw, path)
    if op == "contains":
        return _text(raw, path)
    return _scalar(raw, path)


# --- conditions ----------------------------------------------------------------------------------------


def parse_condition(data: object, path: str = "condition") -> Condition:
    """One condition from YAML/JSON data; a bare list means ``all``."""
    if isinstance(data, list):
        return And(_items(data, path))
    body = _mapping(data, path)
    heads = [k for k in CONDITION_HEADS if k in body]
    if len(heads) != 1:
        what = f"has {' and '.join(repr(h) for h in heads)}" if heads else "names no condition"
        raise ConditionError(path, f"{what}; a condition has exactly one of {', '.join(CONDITION_HEADS)}")
    return _PARSERS[heads[0]](body, path)


def _items(value: object, path: str) -> tuple[Condition, ...]:
    if not isinstance(value, list) or not value:
        raise ConditionError(path, "expected a non-empty list of conditions")
    return tuple(parse_condition(item, f"{path}[{i}]") for i, item in enumerate(value))


def _all(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "all", ())
    return And(_items(data["all"], f"{path}.all"))


def _any(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "any", ())
    return Or(_items(data["any"], f"{path}.any"))


def _not(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "not", ())
    return Not(parse_condition(data["not"], f"{path}.not"))


def _always(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "always", ())
    if data["always"] is not True:
        raise ConditionError(f"{path}.always", "write 'always: true' (use 'not: {always: true}' for never)")
    return Always()


def _attr(data: Mapping[str, object], path: str) -> Condition:
    field = _field(data["attr"], f"{path}.attr")
    _only(data, path, "attr", (*ATTR_OPS, "op", "value"))
    op, raw, where = _op_value(data, path, ATTR_OPS, "attr")
    if op in ("exists", "not_exists"):
        if not isinstance(raw, bool):
            raise ConditionError(where, f"write '{op}: true'")
        positive = raw == (op == "exists")
        return AttrCompare(field, "exists" if positive else "not_exists")
    return AttrCompare(field, cast(AttrOp, op), _operand(op, raw, where))


def _tag(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "tag", ())
    return HasTag(_text(data["tag"], f"{path}.tag", "a tag"))


def _in_segment(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "in_segment", ())
    return InSegment(_text(data["in_segment"], f"{path}.in_segment", "a segment key"))


def _stage(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "stage", ())
    raw = data["stage"]
    if isinstance(raw, list):
        if not raw:
            raise ConditionError(f"{path}.stage", "expected at least one stage")
        return AttrCompare("lifecycle_stage", "in", tuple(_text(v, f"{path}.stage[{i}]", "a stage")
                                                          for i, v in enumerate(raw)))
    return AttrCompare("lifecycle_stage", "eq", _text(raw, f"{path}.stage", "a stage or a list of stages"))


def _where(data: Mapping[str, object], path: str) -> tuple[PropFilter, ...]:
    return parse_prop_filters(data["where"], f"{path}.where") if "where" in data else ()


def parse_prop_filters(raw: object, path: str) -> tuple[PropFilter, ...]:
    """Event-property filters, as under ``where:``: ``{content_type: whitepaper, amount: {gte: 100}}``,
    ``{currency: [CNY, USD]}`` (any of), or a list of such mappings to repeat a property."""
    groups: list[tuple[str, object, str]] = []
    if isinstance(raw, list) and raw:
        for i, item in enumerate(raw):
            entry = _mapping(item, f"{path}[{i}]")
            groups.extend((k, v, f"{path}[{i}].{k}") for k, v in entry.items())
    elif isinstance(raw, Mapping) and raw:
        groups.extend((str(k), v, f"{path}.{k}") for k, v in raw.items())
    else:
        raise ConditionError(path, "expected property filters such as '{content_type: whitepaper}'")
    filters: list[PropFilter] = []
    for prop, value, at in groups:
        if not _PROP.fullmatch(prop):
            raise ConditionError(at, "property names are 1-100 characters without dots or quotes")
        if isinstance(value, list):
            filters.append(PropFilter(prop, "in", _scalars(value, at)))
        elif isinstance(value, Mapping):
            if not value:
                raise ConditionError(at, f"expected an operator: {', '.join(PROP_OPS)}")
            for op, operand in value.items():
                if op not in PROP_OPS:
                    raise ConditionError(f"{at}.{op}", f"expected one of {', '.join(PROP_OPS)}")
                filters.append(PropFilter(prop, cast(PropOp, op), _scalars(operand, f"{at}.{op}")
                                          if op == "in" else _scalar(operand, f"{at}.{op}")))
        else:
            filters.append(PropFilter(prop, "eq", _scalar(value, at)))
    return tuple(filters)


def _count(value: object, path: str) -> tuple[CountOp, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        raise ConditionError(path, f"say how to compare: '>= {value}', '= {value}' (quoted), or at_least: {value}")
    match = _COUNT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConditionError(path, f"expected a comparison such as '>= 2' or '= 0', got {value!r}")
    return _COUNT_SYMBOLS[match.group(1)], int(match.group(2))


def _event(data: Mapping[str, object], path: str) -> Condition:
    event_type = _event_type(data["event"], f"{path}.event")
    _only(data, path, "event", ("count", *_COUNT_WORDS, "within", "where"))
    given = [k for k in ("count", *_COUNT_WORDS) if k in data]
    op: CountOp = "gte"
    count = 1
    if len(given) > 1:
        raise ConditionError(path, f"give one of {', '.join(given)}, not several")
    if given and given[0] == "count":
        op, count = _count(data["count"], f"{path}.count")
    elif given:
        op = _COUNT_WORDS[given[0]]
        raw = data[given[0]]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ConditionError(f"{path}.{given[0]}", f"expected a whole number >= 0, got {raw!r}")
        count = raw
    return EventCount(event_type, op, count, _within(data, path), _where(data, path))


def _no(data: Mapping[str, object], path: str) -> Condition:
    event_type = _event_type(data["no"], f"{path}.no")
    _only(data, path, "no", ("within", "where"))
    return EventCount(event_type, "eq", 0, _within(data, path), _where(data, path))


def _event_prop(target: str, path: str) -> tuple[str, str]:
    """``order_paid.amount`` -> (``order_paid``, ``amount``): the property follows the last dot."""
    event_type, dot, prop = target.rpartition(".")
    if not dot or not _PROP.fullmatch(prop):
        raise ConditionError(path, f"expected <event type>.<property> (order_paid.amount), got {target!r}")
    return _event_type(event_type, path), prop


def _sum(data: Mapping[str, object], path: str) -> Condition:
    target = _text(data["sum"], f"{path}.sum", "an event type and property such as order_paid.amount")
    event_type, prop = _event_prop(target, f"{path}.sum")
    _only(data, path, "sum", (*COUNT_OPS, "op", "value", "within", "where"))
    op, raw, at = _op_value(data, path, COUNT_OPS, "sum")
    return EventSum(event_type, prop, cast(CountOp, op), _number(raw, at), _within(data, path), _where(data, path))


def _first_last(head: Literal["first", "last"]) -> Callable[[Mapping[str, object], str], Condition]:
    """``first``/``last``: a property of that event compared (``last: order_paid.amount, gte: 1000``), or
    when it occurred (``last: order_paid, before: 90d``)."""
    def parse(data: Mapping[str, object], path: str) -> Condition:
        target = _text(data[head], f"{path}.{head}", "an event type, or <event type>.<property>")
        _only(data, path, head, (*PROP_OPS, "op", "value", "before", "after", "within", "where"))
        sides = [k for k in ("before", "after") if k in data]
        compared = [k for k in data if k in (*PROP_OPS, "op", "value")]
        if sides and compared:
            raise ConditionError(f"{path}.{compared[0]}", f"give a time bound ({sides[0]}) or a property comparison, "
                                                          "not both")
        if len(sides) > 1:
            raise ConditionError(path, "give one of before, after, not both")
        if not sides and not compared:
            raise ConditionError(path, f"a '{head}' condition needs a property comparison ({head}: "
                                       f"order_paid.amount, gte: 100) or a time bound (before: 90d, after: 30d)")
        within, where = _within(data, path), _where(data, path)
        if sides:
            side: Literal["before", "after"] = "before" if sides[0] == "before" else "after"
            ago = parse_duration(data[side], f"{path}.{side}")
            if side == "before" and within is not None and ago >= within:
                raise ConditionError(f"{path}.before", f"never true: the {head} event within {format_duration(within)}"
                                                       f" cannot be {format_duration(ago)} old; widen within")
            return EventFirstLast(head, _event_type(target, f"{path}.{head}"), TimeBound(side, ago), within, where)
        event_type, prop = _event_prop(target, f"{path}.{head}")
        op, raw, at = _op_value(data, path, PROP_OPS, head)
        value = _scalars(raw, at) if op == "in" else _scalar(raw, at)
        return EventFirstLast(head, event_type, PropFilter(prop, cast(PropOp, op), value), within, where)
    return parse


def _engagement(action: str) -> Callable[[Mapping[str, object], str], Condition]:
    def parse(data: Mapping[str, object], path: str) -> Condition:
        _only(data, path, action, ("within",))
        node = _text(data[action], f"{path}.{action}", "the id of a message node")
        return MessageEngagement(node, "opened" if action == "opened" else "clicked", _within(data, path))
    return parse


def _random(data: Mapping[str, object], path: str) -> Condition:
    _only(data, path, "random", ())
    body = _mapping(data["random"], f"{path}.random")
    for key in body:
        if key not in ("salt", "below"):
            raise ConditionError(f"{path}.random.{key}", "expected only 'salt' and 'below'")
    salt = _text(body.get("salt"), f"{path}.random.salt", "a salt text naming the split (e.g. exp1)")
    below = _number(body.get("below"), f"{path}.random.below")
    if not 0 <= below <= 100:
        raise ConditionError(f"{path}.random.below", "expected a percentage from 0 to 100")
    return RandomBucket(salt, float(below))


_PARSERS: dict[str, Callable[[Mapping[str, object], str], Condition]] = {
    "all": _all, "any": _any, "not": _not, "always": _always, "attr": _attr, "tag": _tag, "stage": _stage,
    "event": _event, "no": _no, "sum": _sum, "first": _first_last("first"), "last": _first_last("last"),
    "opened": _engagement("opened"), "clicked": _engagement("clicked"), "random": _random, "in_segment": _in_segment,
}
