"""The pacer sizes chunks of background work by time (ADR 0021)."""

from __future__ import annotations

import time

from touchflow.services.pacing import Pacer


def test_the_next_chunk_fits_the_budget_at_the_last_pace_within_bounds() -> None:
    pacer = Pacer(start=100, low=10, high=1000, budget=0.02)
    pacer.took(100, 0.2)  # 2 ms an item: 10 fit in 20 ms
    assert pacer.size == 10
    pacer.took(10, 0.0001)  # very fast: at most double, not a jump to the ceiling
    assert pacer.size == 20
    for _ in range(20):
        pacer.took(pacer.size, 0.0001)
    assert pacer.size == 1000
    pacer.took(1000, 100.0)
    assert pacer.size == 10  # never below the floor
    pacer.took(0, 5.0)  # nothing claimed says nothing about the pace
    assert pacer.size == 10


def test_chunks_cover_every_item_once_in_order_and_shrink_when_slow() -> None:
    pacer = Pacer(start=4, low=1, high=100, budget=0.01)
    seen: list[list[int]] = []
    for chunk in pacer.chunks(list(range(20))):
        seen.append(list(chunk))
        if len(seen) == 1:
            time.sleep(0.04)  # 10 ms an item: the next chunk is one item
    assert [i for chunk in seen for i in chunk] == list(range(20))
    assert len(seen[0]) == 4 and len(seen[1]) == 1


def test_a_pause_leaves_the_lock_free_only_on_a_single_writer_store() -> None:
    resting, busy = Pacer(budget=0.02, rest=True), Pacer(budget=0.02)
    for pacer in (resting, busy):
        pacer.took(10, 0.03)
    started = time.perf_counter()
    busy.pause()
    assert time.perf_counter() - started < 0.01
    resting.pause()
    assert time.perf_counter() - started >= 0.03


def test_a_batch_with_a_fixed_cost_keeps_growing_only_where_rows_not_the_database_are_locked() -> None:
    """Routing a batch costs ~40 ms before its first event on a loaded PostgreSQL (catalog, live runs, facts), then
    0.1 ms an event. SQLite's 15 ms budget must shrink such batches to one event; PostgreSQL blocks no ingest
    with a longer transaction, so its budget lets the batch grow to hundreds (15–40 events/s before)."""
    from touchflow.services.pacing import SHARED_WRITE_BUDGET, WRITE_BUDGET, write_budget

    assert write_budget(single_writer=True) == WRITE_BUDGET
    assert write_budget(single_writer=False) == SHARED_WRITE_BUDGET > WRITE_BUDGET

    def settle(budget: float) -> int:
        pacer = Pacer(start=100, low=1, high=1000, budget=budget)
        for _ in range(30):
            pacer.took(pacer.size, 0.040 + 0.0001 * pacer.size)
        return pacer.size

    assert settle(write_budget(single_writer=True)) == 1
    assert settle(write_budget(single_writer=False)) >= 500
