"""Timer herd: N runs whose waits fall due at once, drained by ``JourneyRuntime.run_due``.

    python bench/bench_timers.py --runs 1000000 [--database sqlite|URL] [--batch 1000] [--seed 1]
                                 [--profile FILE] [--no-freeze]

1. A fresh database (SQLite file in a temp dir, or ``touchflow_bench_timers_<pid>`` on a PostgreSQL
   server), a published journey ``wait 1h → send email → exit``, and ``--runs`` contacts each with a
   run waiting at the wait node, ``wake_at`` spread over the minute before T0. Bulk-inserted, not
   timed. A copy of that database is made for the baseline.
2. Each measured phase runs in its own process (multiprocessing ``spawn``), so peak RSS is its own:
   * **baseline**: a bare loop over the copy, through the DB driver: ``SELECT id FROM journey_runs
     WHERE status='waiting' AND wake_at<=? ORDER BY wake_at LIMIT <batch>`` (PostgreSQL adds ``FOR
     UPDATE SKIP LOCKED``) + ``UPDATE journey_runs SET status='completed' WHERE id IN (…)``, one
     transaction per batch, until nothing is due. The floor for "claim a batch and write it back".
   * **same rows**: a hand-written SQL loop over a second copy that writes what the runtime writes per run
     (the run row, three ``run_steps``, one ``outbox`` row and its ``message_queued`` event): the fair floor.
   * **touchflow**: first one ``tick()`` with the clock before T0 (all runs waiting, none due: the
     resident memory of a worker while N runs wait), then, with a ``VirtualClock`` at T0 + 1 s,
     ``run_due()`` until it returns nothing. Each run takes three steps (the wait ends, the message
     is queued in the outbox, the run exits) in its batch's one transaction.
3. Prints timers/s (runs woken and advanced per second), trace steps/s, per-batch latency p50/p99,
   peak RSS, and the ratio to the baseline, then checks that every run completed with one outbox row.

``--profile FILE`` runs the touchflow phase under cProfile (slower: its throughput is not comparable)
and prints the top functions to stderr; the stats are saved to FILE for ``python -m pstats``.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from benchlib import anon_rss_mb as _anon_rss_mb
from benchlib import current_rss_mb as _current_rss_mb
from benchlib import log as _log
from benchlib import peak_rss_mb as _peak_rss_mb

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the herd falls due just before this instant
SEED_CHUNK = 50_000
JOURNEY = """
key: timer_herd
name: Timer herd
trigger: {event: signup}
nodes:
  wait_1: {kind: wait, duration: 1h, next: send}
  send: {kind: send, channel: email, template: herd_email, next: done}
  done: {kind: exit}
