"""Trigger throughput and latency: events through many journeys' triggers into runs.

    python bench/bench_triggers.py --events 1000000 --journeys 50 [--contacts 100000] [--match 0.1]
                                   [--database sqlite|URL] [--batch 1000] [--rate 1000]
                                   [--latency-seconds 30] [--seed 1] [--profile FILE] [--no-freeze]

1. A fresh database (SQLite file in a temp dir, or ``touchflow_bench_triggers_<pid>`` on a PostgreSQL
   server) and ``--journeys`` published journeys, each triggered by one of ten event types with a
   property filter (``campaign: j<k>``), ``send email → wait 1d → send sms → exit``.
2. **Preload** (not the measured number): ``--events`` seeded events from ``--contacts`` contacts go
   through ``record_events`` in batches of 5,000, so they sit in the event inbox. A fraction
   ``--match`` carries the campaign of one journey of its type; the rest match no trigger. On
   PostgreSQL the preload runs ``ANALYZE`` now and then, as autovacuum would (SQLite never does, and
   neither does the bench). A copy of the database is made for the baseline.
3. **Throughput**, each in its own process (multiprocessing ``spawn``, so peak RSS is its own):
   * baseline: a bare loop over the copy through the driver, ``SELECT seq, event_id, contact_id, type
     FROM event_inbox ORDER BY seq LIMIT <batch>`` + ``DELETE … WHERE seq IN (…)``, one transaction
     per batch: the floor for "claim inbox rows and remove them";
   * touchflow: ``JourneyRuntime.route_events()`` until the inbox is empty (entries, first sends into
     the outbox, waits, runs of other journeys the events may move).
4. **Latency**: the preloaded outbox is marked sent (so the dispatcher has no backlog), then a worker
   (``JourneyRuntime`` + ``Dispatcher`` in ``run_forever``, idle sleep 10 ms, system clock) runs in its
   own process while this process feeds ``--rate`` events/s through ``record_events`` (batches of 20)
   for ``--latency-seconds``. Half the events are sign-ups of new contacts that enter exactly one
   journey; for those, latency = the run's ``entered_at`` − the time ``record_events`` returned
   (its commit), both from the system clock. ``entered_at`` is when the worker's batch began; the
   worker also records when each batch committed, so the time until the run was *visible* is
   reported too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from bench_timers import Databases, _in_own_process, _sqlite_path
from benchlib import log as _log
from benchlib import peak_rss_mb as _peak_rss_mb
from benchlib import percentile

TYPES: tuple[tuple[str, str, str], ...] = (  # (event type, a required property, its value prefix)
    ("page_view", "url", "https://shop.example.cn/p/"),
    ("content_download", "content_id", "wp-"),
    ("form_submit", "form_id", "f-"),
    ("signup", "method", "email"),
    ("order_paid", "order_id", "o-"),
    ("cart_abandoned", "cart_id", "cart-"),
    ("coupon_claimed", "coupon_id", "cp-"),
    ("survey_response", "survey_id", "s-"),
    ("offline_event_attended", "event_name", "expo-"),
    ("consult", "topic", "pricing-"),
)
PRELOAD_BATCH = 5_000
FEED_BATCH = 20
LATENCY_SOURCE = "bench_latency"
STOP_WAIT_S = 120  # how long the latency phase waits for its worker's report once it asked it to stop


def journey_yaml(k: int) -> str:
    event_type = TYPES[k % len(TYPES)][0]
    return f"""
key: trigger_{k:03d}
name: Trigger bench {k}
trigger:
  event: {event_type}
  properties: {{campaign: j{k}}}
nodes:
  send_first: {{kind: send, channel: email, template: t{k}_first, next: wait_day}}
  wait_day: {{kind: wait, duration: 1d, next: send_second}}
  send_second: {{kind: send, channel: sms, template: t{k}_second, next: done}}
  done: {{kind: exit}}
