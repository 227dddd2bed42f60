"""The pure parts: the stage machine, tiers, scores (caps, decay, negative points), the batch scorer against the
reference, and calibration."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchflow.domain.conditions.predicates import (
    AttrCompare,
    Condition,
    ContactFacts,
    EventCount,
    EventFact,
    HasTag,
    InSegment,
    Not,
    PropFilter,
)
from touchflow.domain.errors import PathError
from touchflow.domain.scoring.batch import ScoreBatch, from_micros, micros
from touchflow.domain.scoring.calibration import Observation, calibrate
from touchflow.domain.scoring.lifecycle import (
    DEFAULT_LIFECYCLE,
    LifecycleFacts,
    advance_stage,
    lifecycle_document,
    next_stage,
    parse_lifecycle,
)
from touchflow.domain.scoring.model import (
    DEFAULT_MODEL,
    AttributeRule,
    EventRule,
    ScoreResult,
    ScoringModel,
    crossings,
    model_document,
    parse_model,
    score_contact,
    score_events,
)
from touchflow.domain.scoring.tiers import DEFAULT_TIERS, TierFacts, compute_tiers, parse_tiers, tiers_document

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
    created = NOW - timedelta(days=400)
    assert advance_stage(CONFIG, None, life(contact, day), NOW) == [
        (None, "new_visitor", "initial", created), ("new_visitor", "prospect", "signup", NOW - day),
        ("prospect", "customer", "order_paid", NOW - day)]


def test_a_move_is_dated_when_its_qualifying_event_happened_not_when_the_pass_ran() -> None:
    """Issue 11 item 14: a pass that runs weeks later still records the day the contact qualified."""
    downloads = facts(("content_download", timedelta(days=40)), ("content_download", timedelta(days=12)),
                      ("content_download", timedelta(days=3)))
    moves = advance_stage(CONFIG, "prospect", life(downloads, timedelta(days=3)), NOW)
    assert [(m[1], m[3]) for m in moves] == [("intent", NOW - timedelta(days=12))]  # 2 downloads within 30 days
    asleep = advance_stage(CONFIG, "customer", life(facts(("order_paid", timedelta(days=200))),
                                                   timedelta(days=200)), NOW)
    assert [(m[1], m[2], m[3]) for m in asleep] == [("dormant", "dormancy", NOW - timedelta(days=110))]


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


# --- the batch scorer against the reference ------------------------------------------------------------

TYPES = ("page_view", "download", "unsubscribe", "other")  # "other": no rule scores it
ATTRIBUTE_WHENS: tuple[Condition, ...] = (
    AttrCompare("industry", "eq", "制造业"), AttrCompare("custom.flag", "eq", True), AttrCompare("age", "gte", 30),
    HasTag("vip"), Not(AttrCompare("custom.flag", "exists")), InSegment("loyal"),
    EventCount("download", "gte", 2, timedelta(days=30)))  # the last one reads events: no memo


@st.composite
def models(draw: st.DrawFn) -> ScoringModel:
    points = st.sampled_from([1.0, 2.0, 0.5, 0.3, 0.1, 7.25, 10.0, -3.0, -0.7, -20.0])
    rules = []
    for i in range(draw(st.integers(1, 5))):
        cap = draw(st.none() | st.sampled_from([0.5, 1.0, 2.9, 4.0, 30.0]))
        per = draw(st.none() | st.sampled_from([timedelta(hours=1), timedelta(days=1), timedelta(days=7)])) \
            if cap is not None else None
        where = draw(st.sampled_from([(), (PropFilter("url", "eq", "/pricing"),), (PropFilter("n", "gte", 2),)]))
        name = f"r{i}" if not draw(st.booleans()) or i == 0 else "r0"  # duplicate names add up in the reference
        rules.append(EventRule(name, draw(st.sampled_from(TYPES[:3])), draw(points), where, cap, per))
    attributes = tuple(AttributeRule(f"a{i}", when, draw(points))
                       for i, when in enumerate(draw(st.lists(st.sampled_from(ATTRIBUTE_WHENS), max_size=3))))
    half_life = draw(st.none() | st.sampled_from([timedelta(hours=5), timedelta(days=30), timedelta(days=90)]))
    lookback = draw(st.none() | st.sampled_from([timedelta(days=10), timedelta(days=365)]))
    floor = draw(st.sampled_from([None, 0.0, -5.0]))
    return ScoringModel("m", tuple(rules), attributes, half_life, lookback, (), floor)


DAY_US = 86_400_000_000
properties: st.SearchStrategy[dict[str, object]] = st.sampled_from([{}, {"url": "/pricing"}, {"url": "/x"}, {"n": 3}])


@st.composite
def contacts_(draw: st.DrawFn) -> list[ContactFacts]:
    rnd = draw(st.randoms(use_true_random=True))  # ages spread evenly over the range, to the microsecond
    midnight = DAY_US // 2  # NOW is Monday noon: period boundaries (hour, day, week) at and around midnight
    edges = [0, -1, 1, 10 * DAY_US, 365 * DAY_US, midnight, midnight + 1, midnight - 1, 7 * DAY_US + midnight + 1]
    found = []
    for i in range(draw(st.integers(1, 6))):
        events = []
        for _ in range(draw(st.integers(0, 14))):
            ago = rnd.choice(edges) if rnd.random() < 0.1 else rnd.randint(-2 * DAY_US, 400 * DAY_US)
            events.append((draw(st.sampled_from(TYPES)), ago, draw(properties)))
        tie = draw(st.booleans())
        if events and tie:  # another event of one type at one instant
            kind, ago, _ = events[0]
            events.append((kind, ago, draw(properties)))
        values = {k: v for k, v in (("industry", draw(st.sampled_from([None, "制造业", "retail"]))),
                                    ("age", draw(st.sampled_from([None, 25, 40]))),
                                    ("custom.flag", draw(st.sampled_from([None, True, 1, 1.0, "yes"]))))
                  if v is not None}
        found.append(ContactFacts(f"c{i}", values, frozenset(draw(st.sampled_from([(), ("vip",)]))),
                                  tuple(EventFact(t, NOW - timedelta(microseconds=ago), p) for t, ago, p in events)))
    return found


def batch_results(model: ScoringModel, people: list[ContactFacts]
                  ) -> dict[str, tuple[dict[int, float], ScoreResult, float]]:
    """What ``services.scoring`` does with the store's rows: sorted by contact, type and time, properties only
    for the types a filter reads; scores from a second batch, so both fill their own attribute memo."""
    batch = ScoreBatch(model, NOW)
    rich = model.filtered_types()
    rows = sorted(((c.contact_id, e.type, micros(e.occurred_at), e.properties if e.type in rich else None)
                   for c in people for e in c.events), key=lambda r: r[:3])
    totals = batch.event_points(rows)
    ids = [c.contact_id for c in people]
    attributes = {c.contact_id: (tuple(c.values.get(f) for f in batch.attribute_fields), frozenset(c.tags))
                  for c in people}
    events = {c.contact_id: c.events for c in people}
    results = batch.results(ids, totals, attributes, events)
    scores = ScoreBatch(model, NOW).scores(ids, totals, attributes, events)
    return {cid: (totals.get(cid, {}), result, score) for cid, result, score in zip(ids, results, scores, strict=True)}


@settings(max_examples=400, deadline=None)
@given(model=models(), people=contacts_())
def test_the_batch_scorer_gives_the_reference_scores_to_the_last_bit(model: ScoringModel,
                                                                     people: list[ContactFacts]) -> None:
    found = batch_results(model, people)
    for contact in people:
        expected = score_contact(model, contact, NOW)
        totals, result, score = found[contact.contact_id]
        assert totals == score_events(model, ((e.type, e.occurred_at, e.properties) for e in contact.events), NOW)
        assert result == expected and score == expected.score
        assert [math.copysign(1, v) for v in result.parts.values()] == \
            [math.copysign(1, v) for v in expected.parts.values()]  # even the sign of a zero


def test_the_attribute_memo_tells_true_from_one_and_reads_tags() -> None:
    model = parse_model({"events": [], "attributes": [
        {"name": "flag", "when": {"attr": "custom.flag", "eq": True}, "points": 3},
        {"name": "vip", "when": {"tag": "vip"}, "points": 4}]})
    batch = ScoreBatch(model, NOW)
    assert batch.attribute_fields == ("custom.flag",) and batch.reads_tags
    assert batch.attribute_parts("c1", (True,), frozenset()) == (("flag", 3.0),)
    assert batch.attribute_parts("c2", (1,), frozenset()) == ()  # 1 == True in Python, not in the language
    assert batch.attribute_parts("c3", (1.0,), frozenset({"vip"})) == (("vip", 4.0),)
    assert batch.attribute_parts("c4", ([1],), frozenset()) == ()  # not hashable: evaluated, not remembered


def test_event_rows_must_come_grouped_by_contact() -> None:
    batch = ScoreBatch(parse_model(DEFAULT_MODEL), NOW)
    at = micros(NOW - timedelta(days=1))
    assert batch.event_points([("a", "signup", at, None), ("b", "signup", at, None)]) == {
        "a": {3: 10 * 0.5 ** (1 / 90)}, "b": {3: 10 * 0.5 ** (1 / 90)}}
    with pytest.raises(ValueError, match="not grouped by contact"):
        batch.event_points([("a", "signup", at, None), ("b", "signup", at, None), ("a", "consult", at, None)])
    assert from_micros(micros(NOW)) == NOW and micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1


def test_cap_periods_split_at_the_exact_microsecond() -> None:
    model = parse_model({"events": [{"name": "views", "event": "page_view", "points": 1, "cap": 1, "per": "1d"}]})
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    for times, expected in (([midnight - timedelta(microseconds=1), midnight], 2.0),
                            ([midnight - timedelta(microseconds=2), midnight - timedelta(microseconds=1)], 1.0)):
        contact = ContactFacts("c1", {}, frozenset(), tuple(EventFact("page_view", at) for at in times))
        (totals, result, score), = batch_results(model, [contact]).values()
        assert totals == {0: expected} and result == score_contact(model, contact, NOW) and score == expected
