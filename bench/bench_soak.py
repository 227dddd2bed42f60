"""Soak: mixed load for a while; does anything drift, grow or get lost?

    python bench/bench_soak.py [--database sqlite|URL] [--minutes 10] [--rate 1000] [--signups 0.1] [--workers 1]
                               [--background thread|process]

One worker process, or ``--workers`` of them (runtime + dispatcher, as ``touchflow worker``; e-mail goes to a
capture channel, which keeps only the newest 1,000 messages, as a worker with no channel configured does; SMS
goes to a fake provider in this process with 3 % 5xx, 2 % 429 and 20 ms latency) while this process:

* **ingest**: feeds ``--rate`` events/s in batches of 50 through ``record_events``; a ``--signups`` share (default
  a tenth) are sign-ups of new contacts that enter one of five journeys (send SMS → wait 2 minutes → send email
  → exit), the rest page views of earlier sign-ups that match no trigger;
* **freshness**: every 10 s one more sign-up, followed until its contact has entered its journey, joined the
  ``signed_up`` segment (the worker's incremental drain) and been sent its SMS: what a marketer waits for;
* **reports**: refreshes the rollups and reads ``metric_rows`` every 30 s.

The two dynamic segments are fully recomputed on their schedule, every ``--full-refresh`` seconds (default 300; a
deployment's default is hourly), by the worker's background thread, as ``touchflow worker`` does. A full
recompute reads every contact and the soak adds contacts all the time, so its cost per 10,000 contacts is
reported beside its duration.

The worker runs as ``touchflow worker`` does (``Worker``: its load reports, its background thread) and times each
tick by its parts. Reported per phase: p50/p99 in the first and the last window, the drift of p99, and the p99 of
the samples that overlap neither a full refresh nor an upkeep pass (the heavy periodic work, whose cost grows
with the data); where the worker's ticks spent their time, part by part, in each window; each upkeep pass; the
busy share the worker reported; worker and feeder RSS after warm-up and at the end (and, with ``--background
process``, the background process's); the inbox backlog over time;
table sizes; and whether every acknowledged event is stored. The windows start after ``--warmup`` seconds
(default 150: the journeys' 2-minute wait, so timers and second sends are part of both windows) and last ten
minutes each in runs of 40 minutes or more (the issue's "first to last ten minutes"), a quarter of the time after
warm-up in shorter runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes

from benchlib import anon_rss_mb, current_rss_mb, percentile

BATCH = 50
JOURNEYS = 5


def _journey(k: int) -> str:
    return f"""
key: soak_{k}
name: Soak {k}
trigger:
  event: signup
  properties: {{campaign: j{k}}}
nodes:
  first: {{kind: send, channel: sms, template: soak_sms, next: pause}}
  pause: {{kind: wait, duration: 2m, next: second}}
  second: {{kind: send, channel: email, template: soak_email, next: done}}
  done: {{kind: exit}}