"""


class EventMaker:
    """Seeded events; a fraction ``match`` names the campaign of one journey of its type."""

    def __init__(self, seed: int, journeys: int, contacts: int, match: float, prefix: str) -> None:
        self._rnd = random.Random(seed)
        self._journeys = journeys
        self._contacts = contacts
        self._match = match
        self._prefix = prefix
        self._n = 0
        self._by_type = {t: [k for k in range(journeys) if k % len(TYPES) == t] for t in range(len(TYPES))}

    def _event(self, type_index: int, campaign: str, who: dict[str, str]) -> dict[str, Any]:
        self._n += 1
        event_type, prop, value = TYPES[type_index]
        props: dict[str, Any] = {prop: f"{value}{self._n % 997}", "campaign": campaign}
        if event_type == "order_paid":
            props["amount"] = self._rnd.randrange(50, 5000)
        return {"id": f"{self._prefix}-{self._n}", "type": event_type, "properties": props, **who}

    def event(self) -> dict[str, Any]:
        rnd = self._rnd
        type_index = rnd.randrange(len(TYPES))
        targets = self._by_type[type_index]
        matching = targets and rnd.random() < self._match
        campaign = f"j{rnd.choice(targets)}" if matching else f"n{rnd.randrange(100)}"
        return self._event(type_index, campaign, {"email": f"u{rnd.randrange(self._contacts)}@bench.test"})

    def entering(self) -> tuple[dict[str, Any], str]:
        """A new contact's event that enters exactly one journey; returns it and the contact's email."""
        k = self._rnd.randrange(self._journeys)
        email = f"new-{self._prefix}-{self._n}@bench.test"
        return self._event(k % len(TYPES), f"j{k}", {"email": email}), email

    def noise(self) -> dict[str, Any]:
        """A known contact's event that matches no trigger."""
        type_index = self._rnd.randrange(len(TYPES))
        return self._event(type_index, f"n{self._rnd.randrange(100)}",
                           {"email": f"u{self._rnd.randrange(self._contacts)}@bench.test"})


@dataclass(frozen=True)
class Measured:
    phase: str
    events: int
    seconds: float
    batch_seconds: tuple[float, ...]
    peak_rss_mb: float
    entered: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


# --- preparing ------------------------------------------------------------------------------------


def prepare(url: str, args: argparse.Namespace) -> tuple[float, int]:
    """Migrate, publish the journeys, preload the inbox; returns (seconds, events stored)."""
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.services.ingest import RawItem, record_events
    from touchflow.services.journeys import publish_journey

    application = bootstrap(Settings(url))
    try:
        application.init_database()
        for k in range(args.journeys):
            publish_journey(application.services, journey_yaml(k), actor="bench")
        maker = EventMaker(args.seed, args.journeys, args.contacts, args.match, "p")
        pg = application.engine.dialect.name == "postgresql"  # SQLite never analyzes by itself: nor do we
        started = time.perf_counter()
        stored = 0
        while stored < args.events:
            size = min(PRELOAD_BATCH, args.events - stored)
            report = record_events(application.services, "website",
                                   [RawItem(maker.event()) for _ in range(size)])
            assert not report.rejected, report.rejected[:3]
            stored += size
            if stored % 100_000 == 0 or stored == args.events:
                _log(f"  preloaded {stored:,} events, {stored / (time.perf_counter() - started):,.0f}/s")
            if pg and (stored in (PRELOAD_BATCH, 4 * PRELOAD_BATCH) or stored % 100_000 == 0
                       or stored == args.events):
                # statistics as autovacuum would keep them (test servers often run without it)
                with application.engine.begin() as c:
                    c.exec_driver_sql("ANALYZE")
        seconds = time.perf_counter() - started
    finally:
        application.close()
    if url.startswith("sqlite"):
        connection = sqlite3.connect(_sqlite_path(url))
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    return seconds, stored


# --- throughput -----------------------------------------------------------------------------------


