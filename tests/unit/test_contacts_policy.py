"""The field-conflict policy and merges, as pure functions."""

import itertools
from datetime import UTC, datetime, timedelta

from touchflow.domain.contacts import Consent, ContactRecord, ContactState, apply_record, merge_into, pick_winner
from touchflow.domain.identities import Identity, make_identity, parse_identifier
from touchflow.domain.resolution import group_records
from touchflow.domain.tagging import DEFAULT_TAG_RULES, apply_tag_rules

T0 = datetime(2026, 3, 1, tzinfo=UTC)
EMAIL = Identity("email", "a@x.cn")


def record(source: str, priority: int, at: datetime, **values: str | int) -> ContactRecord:
    return ContactRecord((EMAIL,), source, priority, at, dict(values))


def test_higher_priority_source_wins_over_a_newer_lower_one() -> None:
    state = ContactState("c1", T0)
    apply_record(state, record("crm", 100, T0, company="华为"))
    changed = apply_record(state, record("website", 50, T0 + timedelta(days=1), company="Huawei Ltd"))
    assert not changed
    assert state.values["company"] == "华为"
    assert state.lineage["company"].source == "crm"


def test_same_priority_most_recent_non_empty_wins_and_empty_never_overwrites() -> None:
    state = ContactState("c1", T0)
    apply_record(state, record("shop", 80, T0, city="上海"))
    apply_record(state, record("shop", 80, T0 + timedelta(hours=1), city="苏州"))
    assert state.values["city"] == "苏州"
    assert not apply_record(state, record("shop", 80, T0 + timedelta(hours=2), city=""))
    assert state.values["city"] == "苏州"


def test_missing_field_is_completed_from_another_source() -> None:
    state = ContactState("c1", T0)
    apply_record(state, record("crm", 100, T0, company="华为"))
    apply_record(state, record("shop", 80, T0, city="深圳"))
    assert state.values == {"company": "华为", "city": "深圳"}
    assert state.lineage["city"].source == "shop"


def test_outcome_does_not_depend_on_arrival_order() -> None:
    records = [record("shop", 80, T0, city="上海"), record("shop", 80, T0, city="北京"),
               record("crm", 100, T0 - timedelta(days=9), city="杭州", company="A"),
               record("web", 50, T0 + timedelta(days=1), company="B", name="李四")]
    outcomes = set()
    for order in itertools.permutations(records):
        state = ContactState("c1", T0)
        for r in order:
            apply_record(state, r)
        outcomes.add(tuple(sorted(state.values.items())))
    assert outcomes == {(("city", "杭州"), ("company", "A"), ("name", "李四"))}


def test_reapplying_the_same_record_changes_nothing() -> None:
    state = ContactState("c1", T0)
    r = record("crm", 100, T0, name="王五", city="上海")
    assert apply_record(state, r)
    assert not apply_record(state, r)


def test_consent_latest_statement_wins_and_denial_wins_a_tie() -> None:
    state = ContactState("c1", T0)
    state.offer_consent(Consent("email", "granted", "web", T0))
    state.offer_consent(Consent("email", "denied", "crm", T0))
    assert state.consents["email"].status == "denied"
    state.offer_consent(Consent("email", "granted", "web", T0 - timedelta(days=1)))
    assert state.consents["email"].status == "denied"
    state.offer_consent(Consent("email", "granted", "web", T0 + timedelta(days=1)))
    assert state.consents["email"].status == "granted"


def test_merge_keeps_the_oldest_contact_applies_policy_and_lists_conflicts() -> None:
    old = ContactState("c-old", T0)
    apply_record(old, record("web", 50, T0, company="旧公司", city="上海"))
    new = ContactState("c-new", T0 + timedelta(days=1))
    apply_record(new, record("crm", 100, T0, company="新公司", name="赵六"))
    new.tags["vip"] = "crm"
    winner = pick_winner([new, old])
    assert winner is old
    conflicts = merge_into(winner, new)
    assert winner.values == {"company": "新公司", "city": "上海", "name": "赵六"}
    assert winner.tags == {"vip": "crm"}
    assert new.merged_into == "c-old"
    assert [(c.field, c.kept, c.dropped) for c in conflicts] == [("company", "新公司", "旧公司")]


def test_group_records_links_chains_and_finds_contacts_to_merge() -> None:
    anon = Identity("anon", "v1")
    phone = Identity("phone", "+8613800138000")
    other = Identity("email", "b@y.cn")
    existing = {anon: "c-anon", EMAIL: "c-email"}
    components = group_records([(anon,), (anon, phone), (phone, EMAIL), (other,)], existing)
    assert len(components) == 2
    first, second = components
    assert first.records == [0, 1, 2]
    assert first.existing == ["c-anon", "c-email"]
    assert second.records == [3] and second.existing == []


