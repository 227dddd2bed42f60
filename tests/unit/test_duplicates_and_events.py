from datetime import UTC, datetime

import pytest

from touchflow.domain.duplicates import DuplicateCandidate, suggest_duplicates
from touchflow.domain.errors import FieldError
from touchflow.domain.events import EVENT_CATALOGUE, derive_event_id, validate_properties
from touchflow.domain.records import contact_record_from, event_input_from
from touchflow.domain.sources import default_source

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_fuzzy_suggestions_need_same_city_similar_name_and_company() -> None:
    people = [
        DuplicateCandidate("1", "王建国", "苏州精密机械有限公司", "苏州"),
        DuplicateCandidate("2", "王建国", "苏州精密机械公司", "苏州"),
        DuplicateCandidate("3", "王建国", "苏州精密机械有限公司", "上海"),
        DuplicateCandidate("4", "李明", "苏州精密机械有限公司", "苏州"),
    ]
    found = suggest_duplicates(people)
    assert [(s.first, s.second) for s in found] == [("1", "2")]
    assert "苏州" in found[0].reason


def test_catalogue_has_the_standard_types() -> None:
    for name in ("page_view", "content_download", "form_submit", "signup", "consult", "quote_sent",
                 "quote_opened", "order_paid", "cart_abandoned", "coupon_claimed", "coupon_redeemed",
                 "survey_response", "complaint", "unsubscribe", "offline_event_attended", "message_opened"):
        assert name in EVENT_CATALOGUE
        assert EVENT_CATALOGUE[name].doc


def test_standard_event_properties_are_checked_and_numbers_coerced() -> None:
    with pytest.raises(FieldError) as info:
        validate_properties("order_paid", {"order_id": "o1"})
    assert info.value.field == "properties.amount"
    assert validate_properties("order_paid", {"order_id": "o1", "amount": "99.5"})["amount"] == 99.5
    assert validate_properties("my_custom_thing", {"x": [1]}) == {"x": [1]}


def test_event_without_identifier_or_type_names_the_field() -> None:
    with pytest.raises(FieldError) as info:
        event_input_from({"type": "page_view", "properties": {"url": "/"}}, "web", NOW)
    assert info.value.field == "contact"
    with pytest.raises(FieldError) as info:
        event_input_from({"email": "a@x.cn"}, "web", NOW)
    assert info.value.field == "type"


def test_derived_event_ids_are_stable() -> None:
    raw = {"type": "page_view", "anon": "v1", "occurred_at": "2026-03-01T00:00:00Z", "properties": {"url": "/"}}
    first = event_input_from(raw, "web", NOW)
    second = event_input_from(dict(raw), "web", NOW)
    assert first.id == second.id
    assert derive_event_id("a", {"x": 1}) != derive_event_id("b", {"x": 1})


def test_contact_record_keeps_good_fields_and_warns_on_bad_ones() -> None:
    rec = contact_record_from({"phone": "138 0013 8000", "age": "300", "email": "bad@", "name": "张 三",
                               "custom.vip": "gold", "tags": "A，B;C", "consent.email": "是"}, "crm", 100, NOW)
    assert [str(i) for i in rec.identities] == ["phone:+8613800138000"]
    assert rec.values["name"] == "张三" and rec.values["custom.vip"] == "gold"
    assert {w.field for w in rec.warnings} == {"age", "email"}
    assert rec.tags == {"A", "B", "C"}
    assert rec.consents[0].status == "granted"


def test_source_defaults_follow_the_name() -> None:
    assert default_source("crm").priority > default_source("website").priority
    assert default_source("crm_salesforce").kind == "crm"
    assert default_source("partner-feed").kind == "custom"


@pytest.mark.parametrize(("raw", "field"), [
    ({"type": "x", "email": "a@b.cn", "occurred_at": {"at": 1}}, "occurred_at"),
    ({"type": "x", "email": "a@b.cn", "occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"type": "x", "email": "a@b.cn", "occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
    ({"type": "order_paid", "email": "a@b.cn", "properties": {"order_id": "1", "amount": "1e999"}},
     "properties.amount"),
    ({"type": "survey_response", "email": "a@b.cn", "properties": {"survey_id": "s", "score": "nan"}},
     "properties.score"),
    ({"type": "x", "email": {"nested": "a@b.cn"}}, "contact"),
])
def test_hostile_event_input_is_a_field_error_not_a_crash(raw: dict[str, object], field: str) -> None:
    with pytest.raises(FieldError) as info:
        event_input_from(raw, "api", NOW)
    assert info.value.field == field


def test_hostile_contact_input_becomes_warnings_and_nul_characters_are_dropped() -> None:
    rec = contact_record_from({"email": "a@b.cn", "name": "x" * 250, "age": "1e999", "city": "上\x00海",
                               "tags": "ok," + "t" * 101, "company": ["list"]}, "crm", 100, NOW)
    assert {w.field for w in rec.warnings} == {"name", "age", "tags", "company"}
    assert rec.values == {"city": "上海"}
    assert rec.tags == {"ok"}
    with pytest.raises(FieldError):
        event_input_from({"type": "x", "email": "a" * 250 + "@b.cn"}, "api", NOW)
    event = event_input_from({"type": "x", "email": "a@b.cn", "properties": {"t": "a\x00b"}}, "api", NOW)
    assert event.properties == {"t": "ab"}