def baseline(url: str, batch: int) -> Measured:
    """Bare claim-and-delete over the inbox, through the driver; runs in a fresh process."""
    latencies: list[float] = []
    total = 0
    claim = "SELECT seq, event_id, contact_id, type FROM event_inbox ORDER BY seq LIMIT {}"
    if url.startswith("sqlite"):
        connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "cache_size=-65536"):
            connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            seqs = [r[0] for r in connection.execute(claim.format("?"), (batch,))]
            if seqs:
                connection.execute(f"DELETE FROM event_inbox WHERE seq IN ({','.join('?' * len(seqs))})", seqs)
            connection.execute("COMMIT")
            if not seqs:
                break
            latencies.append(time.perf_counter() - t0)
            total += len(seqs)
        seconds = time.perf_counter() - started
        connection.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            started = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                with pg.transaction(), pg.cursor() as cur:
                    cur.execute(claim.format("%s") + " FOR UPDATE SKIP LOCKED", (batch,))
                    seqs = [r[0] for r in cur.fetchall()]
                    if seqs:
                        cur.execute("DELETE FROM event_inbox WHERE seq = ANY(%s)", (seqs,))
                if not seqs:
                    break
                latencies.append(time.perf_counter() - t0)
                total += len(seqs)
            seconds = time.perf_counter() - started
    return Measured("baseline (bare inbox claim + delete loop)", total, seconds, tuple(latencies), _peak_rss_mb())


def throughput(url: str, batch: int, profile: str | None, freeze: bool = True) -> Measured:
    """``route_events`` until the inbox is empty; runs in a fresh process (its start-up heap frozen with
    ``freeze``, as the worker's)."""
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.engine.runtime import JourneyRuntime
    from touchflow.heap import freeze_startup_heap

    application = bootstrap(Settings(url))
    try:
        runtime = JourneyRuntime(application.services, batch_size=batch)
        if freeze:
            freeze_startup_heap()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        latencies: list[float] = []
        total = entered = 0
        started = time.perf_counter()
        while True:
            b0 = time.perf_counter()
            report = runtime.route_events()
            if not report.events:
                break
            latencies.append(time.perf_counter() - b0)
            total += report.events
            entered += report.entered
            if len(latencies) % 100 == 0:
                _log(f"  {total:,} events routed, {total / (time.perf_counter() - started):,.0f}/s, "
                     f"{entered:,} entries")
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
    return Measured("touchflow JourneyRuntime.route_events", total, seconds, tuple(latencies), _peak_rss_mb(),
                    entered)


# --- latency --------------------------------------------------------------------------------------


class RecordingClock:
    """The system clock, remembering the last instant it gave (route_events reads it once, first)."""

    def __init__(self) -> None:
        self.last = datetime.now(UTC)

    def now(self) -> datetime:
        self.last = datetime.now(UTC)
        return self.last


def worker_process(url: str, batch: int, ready: Any, stop: Any, results: Pipe, freeze: bool = True) -> None:
    """A worker (runtime + dispatcher, as ``touchflow worker``) that records when each routing batch
    began (its ``now``, the runs' ``entered_at``) and when it committed."""
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.engine.dispatcher import Dispatcher
    from touchflow.engine.runtime import JourneyRuntime, TickReport
    from touchflow.heap import freeze_startup_heap

    clock = RecordingClock()
    application = bootstrap(Settings(url), clock=clock)
    committed: list[tuple[datetime, datetime, int, int]] = []

    class TimedRuntime(JourneyRuntime):
        def route_events(self, limit: int | None = None) -> TickReport:
            report = super().route_events(limit)
            if report.events:
                committed.append((clock.last, datetime.now(UTC), report.events, report.entered))
            return report

    runtime = TimedRuntime(application.services, batch, dispatcher=Dispatcher(application.services, batch))
    halt = threading.Event()
    asked: list[float] = []

    def watch() -> None:
        stop.wait()
        asked.append(time.monotonic())
        halt.set()

    threading.Thread(target=watch, daemon=True).start()
    if freeze:
        freeze_startup_heap()  # as `touchflow worker` does once wired (touchflow/heap.py)
    runtime.tick()  # warm
    ready.set()
    try:
        runtime.run_forever(halt, idle_sleep=0.01)  # checks ``halt`` between ticks only
        stopping = time.monotonic() - asked[0]
    finally:
        application.close()
    results.send((committed, _peak_rss_mb(), stopping))
    results.close()


