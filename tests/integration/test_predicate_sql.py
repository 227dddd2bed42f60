"""Both paths of the condition language agree (DESIGN principle 7): for generated conditions, the
contacts that ``store.compile`` selects in SQL (plus the Python residual) are exactly those for which
``predicates.evaluate`` is true — on SQLite and on PostgreSQL, over a small but awkward dataset
(missing values, JSON nulls, numbers next to numeric-looking text, booleans, events on the window
edges and in the future, engagement from other journeys and earlier runs)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, String, Table, insert, select

from touchflow.bootstrap import Application
from touchflow.domain.conditions.parse import parse_condition
from touchflow.domain.conditions.predicates import (
    ATTR_OPS,
    COUNT_OPS,
    PROP_OPS,
    Always,
    And,
    AttrCompare,
    Condition,
    ContactFacts,
    EvalContext,
    EventCount,
    EventFact,
    EventFirstLast,
    EventSum,
    HasTag,
    InSegment,
    MessageEngagement,
    MissingRunContext,
    Not,
    Or,
    PropFilter,
    RandomBucket,
    TimeBound,
    evaluate,
)
from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.store.compile import compile_condition
from touchflow.store.journeys import SqlJourneyRepository
from touchflow.store.tables import contact_tags, contacts, events, segment_members, segments
from touchflow.store.types import UTCDateTime

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ENTERED = NOW - timedelta(days=10)
CTX = EvalContext(NOW, journey_id="j1", run_entered_at=ENTERED)
H = timedelta(hours=1)
D = timedelta(days=1)

INDUSTRIES = ["制造业", "retail", "Retail", "finance", "上海贸易"]
CITIES = ["上海", "北京", "Shenzhen", "shenzhen", "B"]
STAGES = ["lead", "intent", "customer", "churned"]
NAMES = ["Ann Lee", "李雷", "bob", "Abe", "韩梅梅"]
TAGS = ["vip", "churn_risk", "newsletter"]
PLANS = ["gold", "Gold", "silver", "5", ""]
EVENT_TYPES = ["content_download", "order_paid", "page_view", "message_opened", "message_clicked"]
SEGMENTS = ["loyal", "at_risk"]


class Dataset:
    """The Python view of the inserted rows (a plain class: hypothesis prints it when an example fails)."""

    def __init__(self, facts: dict[str, ContactFacts], entered: dict[str, datetime]) -> None:
        self.facts = facts
        self.entered = entered  # per-contact run entry, for the column-correlated variant

    def __repr__(self) -> str:
        return f"Dataset({len(self.facts)} contacts)"


def _maybe(rng: random.Random, values: list[Any], missing: float = 0.25) -> Any:
    return None if rng.random() < missing else rng.choice(values)


def _custom(rng: random.Random) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    score = rng.choice([None, "absent", 0, 3, 7, 2.5, -1, "5", "abc", True, False])
    if score != "absent":
        custom["score"] = score  # None here is a JSON null: missing, like an absent key
    if rng.random() < 0.7:
        custom["plan"] = rng.choice([*PLANS, 5])
    if rng.random() < 0.6:
        custom["active"] = rng.choice([True, False, "true", 1])
    if rng.random() < 0.3:
        custom["会员等级"] = rng.choice(["金卡", "银卡"])
    return custom


def _props(rng: random.Random, event_type: str) -> dict[str, Any]:
    if event_type == "content_download":
        props: dict[str, Any] = {"content_id": f"a{rng.randint(1, 3)}"}
        if rng.random() < 0.8:
            props["content_type"] = rng.choice(["whitepaper", "case_study", "Whitepaper"])
        if rng.random() < 0.5:
            props["pages"] = rng.choice([1, 4, 12, "4", None])
        return props
    if event_type == "order_paid":
        # whole and half amounts: every sum is exact in binary, so SQL and Python sums agree exactly
        amount = rng.choice([50, 120, 199.5, 1000, 2500, "300", None, True])
        props = {"order_id": f"o{rng.randint(1, 10**6)}", "amount": amount}
        if rng.random() < 0.7:
            props["currency"] = rng.choice(["CNY", "USD"])
        return props
    if event_type == "page_view":
        return {"url": rng.choice(["/", "/pricing", "/blog"]), "pages": rng.choice([1, 2])}
    return {"message_id": f"m{rng.randint(1, 99)}", "channel": "email", "journey_id": rng.choice(["j1", "j1", "j2", 1]),
            "node_id": rng.choice(["n1", "n2", "n3"])}


def _when(rng: random.Random) -> datetime:
    # Whole hours around ``now`` so window edges (now - 30d, now - 36h, …) and ``now`` itself are hit exactly.
    roll = rng.random()
    if roll < 0.15:
        return NOW - rng.choice([0 * D, D, 3 * D, 7 * D, 10 * D, 30 * D, 90 * D, 36 * H])
    if roll < 0.55:
        return NOW - H * rng.randint(-72, 24 * 10)  # recent, some in the future
    return NOW - H * rng.randint(0, 24 * 100)


def build_dataset(seed: int = 7, n_contacts: int = 40, n_events: int = 400) -> tuple[Dataset, list[dict[str, Any]],
                                                                                       list[dict[str, Any]],
                                                                                       list[dict[str, Any]]]:
    rng = random.Random(seed)
    contact_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    per_contact: dict[str, list[EventFact]] = {}
    values_of: dict[str, dict[str, Any]] = {}
    tags_of: dict[str, set[str]] = {}
    for i in range(n_contacts):
        cid = f"c{i:03d}"
        row: dict[str, Any] = {f: None for f in STANDARD_FIELDS}
        row.update(id=cid, created_at=NOW - 400 * D, updated_at=NOW - 400 * D, merged_into=None, lineage={},
                   industry=_maybe(rng, INDUSTRIES), city=_maybe(rng, CITIES), lifecycle_stage=_maybe(rng, STAGES),
                   name=_maybe(rng, NAMES), age=_maybe(rng, [18, 25, 30, 31, 45, 60]), custom=_custom(rng))
        contact_rows.append(row)
        values = {f: row[f] for f in STANDARD_FIELDS if row[f] is not None}
        values.update({f"custom.{k}": v for k, v in row["custom"].items()})
        values_of[cid] = values
        tags_of[cid] = {t for t in TAGS if rng.random() < 0.4}
        tag_rows.extend({"contact_id": cid, "tag": t, "set_by": "test"} for t in sorted(tags_of[cid]))
        per_contact[cid] = []
    ids = sorted(per_contact)
    for n in range(n_events):
        cid = rng.choice(ids[: n_contacts - 4])  # the last few contacts have no events at all
        event_type = rng.choice(EVENT_TYPES)
        at, props = _when(rng), _props(rng, event_type)
        event_rows.append({"id": f"e{n:04d}", "contact_id": cid, "type": event_type, "occurred_at": at,
                           "received_at": NOW, "source": "test", "properties": props})
        per_contact[cid].append(EventFact(event_type, at, props, f"e{n:04d}"))
    tie_rng = random.Random(seed + 2)  # ties for first/last: same contact, type and instant, other values
    for n, row in enumerate(tie_rng.sample(event_rows, n_events // 8)):
        # ids that sort before or after the original's, in code-point order ("E" < "e" < "f")
        event_id, props = f"{tie_rng.choice('Ef')}{n:04d}", _props(tie_rng, row["type"])
        event_rows.append({**row, "id": event_id, "properties": props})
        per_contact[row["contact_id"]].append(EventFact(row["type"], row["occurred_at"], props, event_id))
    seg_rng = random.Random(seed + 1)  # its own stream, so the rest of the dataset stays as it was
    segments_of = {cid: frozenset(s for s in SEGMENTS if seg_rng.random() < 0.4) for cid in ids}
    dataset = Dataset(
        {cid: ContactFacts(cid, values_of[cid], frozenset(tags_of[cid]), tuple(per_contact[cid]), segments_of[cid])
         for cid in ids},
        {cid: NOW - H * rng.randint(0, 24 * 40) for cid in ids},
    )
    return dataset, contact_rows, tag_rows, event_rows


@pytest.fixture
def dataset(app: Application) -> Dataset:
    data, contact_rows, tag_rows, event_rows = build_dataset()
    with app.engine.begin() as c:
        c.execute(insert(contacts), contact_rows)
        c.execute(insert(contact_tags), tag_rows)
        c.execute(insert(events), event_rows)
        c.execute(insert(segments), [{"id": f"s_{key}", "key": key, "name": key, "kind": "static", "definition": {},
                                      "version": 1, "status": "active", "refresh_every_s": 3600,
                                      "created_at": NOW, "created_by": "test", "updated_at": NOW}
                                     for key in SEGMENTS])
        c.execute(insert(segment_members), [{"segment_id": f"s_{key}", "contact_id": cid, "since": NOW}
                                            for cid, f in data.facts.items() for key in sorted(f.segments)])
    return data


def select_sql(app: Application, cond: Condition, data: Dataset, ctx: EvalContext = CTX) -> set[str]:
    compiled = compile_condition(cond, ctx)
    with app.engine.connect() as c:
        candidates = {r[0] for r in c.execute(select(contacts.c.id).where(compiled.where))}
    if compiled.residual is None:
        return candidates
    return {cid for cid in candidates if evaluate(compiled.residual, data.facts[cid], ctx)}


def select_python(cond: Condition, data: Dataset, ctx: EvalContext = CTX) -> set[str]:
    return {cid for cid, f in data.facts.items() if evaluate(cond, f, ctx)}


# --- generated conditions over the dataset's vocabulary ------------------------------------------------------

_text = st.sampled_from([*INDUSTRIES, *CITIES, *STAGES, *NAMES, *PLANS, "金卡", "a", "z", "5"])
_number = st.sampled_from([-1, 0, 2.5, 3, 5, 7, 18, 30, 30.5, 45, 100])
_scalar = st.one_of(_text, _number, st.booleans())
_fields = st.sampled_from(["industry", "city", "lifecycle_stage", "name", "age", "custom.score", "custom.plan",
                           "custom.active", "custom.会员等级", "custom.never_set"])
_windows = st.sampled_from([None, H, D, 36 * H, 3 * D, 7 * D, 30 * D, 90 * D])
_ordered_ops = [o for o in ATTR_OPS if o not in ("in", "not_in", "contains", "exists", "not_exists")]


def _attr(field: str, op: str, value: object) -> AttrCompare:
    return AttrCompare(field, op, value)  # type: ignore[arg-type]


_attr_cmp = st.one_of(
    st.builds(_attr, _fields, st.sampled_from(_ordered_ops), _scalar),
    st.builds(_attr, _fields, st.sampled_from(["in", "not_in"]), st.lists(_scalar, min_size=1, max_size=3).map(tuple)),
    st.builds(_attr, _fields, st.just("contains"), st.sampled_from(["a", "A", "上", "ol", "5", "Lee"])),
    st.builds(_attr, _fields, st.sampled_from(["exists", "not_exists"]), st.none()),
)
_prop_value = st.one_of(st.sampled_from(["whitepaper", "Whitepaper", "case_study", "CNY", "USD", "/", "4", "300"]),
                        st.sampled_from([1, 4, 12, 50, 120, 199.5, 1000]), st.booleans())
_prop_filter = st.one_of(
    st.builds(PropFilter, st.sampled_from(["content_type", "pages", "amount", "currency", "url", "missing"]),
              st.sampled_from([o for o in PROP_OPS if o != "in"]), _prop_value),
    st.builds(PropFilter, st.sampled_from(["content_type", "amount", "currency"]), st.just("in"),
              st.lists(_prop_value, min_size=1, max_size=3).map(tuple)),
)
_where = st.lists(_prop_filter, max_size=2).map(tuple)


def _time_bound(which: str, event_type: str, side: str, ago: timedelta, within: timedelta | None,
                where: tuple[PropFilter, ...]) -> EventFirstLast:
    if side == "before" and within is not None and ago >= within:
        within = None  # "before 30d within 7d" can never hold; the AST refuses it
    return EventFirstLast(which, event_type, TimeBound(side, ago), within, where)  # type: ignore[arg-type]


_which = st.sampled_from(["first", "last"])
_first_last = st.one_of(
    st.builds(EventFirstLast, _which, st.sampled_from(["order_paid", "content_download", "page_view"]), _prop_filter,
              _windows, _where),
    st.builds(_time_bound, _which, st.sampled_from(EVENT_TYPES), st.sampled_from(["before", "after"]),
              st.sampled_from([H, D, 36 * H, 3 * D, 7 * D, 30 * D, 90 * D]), _windows, _where),
)
_leaves = st.one_of(
    _attr_cmp,
    st.builds(HasTag, st.sampled_from([*TAGS, "unknown"])),
    st.builds(InSegment, st.sampled_from([*SEGMENTS, "unknown"])),
    st.builds(EventCount, st.sampled_from(EVENT_TYPES), st.sampled_from(COUNT_OPS), st.integers(0, 4), _windows,
              _where),
    st.builds(EventSum, st.sampled_from(["order_paid", "content_download", "page_view"]),
              st.sampled_from(["amount", "pages"]), st.sampled_from(COUNT_OPS),
              st.sampled_from([0, 1, 50, 120, 199.5, 300, 1000, 2500.5, 5000]), _windows, _where),
    _first_last,
    st.builds(MessageEngagement, st.sampled_from(["n1", "n2", "n3"]), st.sampled_from(["opened", "clicked"]),
              _windows),
    st.builds(RandomBucket, st.sampled_from(["exp1", "exp2"]), st.sampled_from([0.0, 25.0, 50.0, 100.0])),
    st.just(Always()),
)
conditions = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: Or(tuple(xs))),
    inner.map(Not),
), max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=conditions)
def test_sql_and_python_select_the_same_contacts(app: Application, dataset: Dataset, cond: Condition) -> None:
    assert select_sql(app, cond, dataset) == select_python(cond, dataset)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=_leaves)
def test_every_leaf_and_its_negation_agree(app: Application, dataset: Dataset, cond: Condition) -> None:
    # NOT over a leaf is where SQL's NULL would differ from Python's False, so each leaf is checked both ways.
    assert select_sql(app, cond, dataset) == select_python(cond, dataset)
    assert select_sql(app, Not(cond), dataset) == select_python(Not(cond), dataset)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=_first_last)
def test_first_and_last_agree_with_ties_missing_values_and_mixed_kinds(app: Application, dataset: Dataset,
                                                                       cond: Condition) -> None:
    # The dataset repeats some events at the same instant with other values (and ids on both sides of the
    # original's), leaves properties out, and stores "300" next to 300 and true next to 1.
    assert select_sql(app, cond, dataset) == select_python(cond, dataset)
    assert select_sql(app, Not(cond), dataset) == select_python(Not(cond), dataset)


# --- hand-picked conditions: the dataset is not trivial for them, and the YAML forms compile -------------------

EXAMPLES = [
    {"attr": "industry", "eq": "制造业"},
    {"attr": "custom.score", "gte": 3},
    {"attr": "custom.score", "ne": 3},
    {"attr": "custom.plan", "gt": "a"},
    {"attr": "custom.active", "eq": True},
    {"attr": "name", "contains": "Lee"},
    {"attr": "age", "gt": 30.5},
    {"attr": "city", "not_in": ["上海", "B"]},
    {"attr": "custom.score", "exists": False},
    {"stage": ["intent", "customer"]},
    {"tag": "vip"},
    {"in_segment": "loyal"},
    {"event": "content_download", "count": ">= 2", "within": "30d", "where": {"content_type": "whitepaper"}},
    {"no": "order_paid", "within": "90d"},
    {"sum": "order_paid.amount", "op": "gte", "value": 1000, "within": "365d"},
    {"first": "page_view.url", "eq": "/pricing"},
    {"last": "content_download.content_type", "ne": "whitepaper", "within": "30d"},
    {"last": "order_paid.amount", "gte": 1000, "within": "365d", "where": {"currency": ["CNY", "USD"]}},
    {"last": "order_paid", "before": "30d"},
    {"last": "page_view", "after": "3d"},
    {"first": "content_download", "after": "60d"},
    {"opened": "n1"},
    {"clicked": "n2", "within": "3d"},
    {"all": [{"tag": "vip"}, {"random": {"salt": "exp1", "below": 50}}]},
    {"any": [{"tag": "vip"}, {"not": {"random": {"salt": "exp1", "below": 50}}}]},
]


@pytest.mark.parametrize("data", EXAMPLES, ids=str)
def test_documented_forms_agree_and_split_the_dataset(app: Application, dataset: Dataset, data: object) -> None:
    cond = parse_condition(data)
    selected = select_sql(app, cond, dataset)
    assert selected == select_python(cond, dataset)
    assert 0 < len(selected) < len(dataset.facts), "the dataset should make this condition discriminate"


def test_random_bucket_goes_to_the_residual_and_the_rest_stays_in_sql(app: Application, dataset: Dataset) -> None:
    cond = And((HasTag("vip"), RandomBucket("exp1", 50), And((AttrCompare("city", "exists"), Always()))))
    compiled = compile_condition(cond, CTX)
    assert compiled.residual == RandomBucket("exp1", 50)
    with app.engine.connect() as c:
        candidates = {r[0] for r in c.execute(select(contacts.c.id).where(compiled.where))}
    assert candidates == select_python(And((HasTag("vip"), AttrCompare("city", "exists"))), dataset)
    assert compile_condition(HasTag("vip"), CTX).residual is None


def test_ties_break_by_event_id_in_sql_and_on_loaded_facts(app: Application) -> None:
    # inserted e2, E9, e10 at one instant; by code point E9 < e10 < e2, so neither insertion nor numeric order
    row = {f: None for f in STANDARD_FIELDS} | {"id": "c1", "created_at": NOW, "updated_at": NOW, "custom": {},
                                                "lineage": {}, "merged_into": None}
    at = NOW - D
    with app.engine.begin() as c:
        c.execute(insert(contacts), [row])
        c.execute(insert(events), [{"id": event_id, "contact_id": "c1", "type": "order_paid", "occurred_at": at,
                                    "received_at": NOW, "source": "test", "properties": {"amount": amount}}
                                   for event_id, amount in (("e2", 2), ("E9", 9), ("e10", 10))])
        facts = SqlJourneyRepository(c).load_facts(["c1"], None, None)
    assert sorted(e.event_id or "" for e in facts["c1"].events) == ["E9", "e10", "e2"]
    data = Dataset(facts, {})
    for which, amount in (("first", 9), ("last", 2)):
        cond = parse_condition({which: "order_paid.amount", "eq": amount})
        assert select_sql(app, cond, data) == select_python(cond, data) == {"c1"}


def test_postgresql_orders_ids_by_code_point() -> None:
    from sqlalchemy.dialects import postgresql

    where = compile_condition(parse_condition({"last": "order_paid.amount", "gt": 0}), CTX).where
    sql = str(select(contacts.c.id).where(where).compile(dialect=postgresql.dialect()))
    assert 'ORDER BY events_1.occurred_at DESC, (events_1.id) COLLATE "C" DESC' in sql


def test_engagement_needs_a_run(app: Application) -> None:
    with pytest.raises(MissingRunContext):
        compile_condition(MessageEngagement("n1", "opened"), EvalContext(NOW))


# --- each run's own entry time, from a column of the batch query -----------------------------------------------


@pytest.fixture
def runs_table(app: Application, dataset: Dataset) -> Iterator[Table]:
    table = Table("test_predicate_runs", MetaData(), Column("contact_id", String(40), primary_key=True),
                  Column("entered_at", UTCDateTime(), nullable=False))
    table.create(app.engine)
    with app.engine.begin() as c:
        c.execute(insert(table), [{"contact_id": k, "entered_at": v} for k, v in dataset.entered.items()])
    yield table
    table.drop(app.engine)


@pytest.mark.parametrize("data", [{"opened": "n1"}, {"clicked": "n2", "within": "7d"},
                                  {"not": {"opened": "n3", "within": "30d"}}], ids=str)
def test_engagement_against_each_runs_entry_column(app: Application, dataset: Dataset, runs_table: Table,
                                                   data: object) -> None:
    cond = parse_condition(data)
    compiled = compile_condition(cond, CTX, run_entered_at_column=runs_table.c.entered_at)
    query = select(contacts.c.id).join(runs_table, runs_table.c.contact_id == contacts.c.id).where(compiled.where)
    with app.engine.connect() as c:
        selected = {r[0] for r in c.execute(query)}
    expected = {cid for cid, f in dataset.facts.items()
                if evaluate(cond, f, EvalContext(NOW, "j1", dataset.entered[cid]))}
    assert selected == expected
