"""Engines with the dialect settings each database needs (ADR 0002)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

__all__ = ["LONG_HOLD", "READ_ONLY", "WriteHold", "held_on_this_thread", "make_engine", "watch_write_holds"]

log = logging.getLogger(__name__)
LONG_HOLD = 0.05  # a write transaction holding SQLite's only write lock longer than this stalls ingest
BUSY_TIMEOUT = 30.0  # seconds a statement waits for a lock before "database is locked" (PRAGMA busy_timeout)
LOCK_POLL = 0.0005  # seconds between two tries of a writer waiting for SQLite's write lock (ADR 0061)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    # orjson reads JSON columns several times faster than the standard library (outbox payloads, events)
    kwargs.setdefault("json_deserializer", orjson.loads)
    kwargs.setdefault("json_serializer", _json_dumps)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            _owner_only(Path(database))
            event.listen(engine, "connect", lambda *_: _owner_only(Path(database)))
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        event.listen(engine, "after_cursor_execute", _count_written)
        event.listen(engine, "commit", lambda c: _end_hold(c, True))
        event.listen(engine, "rollback", lambda c: _end_hold(c, False))
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def _owner_only(path: Path) -> None:
    """The database holds personal data and sealed credentials: mode 0600 for it, its WAL and its shared-memory
    file. Made 0600 before SQLite opens it (SQLite gives -wal and -shm the database file's mode); an existing
    file left more open by an older version is narrowed."""
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError:
            return  # e.g. a missing directory: SQLite reports it with its own message
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if stat.S_IMODE(name.stat().st_mode) & 0o077:
                name.chmod(0o600)
        except OSError:
            continue  # absent, or not ours to change


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(1000 * BUSY_TIMEOUT)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")
    # Read pages through a memory map (up to 16 GiB of address space, not memory): random row reads of a
    # large events table skip a read() call each — a full segment pass at 10M events: 17.4 s → 15 s.
    cursor.execute("PRAGMA mmap_size=17179869184")
    cursor.close()


READ_ONLY = "touchflow_read_only"


def _sqlite_begin_immediate(connection: Any) -> None:
    """Writers take the lock at BEGIN, so a read-then-write transaction never fails to upgrade.

    Read-only units of work begin deferred and read a WAL snapshot alongside the writer.
    """
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        try:
            _take_write_lock(connection.connection.driver_connection)
        except sqlite3.Error as exc:  # as SQLAlchemy raises the driver's errors: callers handle only those
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc
        connection.info[_HOLD] = [time.perf_counter(), 0, time.thread_time()]


def _take_write_lock(dbapi_connection: Any) -> None:
    """``BEGIN IMMEDIATE``, trying again every ``LOCK_POLL`` while another writer holds the lock.

    SQLite's own busy handler sleeps 1, 2, 5 … up to 100 ms between tries, so a waiting writer missed the
    short gaps a worker leaves between its chunks unless each gap was as long as the chunk before it, which
    halved the worker's pace (ADR 0021). Polling every half millisecond finds a gap of a few milliseconds.
    Other statements keep SQLite's handler (``busy_timeout``): in WAL mode they are rarely kept waiting."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.perf_counter() + BUSY_TIMEOUT
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.perf_counter() > deadline:
                    raise
            time.sleep(LOCK_POLL)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(1000 * BUSY_TIMEOUT)}")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


# --- how long writers hold SQLite's write lock ----------------------------------------------------------------
# SQLite has one write lock for the whole database: every write transaction (BEGIN IMMEDIATE → COMMIT) makes
# ingest and the API wait. The worker's passes are cut so that none holds it long (docs/decisions/0021); this
# measures each hold — logged at debug when past LONG_HOLD, and given to watchers (tests, benchmarks).

_HOLD = "touchflow_write_hold"


@dataclass(frozen=True)
class WriteHold:
    seconds: float  # from BEGIN IMMEDIATE to the commit or rollback being issued
    rows: int  # rows inserted, updated or deleted, as the driver counts them
    committed: bool
    # CPU time of the holding thread over the same span: work done in the transaction, as opposed to the
    # process waiting for the disk or for a core (a stall shows as long seconds with little CPU)
    cpu_seconds: float = 0.0


_watchers: list[Callable[[WriteHold], None]] = []
_this_thread = threading.local()
_watchers_lock = threading.Lock()


@contextmanager
def watch_write_holds() -> Iterator[list[WriteHold]]:
    """Every SQLite write transaction that ends inside the block, in every engine of this process."""
    found: list[WriteHold] = []
    with _watchers_lock:
        _watchers.append(found.append)
    try:
        yield found
    finally:
        with _watchers_lock:
            _watchers.remove(found.append)


def _count_written(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
    hold = connection.info.get(_HOLD)
    if hold is not None and cursor.rowcount > 0 and statement.lstrip()[:6].upper() != "SELECT":
        hold[1] += cursor.rowcount


def _end_hold(connection: Any, committed: bool) -> None:
    hold = connection.info.pop(_HOLD, None)
    if hold is None:
        return
    done = WriteHold(time.perf_counter() - hold[0], hold[1], committed, time.thread_time() - hold[2])
    if done.seconds > LONG_HOLD:
        log.debug("write lock held %.0f ms (%.0f ms CPU, %d rows written, %s)", 1000 * done.seconds,
                  1000 * done.cpu_seconds, done.rows,
                  "committed" if committed else "rolled back")
    _this_thread.held = getattr(_this_thread, "held", 0.0) + done.seconds
    for watcher in list(_watchers):
        watcher(done)


def held_on_this_thread() -> float:
    """Seconds this thread has held SQLite's write lock since it started: a pacer takes the difference over a
    chunk of work, so that reads before the lock do not count against the write budget (ADR 0061)."""
    return float(getattr(_this_thread, "held", 0.0))
