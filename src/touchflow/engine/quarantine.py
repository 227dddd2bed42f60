"""Poison batches: a batch that raises outside ``advance`` is bisected until the one bad item is found.

A batch is one transaction, so an exception rolls it back and the same rows are claimed again on the next
tick: one bad run or event (a stored condition that cannot be evaluated, a version that no longer parses)
would stop every worker for good. ``bisect`` retries the claim with half the size, then half again (each
claim takes the oldest rows first, so a smaller claim is a prefix of the larger one): a half that commits is
progress; when a single row fails alone it is the poison, and the caller parks it with the error and goes
on. Errors of the database itself (a lost connection, a lock timeout, a serialisation failure) are not
poison: they are raised, and the batch is claimed again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from touchflow.domain.journeys.transitions import Advance, Run, StepRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.engine.steps import StepBatch

__all__ = ["bisect", "failed_entry", "is_transient", "park_run", "parked", "quarantine_note", "quarantined"]

log = logging.getLogger(__name__)
R = TypeVar("R")
_TRANSIENT_TYPES = frozenset({"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"})
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57014"})  # serialisation, deadlock, lock, cancel


def is_transient(exc: BaseException) -> bool:
    """A failure of the database or the connection, which says nothing about the rows being processed."""
    if getattr(exc, "connection_invalidated", False):
        return True
    if any(t.__name__ in _TRANSIENT_TYPES for t in type(exc).__mro__):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _TRANSIENT_STATES


def quarantine_note(exc: BaseException) -> str:
    return f"quarantined: {type(exc).__name__}: {exc}"[:1000]


def bisect(step: Callable[[int], R], batch_size: int, park: Callable[[BaseException], R], what: str) -> R:
    """``step(limit)`` claims and processes up to ``limit`` rows in one transaction.

    On a poison error it is tried with half the limit, and so on; the first size that commits returns its
    result (the rest waits for the next call). A single row that fails alone goes to ``park``.
    """
    try:
        return step(batch_size)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("a batch of %s failed: looking for the bad one", what)
        error: BaseException = exc
    size = batch_size
    while size > 1:
        size //= 2
        try:
            return step(size)
        except Exception as exc:
            if is_transient(exc):
                raise
            error = exc
    log.error("one %s fails alone, parking it: %s", what, quarantine_note(error))
    return park(error)


def parked(run: Run, reason: str) -> Run:
    """The run stopped as ``failed`` with ``reason``: nothing wakes it until a person retries it."""
    return replace(run, status="failed", wake_at=None, error=reason)


def quarantined(run: Run, error: BaseException, now: datetime) -> Advance:
    """The run parked with the error and a trace step saying so (what ``advance`` would have returned)."""
    note = quarantine_note(error)
    result = Advance(parked(run, note))
    result.steps.append(StepRecord(run.node_id, "error", now, "failed", {"error": note, "quarantined": True}))
    return result


def failed_entry(batch: StepBatch, journey_id: str, version: int, start: str, contact_id: str,
                 error: BaseException, now: datetime, run_id: str) -> Run:
    """Entering raised (e.g. an audience that cannot be evaluated): the entry is kept as a failed run, so
    the contact is not entered again and again, and ``journey trace`` shows why."""
    run = Run(run_id, journey_id, version, contact_id, start, "failed", now, error=quarantine_note(error))
    batch.new_runs[run.id] = run
    batch.steps.append((run, StepRecord(start, "entry", now, "failed", {"error": run.error, "quarantined": True})))
    return run


def park_run(uow: UnitOfWork, run: Run, error: BaseException, now: datetime) -> None:
    """A run that makes its batch fail is parked ``failed`` with the error, for a person to look at
    (``journey run retry`` once the cause is fixed)."""
    result = quarantined(run, error, now)
    uow.journeys.update_runs([result.run], now)
    uow.journeys.add_steps([(result.run, step) for step in result.steps])
    uow.audit.record("worker", "run.quarantined", run.id, {"journey_id": run.journey_id,
                                                           "contact_id": run.contact_id,
                                                           "error": result.run.error}, now)
