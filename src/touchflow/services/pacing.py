"""Chunks of background work sized by time, so no write transaction holds SQLite's write lock long.

SQLite has one write lock for the whole database: while the worker's pass holds it, ingest and the API
wait. Each pass therefore works in chunks, one short transaction each, and a ``Pacer`` picks the next
chunk's size from how long the last one took (docs/decisions/0021-short-write-transactions.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["WRITE_BUDGET", "Pacer"]

WRITE_BUDGET = 0.02  # seconds of work per write transaction: well under the ~50 ms ingest may wait
T = TypeVar("T")


class Pacer:
    """The size of the next chunk: as many items as fit in ``budget`` seconds at the last chunk's pace,
    between ``low`` and ``high``, and at most double the last size (one slow start does not swing it)."""

    def __init__(self, start: int = 100, low: int = 10, high: int = 5000, budget: float = WRITE_BUDGET) -> None:
        self.size = start
        self.low, self.high, self.budget = low, high, budget

    def took(self, items: int, seconds: float) -> None:
        if items <= 0:
            return
        fits = int(self.budget * items / max(seconds, 1e-6))
        self.size = max(self.low, min(self.high, 2 * self.size, fits))

    @contextmanager
    def timing(self, items: int) -> Iterator[None]:
        """Time the block as one chunk of ``items``."""
        started = time.perf_counter()
        yield
        self.took(items, time.perf_counter() - started)

    def chunks(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """``items`` in consecutive chunks, each sized by the time the caller spent on the one before."""
        start = 0
        while start < len(items):
            chunk = items[start:start + self.size]
            started = time.perf_counter()
            yield chunk
            self.took(len(chunk), time.perf_counter() - started)
            start += len(chunk)
