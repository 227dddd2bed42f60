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


def test_a_pause_leaves_the_lock_free_briefly_only_on_a_single_writer_store() -> None:
    """A waiting writer tries every half millisecond (ADR 0061): a gap of ``REST`` lets it in, so the gap no
    longer lasts as long as the chunk before it (a 30 ms chunk used to be followed by 30 ms of idling)."""
    from touchflow.services.pacing import REST

    slept: list[float] = []
    resting, busy, short = (Pacer(budget=0.02, rest=rest, sleep=slept.append) for rest in (True, False, True))
    for pacer in (resting, busy):
        pacer.took(10, 0.03)
    short.took(10, 0.0005)
    busy.pause()
    assert slept == []  # a store with many writers: no gap at all
    resting.pause()
    assert slept == [REST]  # a 30 ms chunk is followed by REST, not by 30 ms
    short.pause()
    assert slept == [REST, 0.0005]  # never longer than the chunk itself
    assert REST < 0.03


def test_with_held_a_chunk_is_timed_by_its_write_holds_not_by_the_clock() -> None:
    """Routing reads ahead of its write transaction on SQLite; counting that reading against the 15 ms write
    budget shrank batches to a few events, and the worker fell behind a 1,000 events/s feed (ADR 0061)."""
    held = [0.0]

    def step(size: int) -> tuple[int, bool]:
        time.sleep(0.02)  # reading ahead: 20 ms, more than the whole budget, without the lock
        held[0] += 0.0001 * size  # then 0.1 ms an item under the lock
        return size, False  # one chunk a drive

    by_hold = Pacer(start=10, low=1, high=1000, budget=0.015, held=lambda: held[0])
    by_clock = Pacer(start=10, low=1, high=1000, budget=0.015)
    for _ in range(8):
        by_hold.drive(step)
        by_clock.drive(step)
    assert by_hold.size == 150  # 15 ms of holds at 0.1 ms an item
    assert by_clock.size < 10  # the reading alone overruns the budget
    assert by_hold.mark() == held[0]


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
