"""A writer waiting for SQLite's write lock takes it in a gap of a few milliseconds (ADR 0061).

SQLite's own busy handler sleeps 1, 2, 5 … up to 100 ms between tries, so a writer that had waited a while
missed any gap shorter than its sleep; the worker had to leave gaps as long as its chunks (ADR 0021), which
halved its pace. ``store/db.py`` now tries every half millisecond.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from touchflow.store.db import held_on_this_thread, make_engine, watch_write_holds

HOLD = 0.3  # long enough that SQLite's handler is sleeping 25–100 ms between tries by its end
GAP = 0.005


def test_a_waiting_writer_takes_the_lock_in_a_gap_of_five_milliseconds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'lock.db').as_posix()}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (who TEXT, at REAL)"))
    holding = threading.Event()
    order: list[str] = []

    def worker() -> None:  # two long holds with a short gap between them, as a busy worker's chunks
        for n in range(2):
            with engine.begin() as c:
                c.execute(text("INSERT INTO t VALUES ('worker', :at)"), {"at": time.perf_counter()})
                order.append(f"worker {n}")
                holding.set()
                time.sleep(HOLD)
            if n == 0:
                time.sleep(GAP)

    def ingest() -> None:
        holding.wait()
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES ('ingest', :at)"), {"at": time.perf_counter()})
            order.append("ingest")

    threads = [threading.Thread(target=worker), threading.Thread(target=ingest)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    engine.dispose()
    # with SQLite's handler the waiting writer slept through the gap and came last (a gap of 5 ms in 100)
    assert order == ["worker 0", "ingest", "worker 1"]


def test_the_lock_still_times_out_with_a_clear_error_and_the_hold_is_counted_per_thread(tmp_path: Path) -> None:
    import pytest
    from sqlalchemy.exc import OperationalError

    import touchflow.store.db as db

    engine = make_engine(f"sqlite:///{(tmp_path / 'lock.db').as_posix()}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    before = held_on_this_thread()
    with watch_write_holds() as holds, engine.begin() as c:
        c.execute(text("INSERT INTO t VALUES (1)"))
        time.sleep(0.02)
    assert held_on_this_thread() - before == sum(h.seconds for h in holds) >= 0.02
    elsewhere: list[float] = []
    probe = threading.Thread(target=lambda: elsewhere.append(held_on_this_thread()))
    probe.start()
    probe.join()
    assert elsewhere == [0.0]  # another thread's holds are its own

    blocker = engine.connect()
    blocker.begin()
    blocker.execute(text("INSERT INTO t VALUES (2)"))
    saved, db.BUSY_TIMEOUT = db.BUSY_TIMEOUT, 0.2
    try:
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="locked"), engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (3)"))
        assert 0.2 <= time.perf_counter() - started < 2
    finally:
        db.BUSY_TIMEOUT = saved
        blocker.rollback()
        blocker.close()
    with engine.begin() as c:  # the connection that timed out writes again, with SQLite's timeout restored
        c.execute(text("INSERT INTO t VALUES (4)"))
        assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()
