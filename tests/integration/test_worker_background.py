"""The worker's background passes (vacuum, analyze, the segments' scheduled recomputes) run in a thread of their
own (ADR 0066): a vacuum as long as a month's events partition is big, or the hourly recompute of every segment,
must not stop routing, timers and sends. And each tick says where its time went."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from tests.integration.test_dispatcher import enqueue, make_contacts
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.engine.worker import Worker
from touchflow.services.segments import create_segment
from touchflow.services.table_upkeep import TableUpkeepPass


def test_ticks_go_on_while_a_background_pass_is_still_running(app: Application) -> None:
    started, release = threading.Event(), threading.Event()
    ticks: list[float] = []

    def slow_vacuum() -> None:
        started.set()
        release.wait(30)

    def count_tick() -> int:
        ticks.append(time.monotonic())
        return 0

    worker = Worker(app.services, idle_sleep=0.0, passes=[count_tick], background=[slow_vacuum],
                    background_every_s=0.05)
    thread = worker.start_in_thread()
    try:
        assert started.wait(10)
        seen = len(ticks)
        deadline = time.monotonic() + 10
        while len(ticks) < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(ticks) >= seen + 3, "the tick waited for the background pass"
    finally:
        release.set()
        worker.stop.set()
        thread.join(10)
        worker.close()
    assert not thread.is_alive()


def test_a_failing_background_pass_is_tried_again_and_the_worker_goes_on(app: Application) -> None:
    tries: list[int] = []

    def broken() -> None:
        tries.append(1)
        raise RuntimeError("statement timeout")

    worker = Worker(app.services, idle_sleep=0.0, background=[broken], background_every_s=0.01)
    thread = worker.start_in_thread()
    try:
        deadline = time.monotonic() + 10
        while len(tries) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(tries) >= 3 and thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(10)
        worker.close()


def _next_refresh(app: Application) -> datetime | None:
    with app.services.reader() as uow:
        record = uow.segments.get("buyers")
        assert record is not None
        return record.next_refresh_at


def test_the_composed_worker_keeps_upkeep_and_scheduled_recomputes_out_of_the_tick(
        app: Application, clock: VirtualClock) -> None:
    create_segment(app.services, {"key": "buyers", "name": "买家", "kind": "dynamic",
                                  "condition": {"event": "order_paid", "count": ">= 1"}}, actor="test")
    clock.advance(timedelta(hours=2))  # its hourly recompute is due
    due = _next_refresh(app)
    worker = app.worker()
    try:
        assert any(isinstance(chore, TableUpkeepPass) for chore in worker.background)
        assert not any(isinstance(chore, TableUpkeepPass) for chore in worker.runtime.passes)
        worker.runtime.tick()
        assert _next_refresh(app) == due  # the tick left it to the background thread
        for chore in worker.background:
            chore()
        assert _next_refresh(app) == clock.now() + timedelta(hours=1)
    finally:
        worker.close()
    clock.advance(timedelta(hours=2))
    JourneyRuntime(app.services).tick()  # the sandbox's runtime: no thread beside it, the tick recomputes
    assert _next_refresh(app) == clock.now() + timedelta(hours=1)


def test_worker_once_runs_the_background_passes_after_its_ticks(app: Application) -> None:
    """``touchflow worker --once`` from cron has no thread beside it: it runs the background passes once, itself."""
    ran: list[int] = []

    def vacuum() -> None:
        ran.append(1)

    worker = Worker(app.services, background=[vacuum])
    try:
        report, _ = worker.run_once()
    finally:
        worker.close()
    assert ran == [1] and "vacuum" in report.spent


def test_a_tick_says_where_its_time_went(app: Application) -> None:
    enqueue(app, [(cid, "sms", {}) for cid in make_contacts(app, 3)])

    def slow_pass() -> int:
        time.sleep(0.05)
        return 0

    worker = app.worker()
    worker.runtime.passes.append(slow_pass)
    try:
        wall = time.perf_counter()
        report = worker.runtime.tick()
        wall = time.perf_counter() - wall
    finally:
        worker.close()
    assert report.dispatched == 3
    assert {"contacts", "segments", "routing", "timers", "dispatch", "rollups", "alerts", "ReportPass",
            "slow_pass"} <= set(report.spent)
    assert report.spent["slow_pass"] >= 0.05
    assert report.spent["dispatch"] > 0
    assert sum(report.spent.values()) <= wall


def test_background_off_and_only_split_the_worker_in_two_processes(app: Application, clock: VirtualClock) -> None:
    """ADR 0070: in a thread of the ticking worker the recompute's Python work shares one GIL with a tick that is
    busy all the time (issue 17's hour: 3.5–4.7× slower per contact than in a process of its own). ``--background
    off`` ticks without the slow passes; ``--background only`` runs them and never ticks."""
    import json

    from typer.testing import CliRunner

    from touchflow.cli import app as cli

    create_segment(app.services, {"key": "buyers", "name": "买家", "kind": "dynamic",
                                  "condition": {"event": "order_paid", "count": ">= 1"}}, actor="test")
    clock.advance(timedelta(hours=2))
    due = _next_refresh(app)
    ticking = app.worker(background=False)
    try:
        assert ticking.background == []
        assert "touchflow-background" not in [t.name for t in ticking.start_side_threads()]  # the daily one only
        ticking.run_once()
        assert _next_refresh(app) == due  # neither the tick nor --once recomputed it
    finally:
        ticking.stop.set()
        ticking.close()
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    result = CliRunner().invoke(cli, ["worker", "--background", "only", "--once", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"background": ["TableUpkeepPass", "refresh_scheduled"]}
    with app.services.reader() as uow:
        record = uow.segments.get("buyers")
        assert record is not None and record.next_refresh_at is not None and record.next_refresh_at > due
    result = CliRunner().invoke(cli, ["worker", "--background", "sometimes"], env=env)
    assert result.exit_code != 0 and "--background" in result.output


def test_a_background_only_worker_runs_its_passes_until_stopped_and_never_ticks(app: Application) -> None:
    ran: list[int] = []
    ticks: list[int] = []

    def recompute() -> None:
        ran.append(1)

    def tick_pass() -> int:
        ticks.append(1)
        return 0

    worker = Worker(app.services, idle_sleep=0.0, passes=[tick_pass], background=[recompute],
                    background_every_s=0.01)
    thread = threading.Thread(target=worker.run_background)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(ran) >= 3
    finally:
        worker.stop.set()
        thread.join(10)
        worker.close()
    assert not thread.is_alive() and ticks == []