"""


def _rss_of(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _worker(url: str, config_dir: str, sms_url: str, token: str, stop: Any, out: Any, role: str = "thread") -> None:
    """A worker as ``touchflow worker --background ROLE`` runs it (``Worker``: load reports, the background passes
    in a thread, ``off`` or ``only`` them), with the fake SMS provider. Every few seconds it sends what it measured:
    each tick's start, seconds and parts; each upkeep pass's start, seconds and tables; each scheduled segment
    recompute's start, seconds and population; each busy share it reported."""
    from touchflow.bootstrap import bootstrap
    from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
    from touchflow.config import Settings
    from touchflow.engine.channel_registry import ChannelRegistry
    from touchflow.engine.dispatcher import Dispatcher
    from touchflow.engine.runtime import TickReport
    from touchflow.engine.worker import Worker

    app = bootstrap(Settings(url, config_dir=config_dir))
    channels = ChannelRegistry.capture_all(("email",))
    channels.add("sms", HttpSmsChannel(HttpSmsSettings(sms_url, token, max_batch=500)), rate_per_s=2000,
                 concurrency=2, kind="sms_http")
    composed = app.worker(1000, background=role != "off")  # the passes ``touchflow worker`` runs: reports, upkeep …
    measured: dict[str, list[Any]] = {"ticks": [], "upkeep": [], "refresh": [], "busy": []}

    def timed(chore: Any) -> Any:
        """The background pass, timed when it did something: table upkeep with the tables it touched, the
        scheduled segment recompute with the population it read."""
        def run() -> Any:
            started, t = time.time(), time.perf_counter()
            if hasattr(chore, "vacuum"):  # TableUpkeepPass: its gate, then the tables
                done = chore.vacuum() if chore.gate.due() is not None else []
                if done:
                    measured["upkeep"].append((started, time.perf_counter() - t, list(done)))
                return len(done)
            done = chore()
            if done:
                took = time.perf_counter() - t
                with app.engine.connect() as c:
                    population = c.exec_driver_sql("SELECT count(*) FROM contacts").scalar_one()
                measured["refresh"].append((started, took, population))
            return done
        return run

    def report_load(share: float) -> None:
        measured["busy"].append((time.time(), share))
        assert composed.report_load is not None
        composed.report_load(share)

    worker = Worker(app.services, 1000, idle_sleep=0.02,
                    dispatcher=Dispatcher(app.services, 1000, channels=channels),
                    passes=composed.runtime.passes, background=[timed(c) for c in composed.background],
                    scheduled_refresh=False, report_load=report_load)  # as composed: recomputes in the background
    worker.stop = stop  # the feeder's event: the upkeep thread stops with the loop
    if role == "only":  # ``--background only``: the slow passes in this process's main thread, no ticks
        runner = threading.Thread(target=worker.run_background, daemon=True)
        runner.start()
        while not stop.wait(5):
            out.put(measured)
            measured = {"ticks": [], "upkeep": [], "refresh": [], "busy": []}
        runner.join(120)
        out.put(measured)
        out.put(None)
        worker.close()
        composed.close()
        app.close()
        return
    worker.start_side_threads()
    done = TickReport()
    sent = time.time()
    while not stop.is_set():
        started = time.time()
        report = worker.tick_and_measure()
        if report is not None:  # the tick's seconds: its parts' sum (the idle sleep after an empty tick is not one)
            measured["ticks"].append((started, sum(report.spent.values()), report.spent))
            done.add(report)
        if time.time() - sent > 5:
            out.put(measured)
            measured, sent = {"ticks": [], "upkeep": [], "refresh": [], "busy": []}, time.time()
    out.put(measured)
    out.put({"work": {"events": done.events, "entered": done.entered, "timers": done.timers,
                      "dispatched": done.dispatched}})
    out.put(None)
    worker.close()
    composed.close()
    app.close()