@dataclass
class LatencyResult:
    fed: int
    seconds: float
    entries_expected: int
    entries_found: int
    entry_ms: list[float]
    visible_ms: list[float]
    feed_call_ms: list[float]
    worker_rss_mb: float
    worker_batches: int
    worker_routed: int  # events its routing batches took
    worker_stop_s: float | None  # from "stop" to the end of the worker's tick; None: it did not report in time


def latency(url: str, args: argparse.Namespace) -> LatencyResult:
    from sqlalchemy import select, update

    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.services.ingest import RawItem, record_events
    from touchflow.store.tables import contact_identities, journey_runs, outbox

    application = bootstrap(Settings(url))
    with application.engine.begin() as c:  # no dispatch backlog from the preload
        c.execute(update(outbox).where(outbox.c.status == "queued").values(status="sent"))
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(target=worker_process, args=(url, args.batch, ready, stop, send, args.freeze))
    worker.start()
    maker = EventMaker(args.seed + 1, args.journeys, args.contacts, args.match, "l")
    commit_at: dict[str, datetime] = {}
    feed_calls: list[float] = []
    fed = 0
    try:
        if not ready.wait(120):
            raise SystemExit("latency worker did not start")
        total = int(args.rate * args.latency_seconds)
        interval = FEED_BATCH / args.rate
        started = time.perf_counter()
        for n in range(0, total, FEED_BATCH):
            delay = started + (n // FEED_BATCH) * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            batch: list[RawItem] = []
            emails: list[str] = []
            for i in range(min(FEED_BATCH, total - n)):
                if i % 2 == 0:
                    event, email = maker.entering()
                    emails.append(email)
                else:
                    event = maker.noise()
                batch.append(RawItem(event))
            t0 = time.perf_counter()
            report = record_events(application.services, LATENCY_SOURCE, batch)
            done = datetime.now(UTC)
            feed_calls.append(time.perf_counter() - t0)
            assert not report.rejected, report.rejected[:3]
            fed += len(batch)
            for email in emails:
                commit_at[email] = done
        seconds = time.perf_counter() - started
        deadline = time.monotonic() + 120
        found: dict[str, datetime] = {}
        while time.monotonic() < deadline:  # until every entering event has its run
            with application.engine.connect() as c:
                rows = c.execute(select(contact_identities.c.value, journey_runs.c.entered_at)
                                 .join(journey_runs, journey_runs.c.contact_id == contact_identities.c.contact_id)
                                 .where(contact_identities.c.kind == "email",
                                        contact_identities.c.value.like("new-l-%"))).all()
            found = {email: at for email, at in rows}
            if len(found) >= len(commit_at):
                break
            time.sleep(0.5)
    finally:
        stop.set()
        # the worker stops between ticks; a tick behind a backlog can outlast this wait (then nothing is reported)
        committed, worker_rss, stopping = receive.recv() if receive.poll(STOP_WAIT_S) else ([], float("nan"), None)
        worker.join(60)
        application.close()
    visible_at = {began: at for began, at, _, _ in committed}
    entry_ms = [1000 * (found[e] - commit_at[e]).total_seconds() for e in commit_at if e in found]
    visible_ms = [1000 * (visible_at[found[e]] - commit_at[e]).total_seconds()
                  for e in commit_at if e in found and found[e] in visible_at]
    return LatencyResult(fed, seconds, len(commit_at), len(found), entry_ms, visible_ms, feed_calls, worker_rss,
                         len(committed), sum(n for _, _, n, _ in committed), stopping)


# --- main -----------------------------------------------------------------------------------------


def _stopping(seconds: float | None) -> str:
    if seconds is None:
        return (f"NO REPORT: still inside a tick {STOP_WAIT_S} s after it was asked to stop, so its batches are "
                "unknown")
    return f"stopped {seconds:.1f} s after it was asked (at the end of its tick)"


def _rows_of(results: list[Measured], base: Measured) -> Iterator[str]:
    yield "| phase | events | seconds | events/s | entries | batch p50 (ms) | batch p99 (ms) | vs baseline " \
          "| peak RSS (MB) |"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for m in results:
        ratio = "1.00×" if m is base else f"{m.rate / base.rate:.2f}×"
        entries = f"{m.entered:,}" if m is not base else "—"
        yield (f"| {m.phase} | {m.events:,} | {m.seconds:.2f} | {m.rate:,.0f} | {entries} "
               f"| {1000 * percentile(m.batch_seconds, .5):.1f} | {1000 * percentile(m.batch_seconds, .99):.1f} "
               f"| {ratio} | {m.peak_rss_mb:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="events preloaded into the inbox")
    parser.add_argument("--journeys", type=int, default=50, help="published event-triggered journeys")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts the events come from")
    parser.add_argument("--match", type=float, default=0.1, help="fraction of events matching a trigger")
    parser.add_argument("--database", default="sqlite",
                        help="'sqlite' (a fresh file) or a PostgreSQL URL; databases "
                             "touchflow_bench_triggers_<pid>[_copy] are created there and dropped afterwards")
    parser.add_argument("--batch", type=int, default=1000, help="inbox rows per batch (default 1000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s fed in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="length of the latency phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", help="run route_events under cProfile, stats to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory / databases")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="leave the measured processes' start-up heap unfrozen (the worker freezes it; for A/B)")
    args = parser.parse_args(argv)
    if args.journeys < 1:
        parser.error("--journeys must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-triggers-"))
    databases = Databases(args.database, workdir, prefix="touchflow_bench_triggers")
    try:
        _log(f"publishing {args.journeys} journeys, preloading {args.events:,} events …")
        preload_s, stored = prepare(databases.url, args)
        databases.copy()
        _log("baseline …")
        base = _in_own_process(baseline, databases.copy_url, args.batch)
        _log("touchflow route_events …")
        routed = _in_own_process(throughput, databases.url, args.batch, args.profile, args.freeze)
        lat = None
        if args.latency_seconds > 0:
            _log(f"latency: {args.rate:,.0f} events/s for {args.latency_seconds:.0f} s …")
            lat = latency(databases.url, args)
    finally:
        if args.keep:
            _log(f"kept {workdir} ({databases.url}, {databases.copy_url})")
        else:
            databases.drop()
            shutil.rmtree(workdir, ignore_errors=True)

    database = "sqlite (file)" if args.database == "sqlite" else "postgresql"
    print(f"## Triggers: {args.events:,} events through {args.journeys} journeys (seed {args.seed})\n")
    print(f"Database: {database}, batch {args.batch}; {args.contacts:,} contacts, {args.match:.0%} of events "
          f"match a trigger; SQLite {sqlite3.sqlite_version}; Python {sys.version.split()[0]} on {sys.platform}, "
          f"{os.cpu_count()} CPUs. Preload through record_events: {stored:,} events in {preload_s:.1f} s "
          f"({stored / preload_s:,.0f}/s, not the measured number).{' Profiled.' if args.profile else ''} "
          f"Start-up heap {'frozen' if args.freeze else 'not frozen'} in the measured processes.\n")
    for line in _rows_of([base, routed], base):
        print(line)
    if lat is not None:
        ms = lat.entry_ms
        print()
        print(f"Latency at {lat.fed / lat.seconds:,.0f} events/s fed for {lat.seconds:.0f} s "
              f"({lat.fed:,} events, {lat.entries_found:,} of {lat.entries_expected:,} expected entries found; "
              f"worker: {lat.worker_batches:,} routing batches of {lat.worker_routed:,} events, "
              f"peak RSS {lat.worker_rss_mb:.0f} MB, "
              f"{_stopping(lat.worker_stop_s)}):\n")
        print("| measure | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |")
        print("|---|---:|---:|---:|---:|")
        for label, values in (("ingest commit → run entered_at", ms),
                              ("ingest commit → entry committed (visible)", lat.visible_ms),
                              ("record_events call (20 events)", [1000 * s for s in lat.feed_call_ms])):
            print(f"| {label} | {percentile(values, .5):.1f} | {percentile(values, .95):.1f} "
                  f"| {percentile(values, .99):.1f} | {max(values, default=float('nan')):.1f} |")
        if lat.entries_found < lat.entries_expected:
            print(f"\n- FAILED: {lat.entries_expected - lat.entries_found} entering events have no run")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