"""
R = TypeVar("R")
CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", None)


@dataclass(frozen=True)
class Measured:
    phase: str
    runs: int
    seconds: float
    batch_seconds: tuple[float, ...]
    peak_rss_mb: float
    steps: int = 0
    waiting_rss_mb: float | None = None
    idle_tick_ms: float | None = None
    peak_anon_mb: float | None = None  # largest anonymous RSS seen between batches (no mmap'd file pages)

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else float("inf")

    def percentile_ms(self, q: float) -> float:
        if not self.batch_seconds:
            return float("nan")
        ordered = sorted(self.batch_seconds)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


class Databases:
    """The touchflow database and the baseline's copy of it, made after seeding; both removed at the end."""

    def __init__(self, database: str, workdir: Path, prefix: str = "touchflow_bench_timers") -> None:
        from sqlalchemy import create_engine, text

        from touchflow.config import normalise_database_url

        self.sqlite = database == "sqlite"
        if self.sqlite:
            self.url = f"sqlite:///{(workdir / 'touchflow.db').as_posix()}"
            self.copy_url = f"sqlite:///{(workdir / 'baseline.db').as_posix()}"
            self.rows_url = f"sqlite:///{(workdir / 'baseline_rows.db').as_posix()}"
            return
        admin_url = normalise_database_url(database)
        base = admin_url.rpartition("/")[0]
        self.names = [f"{prefix}_{os.getpid()}", f"{prefix}_{os.getpid()}_copy", f"{prefix}_{os.getpid()}_rows"]
        self.url, self.copy_url, self.rows_url = (f"{base}/{name}" for name in self.names)
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.names[0]}"'))

    def copy(self) -> None:
        """The baselines' copies of the seeded database (SQLite backup, or CREATE DATABASE … TEMPLATE)."""
        if self.sqlite:
            source = sqlite3.connect(_sqlite_path(self.url))
            for url in (self.copy_url, self.rows_url):
                target = sqlite3.connect(_sqlite_path(url))
                source.backup(target)
                target.close()
            source.close()
            return
        from sqlalchemy import text

        with self.admin.connect() as c:
            for name in self.names[1:]:
                c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.names[0]}"'))

    def drop(self) -> None:
        if self.sqlite:
            return
        from sqlalchemy import text

        with self.admin.connect() as c:
            for name in self.names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def _rows(runs: int, seed: int, journey_id: str, version: int, wake_order: str
          ) -> tuple[Iterator[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
    """(contact rows, run rows); seeded, so the same arguments give the same database.

    Runs are inserted in id order (ids are time-ordered, as ``IdFactory`` makes them) and fall due
    within the minute before T0: with ``sequential`` wake order in the order they entered (a wait
    of fixed length after an entry), with ``random`` in any order. Contacts are a random permutation
    of the runs (a contact created long ago may enter today).
    """
    rnd = random.Random(seed)
    contact_of = list(range(runs))
    rnd.shuffle(contact_of)
    cities = [rnd.choice(CITIES) for _ in range(runs)]
    wakes = [rnd.randrange(60_000_000) for _ in range(runs)] if wake_order == "random" else None
    entered = T0 - timedelta(hours=1)

    def contact_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(runs):
            yield (f"c{n:031d}", entered, entered, f"客户{n}", cities[n], {}, {})

    def run_rows() -> Iterator[tuple[Any, ...]]:
        span = 60_000_000  # µs
        for n in range(runs):
            before = wakes[n] if wakes is not None else span - n * span // max(runs, 1)
            yield (f"r{n:031d}", journey_id, version, f"c{contact_of[n]:031d}", "wait_1", "waiting", entered,
                   entered, T0 - timedelta(microseconds=before), None, None, None, 1, 0, None)

    return contact_rows(), run_rows()


_CONTACT_COLUMNS = ("id", "created_at", "updated_at", "name", "city", "custom", "lineage")
_RUN_COLUMNS = ("id", "journey_id", "version", "contact_id", "node_id", "status", "entered_at", "updated_at",
                "wake_at", "waiting_for", "waiting_since", "timeout_at", "step_no", "attempts", "error")


def seed(url: str, runs: int, seed_value: int, wake_order: str = "sequential") -> float:
    """Migrate, publish the journey, bulk-insert contacts and waiting runs; returns seconds taken."""
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.journeys import publish_journey
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contacts, journey_runs

    started = time.perf_counter()
    application = bootstrap(Settings(url), clock=VirtualClock(T0 - timedelta(hours=2)))
    try:
        application.init_database()
        published = publish_journey(application.services, JOURNEY, actor="bench")
        journey_id, version = published.journey.id, published.version
        contact_rows, run_rows = _rows(runs, seed_value, journey_id, version, wake_order)
        for table, columns, rows in ((contacts, _CONTACT_COLUMNS, contact_rows),
                                     (journey_runs, _RUN_COLUMNS, run_rows)):
            done = 0
            while done < runs:
                chunk = list(itertools.islice(rows, SEED_CHUNK))
                with application.engine.begin() as c:
                    bulk_insert(c, table, columns, chunk)
                done += len(chunk)
            _log(f"  seeded {done:,} {table.name}")
        if application.engine.dialect.name == "postgresql":  # as autovacuum would; SQLite never analyzes itself
            with application.engine.begin() as c:
                c.exec_driver_sql("ANALYZE")
    finally:
        application.close()
    if url.startswith("sqlite"):
        connection = sqlite3.connect(_sqlite_path(url))
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    return time.perf_counter() - started


# --- the measured phases --------------------------------------------------------------------------


def baseline(url: str, batch: int) -> Measured:
    """The bare claim-and-update loop through the driver; runs in a fresh process."""
    due = T0 + timedelta(seconds=1)
    latencies: list[float] = []
    total = 0
    if url.startswith("sqlite"):
        connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "cache_size=-65536"):
            connection.execute(f"PRAGMA {pragma}")
        now = due.replace(tzinfo=None).isoformat(" ", "microseconds")
        claim = ("SELECT id FROM journey_runs WHERE status = 'waiting' AND wake_at <= ? "
                 "ORDER BY wake_at LIMIT ?")
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            ids = [r[0] for r in connection.execute(claim, (now, batch))]
            if ids:
                connection.execute(f"UPDATE journey_runs SET status = 'completed', updated_at = ? "
                                   f"WHERE id IN ({','.join('?' * len(ids))})", (now, *ids))
            connection.execute("COMMIT")
            if not ids:
                break
            latencies.append(time.perf_counter() - t0)
            total += len(ids)
        seconds = time.perf_counter() - started
        connection.close()
    else:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        claim = ("SELECT id FROM journey_runs WHERE status = 'waiting' AND wake_at <= %s "
                 "ORDER BY wake_at LIMIT %s FOR UPDATE SKIP LOCKED")
        with psycopg.connect(dsn) as pg:
            started = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                with pg.transaction(), pg.cursor() as cur:
                    cur.execute(claim, (due, batch))
                    ids = [r[0] for r in cur.fetchall()]
                    if ids:
                        cur.execute("UPDATE journey_runs SET status = 'completed', updated_at = %s "
                                    "WHERE id = ANY(%s)", (due, ids))
                if not ids:
                    break
                latencies.append(time.perf_counter() - t0)
                total += len(ids)
            seconds = time.perf_counter() - started
    return Measured("baseline (bare claim + update loop)", total, seconds, tuple(latencies), _peak_rss_mb())


def baseline_same_rows(url: str, batch: int) -> Measured:
    """A hand-written SQL loop that writes what the runtime writes per run: the run row (completed at the exit
    node), three ``run_steps`` rows (wait → send → exit), one ``outbox`` row and its ``message_queued`` event
    (with the rollup columns), one transaction per batch. The fair floor for the drain; fresh process."""
    import json
    import uuid

    from touchflow.domain.measurement.rollup_columns import message_columns

    due = T0 + timedelta(seconds=1)
    latencies: list[float] = []
    total = 0
    sqlite = url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    at: Any = due.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else due
    payload = ('{"fallback":[],"purpose":"marketing","fallback_window_s":86400.0,'
               '"retry":{"attempts":3,"backoff_s":300.0}}')
    claim = ("SELECT id, contact_id, journey_id FROM journey_runs WHERE status = 'waiting' AND wake_at <= {m} "
             "ORDER BY wake_at LIMIT {m}" + ("" if sqlite else " FOR UPDATE SKIP LOCKED")).format(m=mark)
    step = ("INSERT INTO run_steps (run_id, contact_id, journey_id, node_id, kind, edge, at, detail) "
            f"VALUES ({', '.join([mark] * 8)})")
    message = ("INSERT INTO outbox (id, idempotency_key, run_id, contact_id, journey_id, node_id, channel, template, "
               "payload, status, attempts, created_at, updated_at, next_attempt_at) "
               f"VALUES ({', '.join([mark] * 14)})")

    queued = ("INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, properties, msg_id, "
              "msg_journey, msg_node, msg_template, msg_channel, msg_reason, msg_bucket) "
              f"VALUES ({', '.join([mark] * 14)})")

    prefix, serial = uuid.uuid4().hex[:16], itertools.count()

    def rows(claimed: list[tuple[str, str, str]]
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        steps: list[tuple[Any, ...]] = []
        messages: list[tuple[Any, ...]] = []
        lifecycle: list[tuple[Any, ...]] = []
        for run_id, contact_id, journey_id in claimed:
            key = f"{run_id}:2"
            steps += [(run_id, contact_id, journey_id, "wait_1", "wait", "next", at, "{}"),
                      (run_id, contact_id, journey_id, "send", "send", "next", at,
                       f'{{"channel":"email","template":"herd_email","message_key":"{key}"}}'),
                      (run_id, contact_id, journey_id, "done", "exit", "completed", at, "{}")]
            message_id = f"{prefix}{next(serial):016x}"  # time-ordered, like the runtime's ids (IdFactory)
            messages.append((message_id, key, run_id, contact_id, journey_id, "send", "email", "herd_email",
                             payload, "queued", 0, at, at, at))
            props = {"message_id": message_id, "channel": "email", "journey_id": journey_id, "node_id": "send",
                     "template": "herd_email"}
            event_id = f"m_{message_id}_queued"
            lifecycle.append((event_id, contact_id, "message_queued", at, at, "touchflow", json.dumps(props),
                              *(message_columns(event_id, "message_queued", props, due) or ())))
        return steps, messages, lifecycle

    finish = ("UPDATE journey_runs SET status = 'completed', node_id = 'done', step_no = step_no + 3, "
              f"wake_at = NULL, updated_at = {mark} WHERE id ")
    if sqlite:
        connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "cache_size=-65536"):
            connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            claimed = list(connection.execute(claim, (at, batch)))
            if claimed:
                connection.execute(finish + f"IN ({','.join('?' * len(claimed))})", (at, *(c[0] for c in claimed)))
                steps, messages, lifecycle = rows(claimed)
                connection.executemany(step, steps)
                connection.executemany(message, messages)
                connection.executemany(queued, lifecycle)
            connection.execute("COMMIT")
            if not claimed:
                break
            latencies.append(time.perf_counter() - t0)
            total += len(claimed)
        seconds = time.perf_counter() - started
        connection.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            started = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                with pg.transaction(), pg.cursor() as cur:
                    cur.execute(claim, (at, batch))
                    claimed = cur.fetchall()
                    if claimed:
                        cur.execute(finish + "= ANY(%s)", (at, [c[0] for c in claimed]))
                        steps, messages, lifecycle = rows(claimed)
                        cur.executemany(step, steps)
                        cur.executemany(message, messages)
                        cur.executemany(queued, lifecycle)
                if not claimed:
                    break
                latencies.append(time.perf_counter() - t0)
                total += len(claimed)
            seconds = time.perf_counter() - started
    return Measured("baseline: hand-written loop, same rows (1 update, 3 steps, 1 outbox, 1 event)", total, seconds,
                    tuple(latencies), _peak_rss_mb())


def touchflow(url: str, batch: int, profile: str | None, freeze: bool = True) -> Measured:
    """An idle tick while every run waits, then ``run_due`` until the herd is drained; fresh process. With
    ``freeze`` the start-up heap is frozen first, as ``touchflow worker`` does (touchflow/heap.py)."""
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.engine.runtime import JourneyRuntime
    from touchflow.heap import freeze_startup_heap

    clock = VirtualClock(T0 - timedelta(minutes=10))
    application = bootstrap(Settings(url), clock=clock)
    try:
        runtime = JourneyRuntime(application.services, batch_size=batch)
        if freeze:
            freeze_startup_heap()
        runtime.tick()  # warm: catalog, pool, statement caches
        t0 = time.perf_counter()
        idle = runtime.tick()
        idle_ms = 1000 * (time.perf_counter() - t0)
        assert idle.work == 0, f"something was due before T0: {idle}"
        waiting_rss = _current_rss_mb()

        clock.set(T0 + timedelta(seconds=1))
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        latencies: list[float] = []
        total = steps = 0
        peak_anon = _anon_rss_mb()
        started = time.perf_counter()
        while True:
            b0 = time.perf_counter()
            report = runtime.run_due()
            if not report.timers:
                break
            latencies.append(time.perf_counter() - b0)
            peak_anon = max(peak_anon, _anon_rss_mb())
            total += report.timers
            steps += 3 * report.advanced  # wait → send → exit
            if len(latencies) % 100 == 0:
                _log(f"  {total:,} runs advanced, {total / (time.perf_counter() - started):,.0f}/s")
        seconds = time.perf_counter() - started
        if profiler is not None and profile:
            import pstats

            profiler.disable()
            profiler.dump_stats(profile)
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)
    finally:
        application.close()
    return Measured("touchflow JourneyRuntime.run_due", total, seconds, tuple(latencies), _peak_rss_mb(), steps,
                    waiting_rss, idle_ms, peak_anon)