def _outside(samples: list[tuple[float, float]], busy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The samples (start, seconds) that overlap none of the ``busy`` intervals (start, seconds)."""
    return [(at, s) for at, s in samples if not any(at < b + took and b < at + s for b, took in busy)]


def _parts(ticks: list[tuple[float, float, dict[str, float]]], start: float, end: float) -> dict[str, float]:
    """Seconds each part of the tick took in all, over the ticks that started in [start, end)."""
    spent: dict[str, float] = {}
    for at, _, parts in ticks:
        if start <= at < end:
            for part, seconds in parts.items():
                spent[part] = spent.get(part, 0.0) + seconds
    return spent


def _phase_stats(samples: list[tuple[float, float]], first_end: float, last_start: float) -> dict[str, float]:
    first = [s for at, s in samples if at < first_end]
    last = [s for at, s in samples if at >= last_start]
    p99_first, p99_last = percentile(first, 0.99) * 1000, percentile(last, 0.99) * 1000
    return {"n": len(samples), "p50_first": percentile(first, 0.5) * 1000, "p99_first": p99_first,
            "p50_last": percentile(last, 0.5) * 1000, "p99_last": p99_last,
            "drift": (p99_last / p99_first - 1) if p99_first else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--signups", type=float, default=0.1,
                        help="share of the fed events that are sign-ups entering a journey (each: 2 sends, a timer)")
    parser.add_argument("--full-refresh", type=float, default=300.0,
                        help="the dynamic segments' refresh_every in seconds (the worker recomputes them on it)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (PostgreSQL: they share the work through SKIP LOCKED claims)")
    parser.add_argument("--background", choices=("thread", "process"), default="thread",
                        help="the slow passes (upkeep, scheduled recomputes): a thread of each worker, or one "
                             "process of their own beside workers without them (touchflow worker --background "
                             "off / only, ADR 0070)")
    parser.add_argument("--warmup", type=float, default=150.0,
                        help="seconds before the first window (default: the journeys' 2-minute wait and 30 s)")
    args = parser.parse_args()
    from sqlalchemy import create_engine, func, select, text
    from tests.fakes.providers import FakeProviders, FaultPlan

    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings, normalise_database_url
    from touchflow.services.content import save_template
    from touchflow.services.guarding import set_guardrail_policy
    from touchflow.services.ingest import RawItem, record_events
    from touchflow.services.journeys import publish_journey
    from touchflow.services.metrics import metric_rows, refresh_rollups
    from touchflow.services.segments import create_segment
    from touchflow.store.tables import event_inbox, events, journey_runs, outbox, segment_members, segments

    workdir = Path(tempfile.mkdtemp(prefix="touchflow-soak-"))
    admin = None
    if args.database == "sqlite":
        url = f"sqlite:///{(workdir / 'soak.db').as_posix()}"
    else:
        admin_url = normalise_database_url(args.database)
        name = f"touchflow_soak_{os.getpid()}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{admin_url.rpartition('/')[0]}/{name}"
    config_dir = str(workdir / "config")  # the database's key file, as ``touchflow init`` makes it
    app = bootstrap(Settings(url, config_dir=config_dir))
    app.init_database()
    app.create_secret_key()
    save_template(app.services, "soak_sms", "sms", "", "{{ contact.email }} 欢迎加入", "text", by="bench")
    save_template(app.services, "soak_email", "email", "欢迎", "{{ contact.email }}，欢迎加入。", "text", by="bench")
    # whatever the hour: quiet hours (21:00–08:00 in Asia/Shanghai) would defer every SMS of an evening run
    set_guardrail_policy(app.services, {"quiet_hours": {"channels": []}}, actor="bench")
    for k in range(JOURNEYS):
        publish_journey(app.services, _journey(k), actor="bench")
    for key, condition in (("viewers", {"event": "page_view", "count": ">= 1"}),
                           ("signed_up", {"event": "signup", "count": ">= 1"})):
        create_segment(app.services, {"key": key, "name": key, "kind": "dynamic", "condition": condition,
                                      "refresh_every": f"{round(args.full_refresh)}s"},
                       actor="bench")
    fake = FakeProviders().start()
    fake.set_faults(FaultPlan(error_5xx=0.03, rate_429=0.02, retry_after_s=1, latency_s=0.02, seed=3))
    fake.record = lambda rec: None  # type: ignore[method-assign]  # keep the fake's memory flat
    fake.arrived = lambda path, body: None  # type: ignore[method-assign]
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    role = "thread" if args.background == "thread" else "off"
    workers = [ctx.Process(target=_worker, args=(url, config_dir, f"{fake.url}/sms", fake.SMS_TOKEN, stop, out, role))
               for _ in range(max(1, args.workers))]
    background = [ctx.Process(target=_worker, args=(url, config_dir, f"{fake.url}/sms", fake.SMS_TOKEN, stop, out,
                                                    "only"))] if args.background == "process" else []
    for worker in [*workers, *background]:
        worker.start()
    time.sleep(10)  # let the worker import and connect

    duration = args.minutes * 60
    started = time.time()
    warmup = min(args.warmup, duration / 2)
    window = 600.0 if duration - warmup >= 2400 else (duration - warmup) / 4
    first_start, first_end, last_start = started + warmup, started + warmup + window, started + duration - window
    ingest: list[tuple[float, float]] = []
    refreshes: list[tuple[float, float]] = []  # (at, seconds of a full recompute of both segments: the worker's)
    per_contacts: list[tuple[float, float]] = []  # (at, the same per 10,000 contacts)
    lags: dict[str, list[tuple[float, float]]] = {"entered journey": [], "joined segment": [], "sms sent": []}
    probed: list[int] = []  # the freshness sign-ups stored (acknowledged like the feed's)
    reports: list[tuple[float, float]] = []
    # (at, worker, feeder, worker anon, feeder anon); with several workers, the largest
    rss: list[tuple[float, float, float, float, float]] = []
    background_rss: list[float] = []  # with --background process: that process's anonymous RSS
    backlog: list[tuple[float, int]] = []  # (at, inbox rows waiting)
    acknowledged = 0  # a count, not the ids: a list of 600,000 ids grew the feeder by 50 MB in ten minutes
    halt = threading.Event()

    def freshness() -> None:
        """A sign-up every 10 s, followed until a marketer would see it: in its journey, its segment, its SMS."""
        with app.engine.connect() as c:
            segment_id = c.execute(select(segments.c.id).where(segments.c.key == "signed_up")).scalar_one()
        k, pending, next_at = 0, [], time.time() + 10
        while not halt.wait(0.1):
            if time.time() >= next_at:  # one more sign-up; those still pending are followed all the same
                k, next_at = k + 1, next_at + 10
                sent_at = time.time()
                report = record_events(app.services, "soak", [RawItem({"id": f"probe{k}", "type": "signup",
                                                                       "email": f"probe{k}@soak.test",
                                                                       "phone": f"138{k:08d}",
                                                                       "properties": {"campaign": "j0"}})])
                probed.append(report.accepted)
                with app.engine.connect() as c:
                    cid = c.execute(select(events.c.contact_id).where(events.c.id == report.event_ids[0])
                                    ).scalar_one()
                pending.append((sent_at, {
                    "entered journey": select(journey_runs.c.id).where(journey_runs.c.contact_id == cid),
                    "joined segment": select(segment_members.c.contact_id).where(
                        segment_members.c.segment_id == segment_id, segment_members.c.contact_id == cid),
                    "sms sent": select(outbox.c.id).where(outbox.c.contact_id == cid, outbox.c.channel == "sms",
                                                          outbox.c.status.in_(("sent", "delivered")))}))
            with app.engine.connect() as c:
                for sent_at, waiting in pending:
                    for name, query in list(waiting.items()):
                        # not seen in 10 minutes: the wait so far is kept (a lower bound)
                        if c.execute(query.limit(1)).first() is not None or time.time() - sent_at > 600:
                            lags[name].append((sent_at, time.time() - sent_at))
                            del waiting[name]
            pending = [p for p in pending if p[1]]

    def periodic() -> None:
        while not halt.wait(30):
            at, t = time.time(), time.perf_counter()
            refresh_rollups(app.services)
            today = datetime.now(UTC).date()
            metric_rows(app.services, start=today - timedelta(days=1), end=today)
            reports.append((at, time.perf_counter() - t))

    def sample_rss() -> None:
        while not halt.wait(5):
            rss.append((time.time(), max(_rss_of(w.pid or 0) for w in workers), current_rss_mb(),
                        max(_rss_of(w.pid or 0, "RssAnon") for w in workers), anon_rss_mb()))
            if background:
                background_rss.append(_rss_of(background[0].pid or 0, "RssAnon"))
            if len(rss) % 6 == 1:  # every 30 s: counting a backlog of millions took 0.3 s of the machine
                with app.engine.connect() as c:
                    backlog.append((time.time(),
                                    c.execute(select(func.count()).select_from(event_inbox)).scalar_one()))

    threads = [threading.Thread(target=target, daemon=True)
               for target in (periodic, sample_rss, freshness)]
    for thread in threads:
        thread.start()
    n = rejected = signed_up = 0
    every = max(1, round(1 / args.signups)) if args.signups > 0 else 0  # every ``every``-th event is a sign-up
    interval = BATCH / args.rate
    try:
        while time.time() - started < duration:
            due = started + (n // BATCH) * interval - time.time()
            if due > 0:
                time.sleep(due)
            batch = []
            earlier = signed_up  # sign-ups stored by earlier batches: the page views' visitors
            for _ in range(BATCH):
                n += 1
                if earlier == 0 or (every and n % every == 0):
                    signed_up += 1
                    batch.append(RawItem({"id": f"s{n}", "type": "signup", "email": f"new{signed_up}@soak.test",
                                          "phone": f"139{signed_up:08d}",
                                          "properties": {"campaign": f"j{signed_up % JOURNEYS}"}}))
                else:
                    who = {"email": f"new{(n * 7919) % earlier + 1}@soak.test"}
                    batch.append(RawItem({"id": f"s{n}", "type": "page_view", **who,
                                          "properties": {"url": "https://shop.example.cn/"}}))
            at, t = time.time(), time.perf_counter()
            report = record_events(app.services, "soak", batch)
            ingest.append((at, time.perf_counter() - t))
            acknowledged += sum(status != "rejected" for status in report.statuses)
            rejected += len(report.rejected)
    finally:
        elapsed = time.time() - started
        halt.set()
        stop.set()
        ticks: list[tuple[float, float]] = []
        parts: list[tuple[float, float, dict[str, float]]] = []  # (start, seconds, seconds by part) of every tick
        upkeeps: list[tuple[float, float, list[str]]] = []  # (start, seconds, tables) of every upkeep pass
        busy: list[tuple[float, float]] = []  # (at, share) of every load report
        work: dict[str, int] = {}  # what the workers' ticks did in all
        unfinished = False
        running = len(workers) + len(background)
        while running:  # a worker sends its tick times every 5 s; a tick still running after 120 s is cut off
            try:
                part = out.get(timeout=120)
            except queue.Empty:
                unfinished = True
                break
            if part is None:
                running -= 1
            elif "work" in part:
                work = {k: work.get(k, 0) + v for k, v in part["work"].items()}
            else:
                parts += part["ticks"]
                ticks += [(at, seconds) for at, seconds, _ in part["ticks"]]
                upkeeps += part["upkeep"]
                refreshes += [(at, took) for at, took, _ in part["refresh"]]
                per_contacts += [(at, took / max(1, population) * 10_000) for at, took, population in part["refresh"]]
                busy += part["busy"]
        for worker in [*workers, *background]:
            if unfinished:
                worker.terminate()
            worker.join(60)
        fake.stop()
    with app.engine.connect() as c:
        stored = c.execute(select(func.count()).select_from(events).where(events.c.source == "soak")).scalar_one()
        left = c.execute(select(func.count()).select_from(event_inbox)).scalar_one()
        sizes: dict[str, Any] = {"inbox rows left": f"{left:,}"}
        for table in ("events", "outbox", "run_steps", "journey_runs", "event_inbox", "segment_members"):
            if app.engine.dialect.name == "postgresql":  # a partitioned table: its partitions (events by month)
                size = c.execute(text(f"SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM "
                                      f"pg_partition_tree('{table}')), pg_total_relation_size('{table}'))")
                                 ).scalar_one()
                sizes[table] = f"{size / 2**20:.0f} MB"
            else:
                sizes[table] = f"{c.execute(text(f'SELECT count(*) FROM {table}')).scalar_one():,} rows"
    app.close()
    if admin is not None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "touchflow_soak_{os.getpid()}" WITH (FORCE)'))
    warm = [r for r in rss if r[0] >= first_start] or rss[:1]
    print(f"soak {elapsed / 60:.1f} min on {'SQLite' if admin is None else 'PostgreSQL'}, {len(workers)} "
          f"worker{'s' if len(workers) > 1 else ''}: fed {n:,} events "
          f"({n / elapsed:,.0f}/s of {args.rate:,}/s asked, {signed_up:,} sign-ups), {rejected} rejected; "
          f"warm-up {warmup:.0f} s, "
          f"windows of {window / 60:.1f} min: minutes {warmup / 60:.1f}–{(warmup + window) / 60:.1f} and "
          f"{(duration - window) / 60:.1f}–{duration / 60:.1f}")
    phases = [("ingest batch", ingest), ("worker tick", ticks), ("report", reports),
              *((f"lag: {name}", samples) for name, samples in lags.items()),
              ("full refresh", refreshes), ("  per 10k contacts", per_contacts)]
    heavy = [*refreshes, *((at, took) for at, took, _ in upkeeps)]  # the full refreshes and the upkeep passes
    for phase, samples in phases:
        s = _phase_stats([x for x in samples if x[0] >= first_start], first_end, last_start)
        print(f"{phase:20} n={s['n']:>6}  p50 {s['p50_first']:.0f} → {s['p50_last']:.0f} ms  "
              f"p99 {s['p99_first']:.0f} → {s['p99_last']:.0f} ms  drift {s['drift']:+.0%}")
        if phase.startswith(("ingest", "worker", "report", "lag")):
            q = _phase_stats(_outside([x for x in samples if x[0] >= first_start], heavy), first_end, last_start)
            print(f"{'':20} n={q['n']:>6}  outside full refreshes and upkeep: p99 {q['p99_first']:.0f} → "
                  f"{q['p99_last']:.0f} ms  drift {q['drift']:+.0%}")
    first_parts, last_parts = _parts(parts, first_start, first_end), _parts(parts, last_start, float("inf"))
    print("where the worker's ticks went, seconds a minute (first → last window), largest last:")
    for name in sorted(last_parts, key=lambda k: -last_parts[k])[:12]:
        print(f"  {name:22} {first_parts.get(name, 0.0) / window * 60:6.2f} → {last_parts[name] / window * 60:6.2f}")
    print(f"upkeep passes (vacuum/analyze, beside the ticks: a thread or the background process): {len(upkeeps)} "
          f"that did something, "
          f"{sum(u[1] for u in upkeeps):.1f} s in all, longest {max((u[1] for u in upkeeps), default=0.0):.1f} s; "
          + "; ".join(f"{(at - started) / 60:.1f} min {took:.1f} s {','.join(tables)}"
                      for at, took, tables in upkeeps[:40]))
    in_first = [b for at, b in busy if first_start <= at < first_end]
    in_last = [b for at, b in busy if at >= last_start]
    if in_first and in_last:
        print(f"busy share the worker reported (capacity, A8): {sum(in_first) / len(in_first):.0%} → "
              f"{sum(in_last) / len(in_last):.0%} (mean of the windows' reports; the alert's limit is 80 %)")
    if warm and rss:
        print(f"RSS after warm-up → end: worker {warm[0][1]:.0f} → {rss[-1][1]:.0f} MB, "
              f"feeder {warm[0][2]:.0f} → {rss[-1][2]:.0f} MB; anonymous (without SQLite's mapped file pages): "
              f"worker {warm[0][3]:.0f} → {rss[-1][3]:.0f} MB, feeder {warm[0][4]:.0f} → {rss[-1][4]:.0f} MB")
        if background_rss:
            after = background_rss[rss.index(warm[0]):] or background_rss  # sampled with `rss`, in step
            print(f"  the background process (upkeep, recomputes), anonymous: {after[0]:.0f} → {after[-1]:.0f} MB, "
                  f"highest {max(after):.0f} MB")
    if backlog:
        marks = [b for b in backlog if b[0] >= first_start][:1] + backlog[-1:]
        every = max(1, len(backlog) // 8)
        series = ", ".join(f"{(at - started) / 60:.1f} min {rows:,}" for at, rows in backlog[::every])
        print(f"inbox backlog after warm-up → end: {marks[0][1]:,} → {marks[-1][1]:,} rows ({series})")
    print(f"worker ticks: {len(ticks):,} in all, did {work or 'nothing reported'}")
    print(f"table sizes: {sizes}")
    if unfinished:
        print("the worker's last tick was still running 120 s after the feed stopped (cut off)")
    acknowledged += sum(probed)
    print(f"acknowledged {acknowledged:,} (with {sum(probed)} freshness sign-ups), stored {stored:,}: "
          f"{'nothing lost' if stored == acknowledged else 'LOST ' + str(acknowledged - stored)}")
    os._exit(0)


if __name__ == "__main__":
    main()
