"""The pure parts: the stage machine, tiers, scores (caps, decay, negative points) and calibration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.calibration import Observation, calibrate
from touchflow.domain.errors import PathError
from touchflow.domain.lifecycle import (
    DEFAULT_LIFECYCLE,
    LifecycleFacts,
    advance_stage,
    lifecycle_document,
    next_stage,
    parse_lifecycle,
)
from touchflow.domain.predicates import ContactFacts, EventFact
from touchflow.domain.scoring import DEFAULT_MODEL, crossings, model_document, parse_model, score_contact
from touchflow.domain.tiers import DEFAULT_TIERS, TierFacts, compute_tiers, parse_tiers, tiers_document

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
CONFIG = parse_lifecycle(DEFAULT_LIFECYCLE)


def facts(*events: tuple[str, timedelta], values: dict[str, object] | None = None,
          props: dict[str, object] | None = None) -> ContactFacts:
    return ContactFacts("c1", values or {}, frozenset(),  # type: ignore[arg-type]
                        tuple(EventFact(t, NOW - ago, props or {}) for t, ago in events))


def life(contact: ContactFacts, last: timedelta | None = None, dormant_since: timedelta | None = None,
         previous: str | None = None) -> LifecycleFacts:
    return LifecycleFacts(contact, NOW - timedelta(days=400), None if last is None else NOW - last,
                          None if dormant_since is None else NOW - dormant_since, previous)


def test_each_default_transition() -> None:
    day = timedelta(days=1)
    assert next_stage(CONFIG, None, life(facts()), NOW) == ("new_visitor", "initial")
    assert next_stage(CONFIG, "new_visitor", life(facts(("signup", day)), day), NOW) == ("prospect", "signup")
    two = facts(("content_download", day), ("content_download", 2 * day))
    assert next_stage(CONFIG, "prospect", life(two, day), NOW) == ("intent", "downloads_or_score")
    scored = facts(values={"custom.lead_score": 50})
    assert next_stage(CONFIG, "prospect", life(scored, day), NOW) == ("intent", "downloads_or_score")
    assert next_stage(CONFIG, "prospect", life(facts(("content_download", day)), day), NOW) is None
    assert next_stage(CONFIG, "intent", life(facts(("order_paid", day)), day), NOW) == ("customer", "order_paid")
    assert next_stage(CONFIG, "customer", life(facts(("order_paid", day)), day), NOW) is None
    assert next_stage(CONFIG, "customer", life(facts(), timedelta(days=90)), NOW) == ("dormant", "dormancy")
    assert next_stage(CONFIG, "customer", life(facts(), timedelta(days=89)), NOW) is None
    asleep = life(facts(), timedelta(hours=1), dormant_since=timedelta(days=3), previous="intent")
    assert next_stage(CONFIG, "dormant", asleep, NOW) == ("intent", "returned")
    still = life(facts(), timedelta(days=100), dormant_since=timedelta(days=3), previous="intent")
    assert next_stage(CONFIG, "dormant", still, NOW) is None
    unknown = life(facts(), timedelta(hours=1), dormant_since=timedelta(days=3), previous=None)
    assert next_stage(CONFIG, "dormant", unknown, NOW) == ("prospect", "returned")  # the fallback
    assert next_stage(CONFIG, "vip_lead", life(facts(("signup", day))), NOW) is None  # a stage it does not know


def test_moves_chain_until_the_contact_settles() -> None:
    day = timedelta(days=1)
    contact = facts(("signup", day), ("order_paid", day))
    assert advance_stage(CONFIG, None, life(contact, day), NOW) == [
        (None, "new_visitor", "initial"), ("new_visitor", "prospect", "signup"),
        ("prospect", "customer", "order_paid")]


def test_configuration_errors_name_the_element_and_documents_round_trip() -> None:
    assert parse_lifecycle(lifecycle_document(CONFIG)) == CONFIG
    bad = {**DEFAULT_LIFECYCLE, "rules": [{"name": "x", "to": "nowhere", "when": {"event": "signup"}}]}
    with pytest.raises(PathError, match=r"rules\[0\]\.to: unknown stage 'nowhere'"):
        parse_lifecycle(bad)
    with pytest.raises(PathError, match=r"rules\[0\]\.when"):
        parse_lifecycle({**DEFAULT_LIFECYCLE, "rules": [{"to": "prospect", "when": {"event": "signup", "count": 2}}]})
    with pytest.raises(PathError, match=r"dormancy\.after"):
        parse_lifecycle({**DEFAULT_LIFECYCLE, "dormancy": {"after": "soon"}})


def test_tiers_follow_thresholds() -> None:
    config = parse_tiers({**DEFAULT_TIERS, "activity": {"window": "30d", "high": 8, "medium": 2}})
    assert parse_tiers(tiers_document(config)) == config
    order: dict[str, object] = {"amount": 3000}
    vip = compute_tiers(config, TierFacts(facts(("order_paid", timedelta(days=10)), ("order_paid", timedelta(days=40)),
                                                props=order), 8), NOW)
    assert (vip.activity_tier, vip.value_tier, vip.rfm.frequency, vip.rfm.monetary) == ("高", "VIP", 2, 6000)
    lapsed = compute_tiers(config, TierFacts(facts(("order_paid", timedelta(days=200)), props=order), 2), NOW)
    assert (lapsed.activity_tier, lapsed.value_tier) == ("中", "普通")
    new = compute_tiers(config, TierFacts(facts(("cart_abandoned", timedelta(days=1))), 1), NOW)
    assert (new.activity_tier, new.buying_stage, new.value_tier) == ("低", "决策", "潜在")
    browsing = facts(*[("page_view", timedelta(days=d)) for d in (1, 2, 3)])
    assert compute_tiers(config, TierFacts(browsing, 3), NOW).buying_stage == "考虑"
    with pytest.raises(PathError, match=r"activity\.medium"):
        parse_tiers({"activity": {"high": 2, "medium": 5}})


def test_caps_per_period_decay_and_negative_points() -> None:
    model = parse_model({"half_life": "30d", "floor": 0, "events": [
        {"name": "views", "event": "page_view", "points": 2, "cap": 5, "per": "7d"},
        {"name": "pricing", "event": "page_view", "points": 10, "where": {"url": "https://x/pricing"}},
        {"name": "unsubscribed", "event": "unsubscribe", "points": -8}],
        "attributes": [{"name": "manufacturing", "when": {"attr": "industry", "eq": "制造业"}, "points": 4}],
        "thresholds": {"mql": 10, "sql": 20}})
    this_week = [("page_view", timedelta(hours=h)) for h in (1, 2, 3, 4)]  # oldest first: 2, 2, 1 (capped), 0

    def decay(hours: float) -> float:
        return float(0.5 ** (hours / (30 * 24)))

    expected = 2 * decay(4) + 2 * decay(3) + 1 * decay(2)
    assert score_contact(model, facts(*this_week), NOW).parts == {"views": pytest.approx(expected, abs=1e-4)}
    last_week = [("page_view", timedelta(days=3, hours=h)) for h in (1, 2)]  # Thursday before: another period
    result = score_contact(model, facts(*this_week, *last_week), NOW)
    assert result.parts["views"] == pytest.approx(expected + 2 * decay(73) + 2 * decay(74), abs=1e-4)
    old = score_contact(model, facts(("page_view", timedelta(days=30))), NOW)
    assert old.score == 1.0  # 2 points, one half-life ago
    priced = score_contact(model, facts(("page_view", timedelta(0)), props={"url": "https://x/pricing"},
                                        values={"industry": "制造业"}), NOW)
    assert priced.parts == {"views": 2, "pricing": 10, "manufacturing": 4} and priced.score == 16
    assert score_contact(model, facts(("unsubscribe", timedelta(0))), NOW).score == 0  # the floor
    assert crossings(model, 16, {}) == ["mql"] and crossings(model, 25, {"mql": NOW}) == ["sql"]
    assert score_contact(model, facts(("page_view", timedelta(days=-1))), NOW).score == 0  # the future
    assert parse_model(model_document(model)) == model


def test_the_default_model_parses_and_rescoring_is_pure() -> None:
    model = parse_model(DEFAULT_MODEL)
    contact = facts(("content_download", timedelta(days=5)), ("page_view", timedelta(days=1)))
    assert score_contact(model, contact, NOW) == score_contact(model, contact, NOW)
    with pytest.raises(PathError, match=r"events\[0\]\.per: a period needs a cap"):
        parse_model({"events": [{"event": "page_view", "points": 1, "per": "7d"}]})
    with pytest.raises(PathError, match=r"thresholds\.sql"):
        parse_model({"events": [], "thresholds": {"mql": 50, "sql": 10}})


def test_calibration_proposes_a_threshold_and_sales_feedback_counts() -> None:
    model = parse_model({"events": [{"name": "c", "event": "consult", "points": 20}], "thresholds": {"mql": 10}})
    observations = [Observation(f"h{i}", 60, i < 30, parts={"c": 60}) for i in range(40)]
    observations += [Observation(f"w{i}", 20, i < 6, parts={"c": 20}) for i in range(60)]
    report = calibrate(model, observations)
    assert report.at_mql is not None and (report.at_mql.precision, report.at_mql.recall) == (0.36, 1.0)
    (proposal,) = report.proposals
    assert (proposal.kind, proposal.proposed) == ("threshold", 60)
    flipped = [Observation(o.contact_id, o.score, o.converted, "bad" if o.contact_id.startswith("h") else None,
                           o.parts) for o in observations]
    assert calibrate(model, flipped).positives == 6  # sales' "bad" outweighs the order book