def test_rule_tags_follow_corrections_but_never_touch_manual_tags() -> None:
    state = ContactState("c1", T0, values={"industry": "制造业"})
    assert apply_tag_rules(state, DEFAULT_TAG_RULES)
    assert state.tags["manufacturing"] == "rule:industry-manufacturing"
    state.values["industry"] = "金融"
    apply_tag_rules(state, DEFAULT_TAG_RULES)
    assert "manufacturing" not in state.tags and "finance" in state.tags
    state.tags["manufacturing"] = "manual"
    apply_tag_rules(state, DEFAULT_TAG_RULES)
    assert state.tags["manufacturing"] == "manual"


def test_identifiers_parse_and_normalise() -> None:
    assert parse_identifier("phone:138 0013 8000") == Identity("phone", "+8613800138000")
    assert parse_identifier("EMAIL:A@X.CN") == EMAIL
    assert parse_identifier("01a2b3") is None
    assert make_identity("x_loyalty", " 42 ") == Identity("x_loyalty", "42")


def _file_row(row: int, at: datetime, file: str = "f1", **values: str | int) -> ContactRecord:
    return ContactRecord((EMAIL,), "crm", 100, at, dict(values), file=file, row=row)


def test_within_one_file_the_later_row_wins_whatever_the_ingest_time_or_order() -> None:
    rows = [_file_row(2, T0, company="Zeta"), _file_row(3, T0, company="Alpha"), _file_row(5, T0, company="Mid")]
    for order in itertools.permutations(rows):
        state = ContactState("c1", T0)
        for r in order:
            apply_record(state, r)
        assert state.values["company"] == "Mid" and state.lineage["company"].row == 5
        # the same file again, a day later: every row is re-offered and nothing moves
        later = [_file_row(r.row, T0 + timedelta(days=1), **r.values) for r in order]
        assert not any(apply_record(state, r) for r in later)
        assert state.lineage["company"].at == T0


def test_another_file_or_a_dated_row_is_ranked_by_time_as_before() -> None:
    state = ContactState("c1", T0)
    apply_record(state, _file_row(9, T0, company="Old file"))
    assert apply_record(state, _file_row(2, T0 + timedelta(days=1), file="f2", company="New file"))
    assert not apply_record(state, record("crm", 100, T0, company="Dated, older"))
    assert state.values["company"] == "New file"


def test_the_unmerge_record_keeps_file_stamps_whole() -> None:
    """A survivor's value from an undated file row keeps its file and row through the unmerge record."""
    from datetime import UTC, datetime

    from touchflow.domain.contacts import ContactState, Stamp
    from touchflow.domain.unmerge import MergeUndo

    at = datetime(2026, 3, 2, tzinfo=UTC)
    before = ContactState("w", at, {"city": "杭州"}, {"city": Stamp("crm", 50, at, "abc123", 7)})
    undo = MergeUndo((), (), True, {}, (), (), (), before)
    assert MergeUndo.from_document(undo.document(), "w", at).survivor_before.lineage == before.lineage


def _consent_row(row: int, at: datetime, status: str, file: str = "f1") -> ContactRecord:
    consent = Consent("email", "granted" if status == "granted" else "denied", "crm", at)
    return ContactRecord((EMAIL,), "crm", 100, at, consents=(consent,), file=file, row=row)


def test_a_file_row_offered_again_restates_no_consent() -> None:
    """ADR 0013 for consent: the same file's row again is a re-offer, even with a later ingest time."""
    state = ContactState("c1", T0)
    assert apply_record(state, _consent_row(4, T0, "granted"))
    withdrawn = Consent("email", "denied", "website", T0 + timedelta(days=1))
    assert state.offer_consent(withdrawn)
    assert not apply_record(state, _consent_row(4, T0 + timedelta(days=2), "granted"))
    assert not apply_record(state, _consent_row(2, T0 + timedelta(days=2), "granted"))  # an earlier row of it
    assert state.consents["email"] == withdrawn
    assert apply_record(state, _consent_row(1, T0 + timedelta(days=2), "granted", file="f2"))  # another file
    assert state.consents["email"].status == "granted"


def test_a_merge_keeps_the_file_rows_the_loser_had_seen() -> None:
    winner, loser = ContactState("w", T0), ContactState("l", T0 + timedelta(hours=1))
    apply_record(loser, _consent_row(3, T0, "granted"))
    loser.offer_consent(Consent("email", "denied", "website", T0 + timedelta(days=1)))
    merge_into(winner, loser)
    assert not apply_record(winner, _consent_row(3, T0 + timedelta(days=2), "granted"))
    assert winner.consents["email"].status == "denied"
