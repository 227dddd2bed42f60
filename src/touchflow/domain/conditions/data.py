"""Conditions back to the plain YAML/JSON data ``parse_condition`` reads: for storing and showing them.

``parse_condition(condition_to_data(c)) == c`` for every condition (a property test checks it);
``touchflow.domain.conditions.parse`` re-exports ``condition_to_data``.
"""

from __future__ import annotations

from datetime import timedelta

from touchflow.domain.conditions.durations import format_duration
from touchflow.domain.conditions.predicates import (
    Always,
    And,
    AttrCompare,
    Condition,
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
    RandomBucket,
    TimeBound,
)
from touchflow.domain.contacts import Scalar

__all__ = ["condition_to_data"]

_SYMBOL_OF: dict[CountOp, str] = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _plain(value: Scalar | tuple[Scalar, ...] | None) -> object:
    return list(value) if isinstance(value, tuple) else value


def _where_data(where: tuple[PropFilter, ...]) -> object:
    def one(f: PropFilter) -> object:
        return f.value if f.op == "eq" else _plain(f.value) if f.op == "in" else {f.op: f.value}
    if len({f.prop for f in where}) == len(where):
        return {f.prop: one(f) for f in where}
    return [{f.prop: {f.op: _plain(f.value)}} for f in where]  # a list keeps repeated properties in order


def _windowed(data: dict[str, object], within: timedelta | None, where: tuple[PropFilter, ...] = ()) -> object:
    if within is not None:
        data["within"] = format_duration(within)
    if where:
        data["where"] = _where_data(where)
    return data


def condition_to_data(cond: Condition) -> object:
    """The YAML/JSON data ``parse_condition`` reads back as an equal condition."""
    match cond:
        case AttrCompare(field=field, op="exists" | "not_exists" as op):
            return {"attr": field, "exists": op == "exists"}
        case AttrCompare(field=field, op=op, value=value):
            return {"attr": field, op: _plain(value)}
        case HasTag(tag=tag):
            return {"tag": tag}
        case InSegment(segment=key):
            return {"in_segment": key}
        case EventCount(event_type=t, op="eq", count=0, within=within, where=where):
            return _windowed({"no": t}, within, where)
        case EventCount(event_type=t, op=op, count=count, within=within, where=where):
            return _windowed({"event": t, "count": f"{_SYMBOL_OF[op]} {count}"}, within, where)
        case EventSum(event_type=t, prop=prop, op=op, value=value, within=within, where=where):
            return _windowed({"sum": f"{t}.{prop}", op: value}, within, where)
        case EventFirstLast(which=which, event_type=t, test=TimeBound(side=side, ago=ago), within=within, where=where):
            return _windowed({which: t, side: format_duration(ago)}, within, where)
        case EventFirstLast(which=which, event_type=t, test=PropFilter(prop=prop, op=op, value=value), within=within,
                            where=where):
            return _windowed({which: f"{t}.{prop}", op: _plain(value)}, within, where)
        case MessageEngagement(node_id=node_id, action=action, within=within):
            return _windowed({action: node_id}, within)
        case RandomBucket(salt=salt, below_percent=below):
            return {"random": {"salt": salt, "below": below}}
        case And(items=items):
            return {"all": [condition_to_data(c) for c in items]}
        case Or(items=items):
            return {"any": [condition_to_data(c) for c in items]}
        case Not(item=item):
            return {"not": condition_to_data(item)}
        case Always():
            return {"always": True}
    raise TypeError(f"not a condition: {cond!r}")
