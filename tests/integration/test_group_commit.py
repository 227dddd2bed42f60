"""Group commit of ingest (ADR 0046): concurrent batches share one transaction, each is answered only once
the transaction holding it committed, and a batch that fails does not take the others down with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import event, func, select

from touchflow.bootstrap import Application
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.group_commit import GroupCommitter
from touchflow.services.ingest import EventBatchReport, RawItem, event_batch_work
from touchflow.store.tables import events


def _batch(n: int, size: int = 5) -> list[RawItem]:
    return [RawItem({"id": f"g{n}-{i}", "type": "page_view", "properties": {"url": "https://shop.example.cn/"},
                     "email": f"u{n}@example.com", "occurred_at": "2026-03-01T10:00:00Z"}) for i in range(size)]


def _stored(app: Application, prefix: str) -> int:
    with app.engine.connect() as c:  # its own connection: sees committed rows only
        return int(c.execute(select(func.count()).select_from(events)
                             .where(events.c.id.like(f"{prefix}%"))).scalar_one())


def _queue_behind_gate(committer: GroupCommitter[EventBatchReport], gate: threading.BoundedSemaphore,
                       works: list[Callable[[UnitOfWork], EventBatchReport]],
                       after: Callable[[int, EventBatchReport | BaseException], None]) -> None:
    """Start one thread per work while another writer holds the gate, so they all queue; then let go."""
    def call(n: int) -> None:
        try:
            after(n, committer.run(works[n], 5))
        except Exception as exc:  # the request's own error, as the route would see it
            after(n, exc)

    gate.acquire()
    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(works))]
    for t in threads:
        t.start()
    while committer.stats.requests < len(works):  # wait for the queue to fill (not a timing assertion)
        time.sleep(0.005)
    gate.release()
    for t in threads:
        t.join(60)


def test_concurrent_batches_share_one_transaction_and_are_answered_after_it(app: Application) -> None:
    gate = threading.BoundedSemaphore(1)
    committer: GroupCommitter[EventBatchReport] = GroupCommitter(app.services, gate, max_weight=10_000)
    commits: list[int] = []
    seen_at_answer: dict[int, int] = {}
    reports: dict[int, EventBatchReport | BaseException] = {}

    def after(n: int, outcome: EventBatchReport | BaseException) -> None:
        reports[n] = outcome
        seen_at_answer[n] = _stored(app, f"g{n}-")  # what another connection sees when the caller is answered

    event.listen(app.engine, "commit", lambda conn: commits.append(1))
    works = [event_batch_work(app.services, "web", _batch(n)) for n in range(6)]
    _queue_behind_gate(committer, gate, works, after)

    assert len(commits) == 1  # one transaction for six requests (six without group commit)
    assert committer.stats.transactions == 1 and committer.stats.largest_group == 6
    for n in range(6):
        report = reports[n]
        assert isinstance(report, EventBatchReport)
        assert report.accepted == 5 and report.statuses == ["stored"] * 5
        assert seen_at_answer[n] == 5  # committed before the answer, visible to everyone
    again = committer.run(event_batch_work(app.services, "web", _batch(0)), 5)
    assert again.duplicates == 5 and again.accepted == 0


def test_weight_limit_splits_groups(app: Application) -> None:
    gate = threading.BoundedSemaphore(1)
    committer: GroupCommitter[EventBatchReport] = GroupCommitter(app.services, gate, max_weight=10)
    reports: dict[int, EventBatchReport | BaseException] = {}
    works = [event_batch_work(app.services, "web", _batch(n)) for n in range(6)]
    _queue_behind_gate(committer, gate, works, reports.__setitem__)
    assert committer.stats.transactions == 3 and committer.stats.largest_group == 2  # 10 events at most each
    assert all(isinstance(r, EventBatchReport) and r.accepted == 5 for r in reports.values())


def test_a_failing_batch_fails_alone_and_the_others_are_stored(app: Application) -> None:
    gate = threading.BoundedSemaphore(1)
    committer: GroupCommitter[EventBatchReport] = GroupCommitter(app.services, gate)
    good = [event_batch_work(app.services, "web", _batch(n)) for n in range(4)]
    poisoned_work = event_batch_work(app.services, "web", _batch(9))

    def poisoned(uow: UnitOfWork) -> EventBatchReport:
        poisoned_work(uow)  # writes its events, then fails: the shared transaction must not keep them
        raise RuntimeError("batch 9 cannot be written")

    reports: dict[int, EventBatchReport | BaseException] = {}
    _queue_behind_gate(committer, gate, [good[0], good[1], poisoned, good[2], good[3]], reports.__setitem__)

    assert committer.stats.failed_groups == 1
    error = reports[2]
    assert isinstance(error, RuntimeError) and "batch 9" in str(error)
    for n in (0, 1, 3, 4):
        report = reports[n]
        assert isinstance(report, EventBatchReport) and report.accepted == 5
    assert [_stored(app, f"g{n}-") for n in range(4)] == [5, 5, 5, 5]
    assert _stored(app, "g9-") == 0


def test_a_lone_request_is_written_at_once(app: Application) -> None:
    committer: GroupCommitter[EventBatchReport] = GroupCommitter(app.services, threading.BoundedSemaphore(1))
    report = committer.run(event_batch_work(app.services, "web", _batch(1)), 5)
    assert report.accepted == 5 and _stored(app, "g1-") == 5
    with pytest.raises(RuntimeError, match="alone"):
        committer.run(lambda uow: (_ for _ in ()).throw(RuntimeError("alone")), 1)
    assert committer.stats.transactions == 1 and committer.stats.failed_groups == 1


def test_with_two_write_slots_every_request_is_answered_once(app: Application) -> None:
    gate = threading.BoundedSemaphore(2)  # PostgreSQL: two transactions at once; groups may write side by side
    committer: GroupCommitter[EventBatchReport] = GroupCommitter(app.services, gate, max_weight=10)
    reports: dict[int, EventBatchReport | BaseException] = {}
    works = [event_batch_work(app.services, "web", _batch(n)) for n in range(8)]
    _queue_behind_gate(committer, gate, works, reports.__setitem__)
    assert sorted(reports) == list(range(8))
    assert all(isinstance(r, EventBatchReport) and r.accepted == 5 for r in reports.values())
    assert [_stored(app, f"g{n}-") for n in range(8)] == [5] * 8
