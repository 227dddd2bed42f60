"""Background passes size their write transactions by the store's budget: short on SQLite, whose one write lock
ingest waits for; longer on PostgreSQL, where a chunk's fixed cost (a lock, two queries) would otherwise shrink a
segment refresh or drain to a handful of contacts per transaction."""

from __future__ import annotations

from touchflow.bootstrap import Application
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.pacing import SHARED_WRITE_BUDGET, WRITE_BUDGET, store_pacer


def test_every_background_pacer_takes_the_budget_of_its_store(app: Application) -> None:
    expected = WRITE_BUDGET if app.services.single_writer else SHARED_WRITE_BUDGET
    assert app.services.single_writer == (app.engine.dialect.name == "sqlite")
    assert store_pacer(app.services).budget == expected
    assert store_pacer(app.services, start=500, high=20_000).budget == expected  # the segment refresh's
    runtime = JourneyRuntime(app.services)
    for pacer in (runtime._route_pacer, runtime._due_pacer, runtime._segment_pacer, runtime._contact_pacer):
        assert pacer.budget == expected
    assert store_pacer(app.services, budget=0.5).budget == 0.5  # a caller may still choose its own
