"""The set-wise evaluator of full recomputes (store/segment_sets.py) selects exactly the contacts the
Python evaluator selects, for generated conditions over the cross-check dataset, on SQLite and PostgreSQL;
merged-away contacts never belong, also when the answer is kept as a complement."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from tests.integration.test_predicate_sql import CTX, Dataset, conditions, select_python
from tests.integration.test_predicate_sql import dataset as dataset  # the fixture, re-exported for pytest
from touchflow.bootstrap import Application
from touchflow.domain.conditions.predicates import Condition, EventCount, HasTag, Not
from touchflow.store.segment_sets import SetEvaluator
from touchflow.store.tables import contacts


def select_sets(app: Application, cond: Condition) -> set[str]:
    with app.engine.connect() as c:
        return SetEvaluator(c, CTX).members(cond)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=conditions)
def test_set_wise_evaluation_selects_what_the_python_evaluator_selects(app: Application, dataset: Dataset,
                                                                      cond: Condition) -> None:
    assume(SetEvaluator.supports(cond))
    assert select_sets(app, cond) == select_python(cond, dataset)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conds=st.lists(conditions, min_size=2, max_size=4))
def test_a_planned_pass_sharing_leaves_and_scans_selects_what_the_python_evaluator_selects(
        app: Application, dataset: Dataset, conds: list[Condition]) -> None:
    """Planned together, leaves read twice are cached, window leaves over one event type come from one
    grouped scan (counts and sums per window), and small parts of ``all`` restrict what follows."""
    assume(all(SetEvaluator.supports(c) for c in conds))
    with app.engine.connect() as c:
        evaluator = SetEvaluator(c, CTX)
        evaluator.plan([*conds, *conds])
        for cond in [*conds, *conds]:
            assert evaluator.members(cond) == select_python(cond, dataset)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conds=st.lists(conditions, min_size=1, max_size=3), size=st.integers(1, 15))
def test_a_pass_range_by_range_streaming_small_chunks_selects_what_one_pass_over_everyone_selects(
        app: Application, dataset: Dataset, conds: list[Condition], size: int) -> None:
    """A pass over contact-id ranges of ``size`` (ADR 0068), each scan streamed three rows a fetch so that a
    window's start falls inside a chunk: the ranges' members together are the Python evaluator's."""
    import touchflow.store.event_groups as event_groups
    from touchflow.store.segment_sets import contact_ranges

    assume(all(SetEvaluator.supports(c) for c in conds))
    streaming = event_groups._FETCH
    event_groups._FETCH = 3
    try:
        with app.engine.connect() as c:
            ranges = contact_ranges(c, size)
            assert len(ranges) == -(-len(dataset.facts) // size)  # every range holds `size` contacts but the last
            found: list[set[str]] = [set() for _ in conds]
            for between in ranges:
                evaluator = SetEvaluator(c, CTX, between)
                evaluator.plan(conds)
                for i, cond in enumerate(conds):
                    part = evaluator.members(cond)
                    assert not part & found[i]  # the ranges do not overlap
                    found[i] |= part
    finally:
        event_groups._FETCH = streaming
    for cond, members in zip(conds, found, strict=True):
        assert members == select_python(cond, dataset), cond


def test_one_grouped_scan_answers_every_window_count_and_sum_over_one_event_type(app: Application,
                                                                                dataset: Dataset) -> None:
    from datetime import timedelta

    from touchflow.domain.conditions.predicates import EventSum

    day = timedelta(days=1)
    leaves: list[Condition] = [
        EventCount("order_paid", "gte", 1, 3 * day), EventCount("order_paid", "gte", 2, 30 * day),
        EventCount("order_paid", "lt", 3), EventCount("order_paid", "eq", 0, 7 * day),
        EventSum("order_paid", "amount", "gte", 300, 30 * day), EventSum("order_paid", "amount", "lt", 1000),
        EventSum("order_paid", "amount", "eq", 0, 3 * day)]
    assert any(select_python(leaf, dataset) not in (set(), set(dataset.facts)) for leaf in leaves)
    with app.engine.connect() as c:
        queries: list[str] = []
        from sqlalchemy import event

        event.listen(c, "before_cursor_execute", lambda *args: queries.append(args[2]))
        evaluator = SetEvaluator(c, CTX)
        evaluator.plan(leaves)
        for leaf in leaves:
            assert evaluator.members(leaf) == select_python(leaf, dataset), leaf
    assert sum("FROM events" in q for q in queries) == 1  # one scan for all seven


def test_a_merged_away_contact_never_belongs(app: Application, dataset: Dataset) -> None:
    buyers = EventCount("order_paid", "gte", 1)
    everyone = Not(HasTag("no_such_tag"))  # kept as a complement: "everyone but nobody"
    victim = sorted(select_python(buyers, dataset))[0]
    survivor = next(cid for cid in sorted(dataset.facts) if cid != victim)
    with app.engine.begin() as c:
        c.execute(update(contacts).where(contacts.c.id == victim).values(merged_into=survivor))
    assert victim not in select_sets(app, buyers)
    assert victim not in select_sets(app, everyone)
    assert select_sets(app, everyone) == set(dataset.facts) - {victim}


def test_leaves_shared_by_several_conditions_are_queried_once_and_then_freed(app: Application,
                                                                            dataset: Dataset) -> None:
    buyers = EventCount("order_paid", "gte", 1)
    first, second = buyers, Not(buyers)
    with app.engine.connect() as c:
        evaluator = SetEvaluator(c, CTX)
        evaluator.plan([first, second])
        queries: list[str] = []
        from sqlalchemy import event

        event.listen(c, "before_cursor_execute", lambda *args: queries.append(args[2]))
        assert evaluator.members(first) == select_python(first, dataset)
        assert evaluator.members(second) == select_python(second, dataset)
    assert sum("order_paid" in q or "events" in q for q in queries) == 1
    assert evaluator._leaves == {}  # the set is dropped after its last planned use
