"""Connector runs under faults, on SQLite and PostgreSQL stores: a run SIGKILLed mid-way resumes from its last
committed cursor with nothing lost or stored twice; one run at a time per connector; the worker's schedule pass;
the drop folder."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import RunOptions, run_connector
from touchflow.engine.connectors.schedule_pass import ConnectorPass
from touchflow.services.connectors import (
    ConnectorBusy,
    add_connector,
    get_connector,
    request_run,
    set_connector_status,
    show_connector,
    start_run,
)
from touchflow.store.tables import event_inbox, events

ROWS = 120
SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent("""
    import sys, time
    import touchflow.engine.connectors.pipeline as pipeline
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.engine.connectors.runner import RunOptions, run_connector

    real = pipeline.record_events
    def slow(*args, **kwargs):
        report = real(*args, **kwargs)
        print("batch", flush=True)
        time.sleep(0.25)
        return report
    pipeline.record_events = slow
    app = bootstrap(Settings(sys.argv[1]))
    run_connector(app.services, "shop", actor="test", options=RunOptions(batch_size=10))
    print("done", flush=True)
""")


def _orders(path: Path, start: int = 1, count: int = ROWS) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (order_id INTEGER PRIMARY KEY, phone TEXT, amount TEXT, "
                   "paid_at TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [
            (i, f"1380013{i:04d}", f"{i}.50", f"2026-03-01T{i // 60:02d}:{i % 60:02d}:00+08:00")
            for i in range(start, start + count)])
    return path


def _add_shop(app: Application, src: Path, schedule: str = "manual") -> None:
    add_connector(app.services, "shop", "sql", {"url": f"sqlite:///{src}", "table": "orders"}, record_kind="events",
                  event_type="order_paid", mapping={"occurred_at": "paid_at"}, cursor="order_id", schedule=schedule,
                  kinds=kind_requirements(), actor="user:test")


def _events(app: Application) -> int:
    with app.services.reader() as uow:
        return uow.events.count()


def test_sigkill_mid_run_resumes_from_the_committed_cursor(app: Application, database_url: str, clock: VirtualClock,
                                                           tmp_path: Path) -> None:
    src = _orders(tmp_path / "shop.db")
    _add_shop(app, src)
    env = {**os.environ, "PYTHONPATH": str(SRC), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, database_url], stdout=subprocess.PIPE, text=True, env=env,
                             cwd=tmp_path)
    assert child.stdout is not None
    batches = 0
    for line in child.stdout:
        batches += line.strip() == "batch"
        if batches == 3:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    leftover = list(Path(tempfile.gettempdir()).glob(f"tf-connector-shop-{child.pid}-*"))
    assert leftover  # dlt's files of the killed run (personal data) …
    killed_at = get_connector(app.services, "shop").cursor_value
    stored = _events(app)
    assert isinstance(killed_at, int) and 20 <= killed_at < ROWS and 20 <= stored < ROWS
    clock.advance(timedelta(days=400))  # the child ran on the wall clock: resume after it

    run = run_connector(app.services, "shop", actor="user:test", options=RunOptions(batch_size=25))
    assert run.status == "succeeded", run.error
    assert run.cursor_before == killed_at and run.cursor_after == ROWS
    assert _events(app) == ROWS  # nothing lost, nothing twice
    assert not any(p.exists() for p in leftover)  # … are removed by the next run
    _, runs = show_connector(app.services, "shop")
    assert [r.status for r in runs] == ["succeeded", "interrupted"]


def test_one_run_at_a_time(app: Application, tmp_path: Path) -> None:
    _add_shop(app, _orders(tmp_path / "shop.db"))
    start_run(app.services, "shop", "otherhost:1:x", trigger="manual", actor="user:test", lease=timedelta(minutes=10))
    with pytest.raises(ConnectorBusy):
        run_connector(app.services, "shop", actor="user:test")
    assert _events(app) == 0


def test_schedule_pass_runs_due_connectors_in_the_workspace_zone(app: Application, clock: VirtualClock,
                                                                  tmp_path: Path) -> None:
    src = _orders(tmp_path / "shop.db", count=5)
    _add_shop(app, src, schedule="0 9 * * *")  # 09:00 Shanghai = 01:00 UTC
    first = get_connector(app.services, "shop").next_run_at
    assert first is not None and first.isoformat() == "2026-03-03T01:00:00+00:00"
    chores = ConnectorPass(app.services, None, RunOptions(batch_size=10), every=timedelta(seconds=30),
                           threaded=False)
    assert chores() == 0 and _events(app) == 0
    clock.advance(timedelta(days=1, minutes=1))
    assert chores() == 1 and _events(app) == 5
    assert get_connector(app.services, "shop").next_run_at.isoformat() == "2026-03-04T01:00:00+00:00"  # type: ignore[union-attr]
    set_connector_status(app.services, "shop", "paused", actor="user:test")
    clock.advance(timedelta(days=2))
    assert chores() == 0


def test_realtime_is_polled_every_minute_and_its_events_reach_journeys(app: Application, clock: VirtualClock,
                                                                       tmp_path: Path) -> None:
    src = _orders(tmp_path / "shop.db", count=3)
    _add_shop(app, src, schedule="realtime")
    assert get_connector(app.services, "shop").next_run_at == clock.now() + timedelta(minutes=1)
    chores = ConnectorPass(app.services, None, every=timedelta(seconds=30), threaded=False)
    clock.advance(timedelta(minutes=1))
    assert chores() == 1 and _events(app) == 3
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(event_inbox)).scalar_one() == 3  # routed to triggers
    _orders(src, start=4, count=2)
    clock.advance(timedelta(minutes=1))
    assert chores() == 1 and _events(app) == 5


def test_drop_folder_imports_each_file_once(app: Application, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("姓名,手机号,邮箱\n张三,13800138000,zs@example.com\n李四,12345,bad\n",
                                  encoding="utf-8")
    (folder / "b.csv").write_bytes("姓名,手机号\n王五,13900139000\n".encode("gbk"))
    (folder / "c.xlsx").write_bytes(b"not a spreadsheet")
    (folder / "d.csv.part").write_text("still being written", encoding="utf-8")
    add_connector(app.services, "drop", "drop_folder", {"path": str(folder), "source": "offline"},
                  kinds=kind_requirements(), actor="user:test")
    run = run_connector(app.services, "drop", actor="user:test")
    assert run.status == "failed" and "c.xlsx" in (run.error or "")  # one unreadable file: named, moved aside
    assert (run.read, run.accepted, run.rejected) == (3, 2, 1)
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["a.csv", "a.rejects.csv", "b.csv"]
    assert sorted(p.name for p in (folder / "failed").iterdir()) == ["c.xlsx", "c.xlsx.error.txt"]
    assert (folder / "d.csv.part").exists()
    again = run_connector(app.services, "drop", actor="user:test")
    assert again.status == "succeeded" and again.read == 0


def test_the_worker_runs_a_requested_connector(app: Application, tmp_path: Path) -> None:
    _add_shop(app, _orders(tmp_path / "shop.db", count=4))
    request_run(app.services, "shop", actor="user:test")  # what POST /v1/connectors/shop/run does
    worker = app.worker(idle_sleep=0.01)
    thread = worker.start_in_thread()
    try:
        for _ in range(3000):
            _, runs = show_connector(app.services, "shop")
            if runs and runs[0].status != "running":
                break
            time.sleep(0.01)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        worker.close()
    assert runs and runs[0].status == "succeeded" and runs[0].actor == "system:scheduler"
    with app.engine.connect() as c:  # (the worker's contact pass adds its own events: lifecycle stages)
        assert c.execute(select(func.count()).select_from(events).where(events.c.type == "order_paid")
                         ).scalar_one() == 4
    assert get_connector(app.services, "shop").next_run_at is None  # manual: not again until asked
