"""The sql connector kind end to end on SQLite and PostgreSQL stores, reading a SQLite file source: contacts and
events, incremental cursor, mapping, column changes, bad rows, runs and the success rate."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.errors import FieldError
from touchflow.domain.identities import Identity
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.outcome import RunFailed
from touchflow.engine.connectors.pipeline import ingest_rows
from touchflow.engine.connectors.runner import RunOptions, run_connector
from touchflow.services.connectors import add_connector, connector_summaries, show_connector
from touchflow.services.quality import quality_overview
from touchflow.services.sources import list_sources

FAST = RunOptions(batch_size=3, backoff_s=0.0, sleep=lambda _s: None)


def _source(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE crm_contacts (id INTEGER PRIMARY KEY, 姓名 TEXT, mobile TEXT, email TEXT, "
                   "level TEXT, updated_at TIMESTAMP)")
        db.executemany("INSERT INTO crm_contacts VALUES (?, ?, ?, ?, ?, ?)", [
            (1, "张三", "13800138000", "zs@example.com", "金卡", "2026-03-01 10:00:00"),
            (2, "李四", "12345", "not-an-email", "", "2026-03-01 11:00:00"),  # no usable identifier: a reject
            (3, "王五", "13900139000", None, "银卡", "2026-03-01 12:00:00"),
            (4, "赵六", "13700137000", "zl@example.com", "", "2026-03-01 13:00:00"),
        ])
    return path


def _add(app: Application, src: Path, **kw: object) -> None:
    add_connector(app.services, "crm-db", "sql", {"url": f"sqlite:///{src}", "table": "crm_contacts"},
                  mapping={"phone": "mobile", "custom.vip": "level"}, cursor="updated_at",
                  kinds=kind_requirements(), actor="user:test", **kw)  # type: ignore[arg-type]


def _contact(app: Application, phone: str) -> str | None:
    with app.services.reader() as uow:
        found = uow.contacts.lookup([Identity("phone", phone)])
    return next(iter(found.values()), None)


def test_sql_contacts_incremental(app: Application, clock: VirtualClock, tmp_path: Path) -> None:
    src = _source(tmp_path / "crm.db")
    _add(app, src)
    run = run_connector(app.services, "crm-db", actor="user:test", options=FAST)
    assert run.status == "succeeded", run.error
    assert (run.read, run.accepted, run.rejected) == (4, 3, 1)
    assert run.cursor_before is None and str(run.cursor_after).startswith("2026-03-01T13:00")
    assert _contact(app, "+8613800138000") is not None
    # a second run reads from the committed cursor: the boundary row again (idempotent), nothing else
    clock.advance(timedelta(minutes=5))
    with sqlite3.connect(src) as db:
        db.execute("INSERT INTO crm_contacts VALUES (5, '钱七', '13600136000', NULL, '', '2026-03-02 09:00:00')")
    second = run_connector(app.services, "crm-db", actor="user:test", options=FAST)
    assert second.status == "succeeded", second.error
    # SQLite keeps timestamps as text: whether the boundary row compares equal depends on its spelling (1 or 2)
    assert second.read in (1, 2) and str(second.cursor_after).startswith("2026-03-02T09:00")
    assert _contact(app, "+8613600136000") is not None
    summary = next(s for s in connector_summaries(app.services) if s.connector.name == "crm-db")
    assert summary.success_rate == 1.0 and summary.consecutive_failures == 0


def test_removed_mapped_column_fails_naming_it_and_new_column_warns(app: Application, tmp_path: Path) -> None:
    src = _source(tmp_path / "crm.db")
    _add(app, src)
    assert run_connector(app.services, "crm-db", actor="user:test", options=FAST).status == "succeeded"
    with sqlite3.connect(src) as db:
        db.execute("ALTER TABLE crm_contacts ADD COLUMN city TEXT")
        db.execute("UPDATE crm_contacts SET city = '上海', updated_at = '2026-03-03 00:00:00' WHERE id = 1")
    warned = run_connector(app.services, "crm-db", actor="user:test", options=FAST)
    assert warned.status == "succeeded" and any("city" in w for w in warned.warnings)
    with sqlite3.connect(src) as db:
        db.execute("ALTER TABLE crm_contacts DROP COLUMN level")
        db.execute("UPDATE crm_contacts SET updated_at = '2026-03-04 00:00:00' WHERE id = 1")
    failed = run_connector(app.services, "crm-db", actor="user:test", options=FAST)
    assert failed.status == "failed"
    assert "'level'" in (failed.error or "") and "custom.vip" in (failed.error or "")
    assert failed.cursor_after == warned.cursor_after  # nothing committed past the failure


def test_failures_in_a_row_open_a_task_and_set_the_success_rate(app: Application, tmp_path: Path) -> None:
    _add(app, tmp_path / "missing-dir" / "nothing.db")
    for _ in range(3):
        run = run_connector(app.services, "crm-db", actor="user:test", options=FAST)
        assert run.status == "failed" and run.retried == 3  # unable to open: retried with back-off, then failed
    summary, runs = show_connector(app.services, "crm-db")
    assert summary.consecutive_failures == 3 and summary.success_rate == 0.0 and len(runs) == 3
    with app.services.reader() as uow:
        tasks = uow.tasks.find("marketing", "open", 10)
    assert any("crm-db" in t.title and t.contact_id is None for t in tasks)
    source = next(s for s in list_sources(app.services) if s.name == "crm-db")
    assert source.success_rate == 0.0 and source.sync_runs == 3
    overview = next(s for s in quality_overview(app.services).sources if s.name == "crm-db")
    assert overview.success_rate == 0.0  # the data-quality page shows the runs' rate too


def test_events_with_type_and_bad_definition(app: Application, tmp_path: Path) -> None:
    src = tmp_path / "shop.db"
    with sqlite3.connect(src) as db:
        db.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, phone TEXT, amount REAL, paid_at TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [
            (1, "13800138000", 99.5, "2026-03-01T10:00:00+08:00"), (2, "", 5, "2026-03-01T11:00:00+08:00"),
            (3, "13900139000", 10, "2026-03-01T12:00:00+08:00")])
    with pytest.raises(FieldError, match="event_type"):
        add_connector(app.services, "shop", "sql", {"url": f"sqlite:///{src}", "table": "orders"},
                      record_kind="events", kinds=kind_requirements(), actor="user:test")
    add_connector(app.services, "shop", "sql", {"url": f"sqlite:///{src}", "table": "orders", "source": "ecommerce"},
                  record_kind="events", event_type="order_paid", mapping={"occurred_at": "paid_at"},
                  cursor="order_id", kinds=kind_requirements(), actor="user:test")
    run = run_connector(app.services, "shop", actor="user:test", options=FAST)
    assert run.status == "succeeded", run.error
    assert (run.read, run.accepted, run.rejected) == (3, 2, 1) and run.cursor_after == 3
    again = run_connector(app.services, "shop", actor="user:test", options=FAST)
    assert again.read == 1 and again.details.get("duplicates") == 1  # the boundary row, skipped as stored
    with app.services.reader() as uow:
        assert uow.events.count() == 2


def test_ingest_rows_pushed_without_a_pull(app: Application, tmp_path: Path) -> None:
    """What an inbound webhook hands over: the connector's mapping and record kind, the same ingest."""
    connector = add_connector(app.services, "shop-hook", "sql", {"url": "sqlite://", "table": "x"},
                              record_kind="events", event_type="order_paid", mapping={"phone": "buyer_mobile"},
                              kinds=kind_requirements(), actor="user:test")
    rows = [{"buyer_mobile": "13800138000", "order_id": "A1", "amount": 12.5},
            {"buyer_mobile": "", "order_id": "A2", "amount": 3}]
    outcome = ingest_rows(app.services, connector, rows)
    assert (outcome.read, outcome.accepted, outcome.rejected) == (2, 1, 1)
    assert ingest_rows(app.services, connector, rows[:1]).details["duplicates"] == 1  # idempotent
    with pytest.raises(RunFailed, match="buyer_mobile"):
        ingest_rows(app.services, connector, [{"mobile": "13800138000", "order_id": "A3", "amount": 1}])