def _in_own_process(fn: Callable[..., R], *args: object) -> R:
    """``fn(*args)`` in a fresh interpreter (multiprocessing 'spawn'): its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def verify(url: str, runs: int) -> dict[str, int]:
    from sqlalchemy import create_engine, func, select

    from touchflow.store.tables import events, journey_runs, outbox, run_steps

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            by_status = {s: int(n) for s, n in c.execute(select(journey_runs.c.status, func.count())
                                                          .group_by(journey_runs.c.status))}
            messages = int(c.execute(select(func.count()).select_from(outbox)).scalar_one())
            trace = int(c.execute(select(func.count()).select_from(run_steps)).scalar_one())
            queued = int(c.execute(select(func.count()).select_from(events)
                                   .where(events.c.type == "message_queued")).scalar_one())
    finally:
        engine.dispose()
    return {"completed": by_status.get("completed", 0), "not completed": runs - by_status.get("completed", 0),
            "outbox rows": messages, "trace rows": trace, "message_queued events": queued}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs waiting at once (default 1000000)")
    parser.add_argument("--database", default="sqlite",
                        help="'sqlite' (a fresh file) or a PostgreSQL URL; databases touchflow_bench_timers_<pid>"
                             "[_copy] are created on that server and dropped afterwards")
    parser.add_argument("--batch", type=int, default=1000, help="runs per batch (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wake-order", choices=("sequential", "random"), default="sequential",
                        help="runs fall due in the order they entered (default), or in random order")
    parser.add_argument("--profile", help="run the touchflow phase under cProfile, stats to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory / databases")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="leave the touchflow phase's start-up heap unfrozen (the worker freezes it; for A/B)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-timers-"))
    databases = Databases(args.database, workdir)
    try:
        _log(f"seeding {args.runs:,} waiting runs …")
        seeding = seed(databases.url, args.runs, args.seed, args.wake_order)
        databases.copy()
        _log("baseline …")
        base = _in_own_process(baseline, databases.copy_url, args.batch)
        _log("baseline writing the same rows …")
        same = _in_own_process(baseline_same_rows, databases.rows_url, args.batch)
        same_checks = verify(databases.rows_url, args.runs)
        _log("touchflow …")
        measured: Measured | None = None
        failure = ""
        try:
            measured = _in_own_process(touchflow, databases.url, args.batch, args.profile, args.freeze)
        except Exception as exc:  # report the baseline and what went wrong, rather than nothing
            failure = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            _log(f"touchflow phase failed: {failure}")
        checks = verify(databases.url, args.runs)
    finally:
        if args.keep:
            _log(f"kept {workdir} ({databases.url}, {databases.copy_url})")
        else:
            databases.drop()
            shutil.rmtree(workdir, ignore_errors=True)

    database = "sqlite (file)" if args.database == "sqlite" else "postgresql"
    print(f"## Timer herd: {args.runs:,} runs due at once (seed {args.seed}, {args.wake_order} wake order)\n")
    print(f"Database: {database}, batch {args.batch}; SQLite {sqlite3.sqlite_version}; Python "
          f"{sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs. Seeded in {seeding:.1f} s "
          f"(not timed).{' Profiled: throughput not comparable.' if args.profile else ''} Start-up heap "
          f"{'frozen' if args.freeze else 'not frozen'} in the touchflow phase.\n")
    print("| phase | runs | seconds | runs/s | trace steps/s | batch p50 (ms) | batch p99 (ms) | vs bare loop "
          "| vs same-rows loop | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in (base, same, measured) if measured is not None else (base, same):
        steps = f"{m.steps / m.seconds:,.0f}" if m.steps else "—"
        print(f"| {m.phase} | {m.runs:,} | {m.seconds:.2f} | {m.rate:,.0f} | {steps} | {m.percentile_ms(.5):.1f} "
              f"| {m.percentile_ms(.99):.1f} | {m.rate / base.rate:.2f}× | {m.rate / same.rate:.2f}× "
              f"| {m.peak_rss_mb:.0f} |")
    print()
    if measured is None:
        print(f"- touchflow phase FAILED: {failure}")
    else:
        print(f"- while {args.runs:,} runs waited (none due): an idle tick took {measured.idle_tick_ms:.1f} ms, "
              f"RSS {measured.waiting_rss_mb:.0f} MB")
        print(f"- touchflow phase: peak RSS (VmHWM) {measured.peak_rss_mb:.0f} MB, largest anonymous RSS "
              f"(RssAnon, without SQLite's memory-mapped file pages) {measured.peak_anon_mb or 0:.0f} MB")
    print(f"- after the drain: {', '.join(f'{k} {v:,}' for k, v in checks.items())}")
    print(f"- the same-rows loop wrote: {', '.join(f'{k} {v:,}' for k, v in same_checks.items())}")
    ok = measured is not None and checks["not completed"] == 0 and checks["outbox rows"] == args.runs
    print(f"- check: {'every run completed with one outbox row' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
