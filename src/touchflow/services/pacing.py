"""Chunks of background work sized by time, so no write transaction holds SQLite's write lock long.

SQLite has one write lock for the whole database: while the worker's pass holds it, ingest and the API
wait. Each pass therefore works in chunks, one short transaction each, and a ``Pacer`` picks the next
chunk's size from how long the last one took (docs/decisions/0021-short-write-transactions.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from touchflow.services.context import ServiceContext

__all__ = ["REST", "SHARED_WRITE_BUDGET", "WRITE_BUDGET", "Pacer", "store_pacer", "write_budget"]

WRITE_BUDGET = 0.015  # seconds of work per write transaction: well under the ~50 ms ingest may wait
# PostgreSQL locks rows, not the database: a longer transaction blocks no ingest, and a batch's fixed cost (the
# catalog, live runs, facts) is above 15 ms there, so the SQLite budget shrank batches to one event (15–40/s)
SHARED_WRITE_BUDGET = 0.25
# the longest gap a pacer leaves between two chunks on a shared SQLite: four tries of a waiting writer, which
# polls every half millisecond (store/db.py, ADR 0061)
REST = 0.002
T = TypeVar("T")


def write_budget(single_writer: bool) -> float:
    """Seconds of work per background write transaction: short where one lock serves the whole database."""
    return WRITE_BUDGET if single_writer else SHARED_WRITE_BUDGET


class Pacer:
    """The size of the next chunk: as many items as fit in ``budget`` seconds at the last chunk's pace,
    between ``low`` and ``high``, and at most double the last size (one slow start does not swing it).

    ``held`` (SQLite) is this thread's running total of seconds holding the write lock: a chunk is then timed
    by its holds alone, so reading before the lock (routing's read-ahead) does not shrink the next chunk
    (ADR 0061). Without it, by the clock.

    With ``rest`` (SQLite shared with ingest), ``pause`` between two chunks leaves the lock free for up to
    ``REST``: a waiting writer tries every half millisecond and takes it (ADR 0021, 0061)."""

    def __init__(self, start: int = 100, low: int = 10, high: int = 5000, budget: float = WRITE_BUDGET,
                 rest: bool = False, held: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.size = start
        self.low, self.high, self.budget, self.rest = low, high, budget, rest
        self.held = held
        self.sleep = sleep
        self.last = 0.0

    def mark(self) -> float:
        """A reading to time a chunk from: seconds of lock held so far (with ``held``), else the clock."""
        return self.held() if self.held is not None else time.perf_counter()

    def took(self, items: int, seconds: float) -> None:
        self.last = seconds
        if items <= 0:
            return
        fits = int(self.budget * items / max(seconds, 1e-6))
        self.size = max(self.low, min(self.high, 2 * self.size, fits))

    def pause(self) -> None:
        """Between two chunks of a backlog: leave the write lock free for a moment (with ``rest``)."""
        if self.rest and self.last > 0:
            self.sleep(min(self.last, REST))

    def drive(self, step: Callable[[int], tuple[int, bool]], deadline: float | None = None) -> tuple[int, bool]:
        """Run ``step(size)`` chunk after chunk, pausing between them, until it reports nothing more to do or
        ``deadline`` (``time.perf_counter()``) has passed between two chunks. ``step`` returns the items it did
        and whether more remain; ``drive`` returns the items done and whether the work finished."""
        total = 0
        while True:
            if total:
                if deadline is not None and time.perf_counter() >= deadline:
                    return total, False
                self.pause()
            started = self.mark()
            done, more = step(self.size)
            self.took(done, self.mark() - started)
            total += done
            if not more:
                return total, True

    def chunks(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """``items`` in consecutive chunks, each sized by the time the caller spent on the one before."""
        start = 0
        while start < len(items):
            if start:
                self.pause()
            chunk = items[start:start + self.size]
            started = self.mark()
            yield chunk
            self.took(len(chunk), self.mark() - started)
            start += len(chunk)


def store_pacer(ctx: ServiceContext, **sizes: Any) -> Pacer:
    """A pacer for background writes to this store: gaps between chunks and chunks timed by their write holds
    where one lock serves the whole database (SQLite), by the clock elsewhere. ``sizes``: start, low, high, budget.

    The budget is the store's (``write_budget``) unless given: with SQLite's 15 ms on PostgreSQL, a chunk's fixed
    cost (a lock, two queries) and a wait behind another process's chunk shrank a segment refresh beside a
    soak's feed to ten contacts a transaction, and it did not end in ten minutes."""
    sizes.setdefault("budget", write_budget(ctx.single_writer))
    return Pacer(rest=ctx.single_writer, held=ctx.write_lock_seconds, **sizes)
