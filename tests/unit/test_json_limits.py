"""The depth and 64-bit limits on free-form JSON: one rule for the API, imports and the rejects kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from touchflow.domain.errors import FieldError, RecordRejected
from touchflow.domain.limits import MAX_JSON_DEPTH, clip_json, json_problem
from touchflow.domain.records import contact_record_from, event_input_from

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def nested(depth: int, inner: Any = 1) -> Any:
    value = inner
    for _ in range(depth):
        value = [value] if depth % 2 else {"k": value}
    return value


def test_depth_counts_containers_and_stops_at_the_limit() -> None:
    assert json_problem(nested(MAX_JSON_DEPTH), "p") is None
    field, reason = json_problem(nested(MAX_JSON_DEPTH + 1), "p") or ("", "")
    assert reason == f"nested deeper than {MAX_JSON_DEPTH} levels" and field.startswith("p.")
    assert json_problem(nested(100_000), "p") is not None  # iterative: no RecursionError
    assert json_problem({"a": [1, 2**63 - 1, -(2**63)]}, "p") is None
    assert json_problem({"a": [1, {"b": 2**63}]}, "p") == ("p.a.1.b", "integer out of the 64-bit range")
    assert json_problem({"a": True, "b": 1.5e300, "c": None, "d": "x" * 10}, "p") is None


def test_clipped_values_can_always_be_stored() -> None:
    for hostile in (nested(5000), {"a": 2**200, "b": [nested(300)]}):
        clipped = clip_json(hostile)
        assert json_problem(clipped, "x", depth=0) is None
        assert orjson.loads(orjson.dumps(clipped)) == clipped
    assert clip_json({"a": [1, "x"], "b": 10**30}) == {"a": [1, "x"], "b": str(10**30)}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 255, 800])
def test_events_nested_too_deep_are_refused_naming_the_field(depth: int) -> None:
    raw = {"type": "survey_answered", "anon": "v-1", "properties": {"answers": nested(depth)}}
    with pytest.raises(FieldError) as refused:
        event_input_from(raw, "api", NOW)
    assert refused.value.field.startswith("properties.answers")
    assert refused.value.reason == f"nested deeper than {MAX_JSON_DEPTH} levels"
    fine = {**raw, "properties": {"answers": nested(MAX_JSON_DEPTH - 1)}}
    assert event_input_from(fine, "api", NOW).properties == fine["properties"]


def test_wide_integers_in_events_and_custom_attributes_are_refused() -> None:
    with pytest.raises(FieldError) as refused:
        event_input_from({"type": "x_score", "anon": "v", "properties": {"n": 2**64}}, "api", NOW)
    assert refused.value.field == "properties.n"
    record = contact_record_from({"email": "a@example.cn", "custom.plan": 10**30, "custom.ok": 7}, "crm", 10, NOW)
    assert record.values == {"custom.ok": 7}
    assert [(w.field, w.reason) for w in record.warnings] == [("custom.plan", "integer out of the 64-bit range")]
    with pytest.raises(RecordRejected):
        contact_record_from({"custom.plan": 1}, "crm", 10, NOW)
