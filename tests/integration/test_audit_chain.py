"""The audit log's hash chain on SQLite and PostgreSQL: it verifies after a series of actions, and every kind of
tampering — a changed column, a deleted row (first, middle, last with an anchor), two rows swapped, a rewritten
chain — is found at the first broken row. Purge keeps two years and leaves a chain that still verifies."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select, text, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.governance.audit_chain import GENESIS, Anchor, AuditRow, row_hash, state_digest
from touchflow.security.audit_anchors import append_anchor, read_anchors
from touchflow.services.audit import (
    RetentionRefused,
    VerifyReport,
    anchor_chain,
    purge_audit,
    verify_chain,
)
from touchflow.store.audit import SQLITE_GUARD_TRIGGER
from touchflow.store.tables import audit_log

DETAILS: list[dict[str, Any]] = [
    {"reason": "合规复核", "n": 3},
    {"ratio": 0.1, "big": 1e16, "whole": 2.0, "nested": {"b": [1, 2.5, None], "a": True}},
    {"when": "2026-03-02T09:00:00+08:00", "list": ["x", "y"]},
    {},
    {"z": 1, "a": {"y": {"x": "deep"}}},
]


def _record(app: Application, count: int = 5, start: int = 0) -> None:
    clock = app.services.clock
    for i in range(start, start + count):
        with app.services.uow() as uow:
            uow.audit.record(f"os:user{i}", f"thing.act{i % 3}", f"subject-{i}", DETAILS[i % len(DETAILS)],
                             clock.now(), before={"state": i} if i % 2 else None, after={"state": i + 1})
            uow.commit()
        assert isinstance(clock, VirtualClock)
        clock.advance(timedelta(seconds=1, microseconds=123457))


@contextmanager
def _tamper(app: Application) -> Iterator[Connection]:
    """A connection that may change audit rows (the owner of the database switching the guard off)."""
    with app.engine.begin() as c:
        pg = c.dialect.name == "postgresql"
        c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only" if pg
                       else "DROP TRIGGER audit_log_append_only"))
        yield c
        if pg:
            c.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        else:
            c.execute(SQLITE_GUARD_TRIGGER)


def tamper(app: Application, *statements: Any) -> None:
    with _tamper(app) as c:
        for statement in statements:
            c.execute(statement)


def _verify(app: Application, anchors: list[Anchor] | None = None) -> VerifyReport:
    return verify_chain(app.services, anchors or (), batch=2)  # small batches: links across batch edges


def test_chain_verifies_after_a_series_of_actions(app: Application) -> None:
    _record(app, 7)
    report = _verify(app)
    assert report.ok and report.checked == 7 and report.last_id == 7
    with app.engine.connect() as c:
        rows = c.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert rows[0].prev_hash == GENESIS
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, len(rows)))
    assert rows[1].before_digest == state_digest({"state": 1}) and rows[0].before_digest == state_digest(None)
    assert rows[0].after_digest == state_digest({"state": 1})
    assert [r.id for r in rows] == list(range(1, 8))


EDITS: dict[str, Any] = {
    "at": datetime(2020, 1, 1, tzinfo=UTC),
    "actor": "os:mallory",
    "action": "thing.nothing",
    "subject": "subject-x",
    "details": {"reason": "changed"},
    "before_digest": "0" * 64,
    "after_digest": "1" * 64,
    "request_id": "forged",
    "ip": "10.0.0.66",
    "user_agent": "curl",
    "prev_hash": "2" * 64,
    "hash": "3" * 64,
}


@pytest.mark.parametrize("row_id", [1, 3, 5])
@pytest.mark.parametrize("column", sorted(EDITS))
def test_editing_any_column_of_any_row_is_found_at_that_row(app: Application, column: str, row_id: int) -> None:
    _record(app, 5)
    tamper(app, update(audit_log).where(audit_log.c.id == row_id).values({column: EDITS[column]}))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (row_id, "edited"), broken


def test_editing_the_last_row_is_found(app: Application) -> None:
    _record(app, 4)
    tamper(app, update(audit_log).where(audit_log.c.id == 4).values(details={"reason": "tidied"}))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (4, "edited")


def test_a_deleted_row_is_found_at_the_row_after_it(app: Application) -> None:
    _record(app, 5)
    tamper(app, delete(audit_log).where(audit_log.c.id == 3))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (4, "deleted")
    assert "3–3" in broken.reason


def test_deleting_the_first_row_is_found(app: Application) -> None:
    _record(app, 3)
    tamper(app, delete(audit_log).where(audit_log.c.id == 1))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (2, "deleted")


def test_deleting_the_last_row_is_found_by_its_anchor(app: Application, tmp_path: Path) -> None:
    _record(app, 4)
    anchors = tmp_path / "anchors"
    written = anchor_chain(app.services, anchors)
    assert written is not None and written.last_id == 4
    assert read_anchors(anchors) == [written]
    tamper(app, delete(audit_log).where(audit_log.c.id == 4))
    assert _verify(app).ok  # without an anchor a cut tail is a shorter, consistent chain
    broken = _verify(app, read_anchors(anchors)).broken
    assert broken is not None and (broken.row_id, broken.kind) == (4, "truncated")


def test_swapping_two_rows_is_found_as_reordered(app: Application) -> None:
    _record(app, 5)
    columns = [c for c in audit_log.c if c.name != "id"]
    with app.engine.connect() as c:
        two, three = (c.execute(select(*columns).where(audit_log.c.id == i)).one()._asdict() for i in (2, 3))
    tamper(app, update(audit_log).where(audit_log.c.id == 2).values(three),
           update(audit_log).where(audit_log.c.id == 3).values(two))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (2, "reordered")
    assert "id 3" in broken.reason


def test_a_rewritten_chain_is_found_by_an_earlier_anchor(app: Application, tmp_path: Path) -> None:
    _record(app, 4)
    anchors = tmp_path / "anchors"
    anchor_chain(app.services, anchors)
    with app.engine.connect() as c:
        rows = [AuditRow(**r._asdict()) for r in c.execute(select(audit_log).order_by(audit_log.c.id))]
    prev, statements = GENESIS, []
    for row in rows:  # the attacker edits row 2 and recomputes every hash after it
        details = {"reason": "rewritten"} if row.id == 2 else row.details
        fixed = AuditRow(**{**row.__dict__, "details": details, "prev_hash": prev})
        prev = row_hash(prev, fixed)
        statements.append(update(audit_log).where(audit_log.c.id == row.id)
                          .values(details=details, prev_hash=fixed.prev_hash, hash=prev))
    tamper(app, *statements)
    assert _verify(app).ok
    broken = _verify(app, read_anchors(anchors)).broken
    assert broken is not None and (broken.row_id, broken.kind) == (4, "rewritten")


def test_an_anchor_file_line_is_refused_when_garbled(tmp_path: Path) -> None:
    path = tmp_path / "anchors"
    append_anchor(path, Anchor(datetime(2026, 3, 2, tzinfo=UTC).date(), 3, "a" * 64))
    with path.open("a") as f:
        f.write("not json\n")
    with pytest.raises(ValueError, match=r"anchors:2"):
        read_anchors(path)


def test_the_anchor_is_written_once_a_day_by_the_worker_pass(app: Application, tmp_path: Path) -> None:
    _record(app, 2)
    path = tmp_path / "anchors"
    assert anchor_chain(app.services, path, once_a_day=True) is not None
    _record(app, 1, start=2)
    assert anchor_chain(app.services, path, once_a_day=True) is None
    clock = app.services.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(timedelta(days=1))
    again = anchor_chain(app.services, path, once_a_day=True)
    assert again is not None and again.last_id == 3
    assert _verify(app, read_anchors(path)).ok


def test_purge_refuses_anything_inside_two_years(app: Application) -> None:
    now = app.services.clock.now()
    for before in (now, now - timedelta(days=365), now - timedelta(days=729)):
        with pytest.raises(RetentionRefused, match="2 years"):
            purge_audit(app.services, before, "os:admin")


def test_purge_keeps_the_rest_verifiable_and_is_audited(app: Application, tmp_path: Path) -> None:
    _record(app, 3)
    anchors = tmp_path / "anchors"
    anchor_chain(app.services, anchors)
    clock = app.services.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(timedelta(days=800))
    _record(app, 2, start=3)
    result = purge_audit(app.services, clock.now() - timedelta(days=740), "os:admin")
    assert (result.deleted, result.through_id) == (3, 3)
    with app.engine.connect() as c:
        rows = c.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert [r.id for r in rows] == [4, 5, 6]
    assert rows[-1].action == "audit.purge" and rows[-1].actor == "os:admin"
    assert rows[-1].details["through_hash"] == rows[0].prev_hash
    report = _verify(app, read_anchors(anchors))
    assert report.ok and report.first_id == 4 and report.checked == 3
    # a purge row forged away: the kept chain no longer has a start
    tamper(app, delete(audit_log).where(audit_log.c.id == 6))
    broken = _verify(app).broken
    assert broken is not None and (broken.row_id, broken.kind) == (4, "deleted")


def test_the_database_refuses_updates_and_deletes_outside_the_purge(app: Application) -> None:
    _record(app, 2)
    refused: list[Any] = [update(audit_log).values(actor="x")]
    if app.engine.dialect.name == "postgresql":
        refused.append(delete(audit_log))  # SQLite: the purge deletes, and no setting tells it apart
    for statement in refused:
        with pytest.raises(Exception, match="append-only"), app.engine.begin() as c:
            c.execute(statement)
    assert _verify(app).ok


def test_concurrent_writers_keep_the_chain_linear(app: Application) -> None:
    if app.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer")
    now = app.services.clock.now()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with app.services.uow() as uow:
                    uow.audit.record(f"os:w{n}", "thing.race", f"s{n}-{i}", {"i": i}, now)
                    uow.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(app)
    assert report.ok and report.checked == 90 and report.last_id == 90


def test_the_worker_writes_the_daily_anchor_beside_the_key_file(app: Application, tmp_path: Path) -> None:
    key_file = app.key_source().path
    assert key_file is not None and app.audit_anchor_file() == key_file.with_name(f"{key_file.name}.anchors")
    _record(app, 2)
    path = tmp_path / "worker-anchors"
    app.settings = dataclasses.replace(app.settings, audit_anchor_file=str(path))
    worker = app.worker(idle_sleep=0.01)
    thread = worker.start_in_thread()
    try:
        for _ in range(500):
            if path.exists() and path.read_text():
                break
            time.sleep(0.01)
    finally:
        worker.stop.set()
        thread.join(timeout=10)
        worker.close()
    [anchor] = read_anchors(path)
    assert (anchor.last_id, anchor.day) == (2, app.services.clock.now().date())
