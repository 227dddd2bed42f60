"""The set-wise evaluator of full recomputes (store/segment_sets.py) selects exactly the contacts the
Python evaluator selects, for generated conditions over the cross-check dataset, on SQLite and PostgreSQL;
merged-away contacts never belong, also when the answer is kept as a complement."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from sqlalchemy import update

from tests.integration.test_predicate_sql import CTX, Dataset, conditions, select_python
from tests.integration.test_predicate_sql import dataset as dataset  # the fixture, re-exported for pytest
from touchflow.bootstrap import Application
from touchflow.domain.predicates import Condition, EventCount, HasTag, Not
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
