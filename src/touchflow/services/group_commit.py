"""Group commit: write requests that arrive together share one transaction (ADR 0046).

A caller hands in the function that writes its batch (``event_batch_work``) and blocks. Whoever holds the
write gate next takes every request queued by then (up to ``max_weight`` items), runs them one after the
other in one transaction, commits, and only then hands each request its own result. So nothing is
acknowledged before the commit that holds it, and while one group writes, the next one gathers: under load
the transactions grow by themselves, and an idle server answers a lone request at once (no timer).

If the shared transaction fails, nothing in it was committed; every request of the group is then run again
alone, in its own transaction, so one bad batch fails only its own request with its own error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, in_transaction

__all__ = ["GroupCommitter", "GroupStats"]

T = TypeVar("T")


@dataclass
class GroupStats:
    """What the committer did since it started (for tests and ``status``-style reporting)."""

    requests: int = 0
    transactions: int = 0  # committed shared transactions, and solo ones after a failed group
    failed_groups: int = 0
    largest_group: int = 0


@dataclass(eq=False)
class _Request(Generic[T]):
    work: Callable[[UnitOfWork], T]
    weight: int
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None

    def finish(self, result: T | None, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.set()


class GroupCommitter(Generic[T]):
    """Coalesce concurrent write requests into shared transactions.

    ``gate``: the process's write gate (one holder on SQLite). ``max_weight``: items per shared transaction,
    which bounds how long one transaction holds the database's write lock (ADR 0021); a request heavier than
    that still runs, alone.
    """

    def __init__(self, ctx: ServiceContext, gate: threading.Semaphore, max_weight: int = 2000) -> None:
        self._ctx = ctx
        self._gate = gate
        self._max_weight = max(1, max_weight)
        self._lock = threading.Lock()
        self._queue: list[_Request[T]] = []
        self.stats = GroupStats()

    def run(self, work: Callable[[UnitOfWork], T], weight: int = 1) -> T:
        """Queue ``work`` and return its result once the transaction holding it committed (or raise its error)."""
        request: _Request[T] = _Request(work, max(0, weight))
        with self._lock:
            self._queue.append(request)
            self.stats.requests += 1
        while not request.done.is_set():
            with self._gate:
                if request.done.is_set():  # a leader before us wrote it
                    break
                group = self._take()
                if group:
                    self._commit(group)
                    continue
            # Queue empty, not done: another slot's leader (write_slots > 1) is writing it. Wait, do not spin.
            request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _take(self) -> list[_Request[T]]:
        with self._lock:
            group: list[_Request[T]] = []
            weight = 0
            while self._queue:
                nxt = self._queue[0]
                if group and weight + nxt.weight > self._max_weight:
                    break
                group.append(self._queue.pop(0))
                weight += nxt.weight
            return group

    def _commit(self, group: list[_Request[T]]) -> None:
        try:
            results = in_transaction(self._ctx, lambda uow: [r.work(uow) for r in group])
        except BaseException as exc:  # nothing of the group is committed: each request alone, its own outcome
            with self._lock:
                self.stats.failed_groups += 1
            if len(group) == 1 or not isinstance(exc, Exception):
                for request in group:
                    request.finish(None, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for request in group:
                self._solo(request)
            return
        with self._lock:
            self.stats.transactions += 1
            self.stats.largest_group = max(self.stats.largest_group, len(group))
        for request, result in zip(group, results, strict=True):
            request.finish(result, None)

    def _solo(self, request: _Request[T]) -> None:
        try:
            result = in_transaction(self._ctx, request.work)
        except Exception as exc:
            request.finish(None, exc)
            return
        with self._lock:
            self.stats.transactions += 1
        request.finish(result, None)
