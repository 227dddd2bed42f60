from datetime import UTC, datetime

import pytest

from touchflow.domain.duplicates import DuplicateCandidate, DuplicateSuggestion, suggest_duplicates
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


def _pairwise_reference(candidates: list[DuplicateCandidate], threshold: float = 88.0,
                        limit: int = 500) -> list[DuplicateSuggestion]:
    """Every pair of a city compared: what the blocked search must give, pair for pair."""
    from rapidfuzz import fuzz

    found = []
    for city in {c.city for c in candidates if c.name and c.city}:
        group = sorted((c for c in candidates if c.city == city and c.name), key=lambda c: c.contact_id)
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                name_score = fuzz.ratio(a.name, b.name)
                company_score = fuzz.token_set_ratio(a.company, b.company) if a.company and b.company else 0.0
                if name_score >= threshold and company_score >= threshold:
                    found.append(DuplicateSuggestion(
                        a.contact_id, b.contact_id, round((name_score + company_score) / 2, 1),
                        f"name {name_score:.0f}%, company {company_score:.0f}% alike, both in {city}"))
    found.sort(key=lambda s: (-s.score, s.first, s.second))
    return found[:limit]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blocked_suggestions_are_the_pairwise_ones(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    names = ["王建国", "王建", "李明", "Zhang Weiming", "Zhang Weimin", "Zhang Wei Ming", "Alexander Petrov",
             "Alexandr Petrov", "欧阳建国华", "欧阳建国", "", "陈"]
    companies = ["苏州精密机械有限公司", "苏州精密机械公司", "星河科技", "星河 科技 上海", "", "Acme Ltd", "Acme"]
    people = [DuplicateCandidate(f"c{rnd.randrange(10_000):05d}-{i}", rnd.choice(names), rnd.choice(companies),
                                 rnd.choice(["苏州", "上海", ""])) for i in range(300)]
    for limit in (5, 100, 5000):
        assert suggest_duplicates(people, limit=limit) == _pairwise_reference(people, limit=limit)
    assert suggest_duplicates(people, threshold=80, limit=5000) == _pairwise_reference(people, 80, 5000)
