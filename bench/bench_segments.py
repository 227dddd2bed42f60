"""Segments: full recompute of 20 segments, one hot segment against a hand-written query, incremental freshness.

    python bench/bench_segments.py [--contacts 100000] [--events 1000000] [--database sqlite|URL]
                                   [--incremental 100000] [--rate 1000] [--seconds 10] [--seed 1] [--keep]
                                   [--save-seeded FILE | --seeded FILE] [--save-built FILE | --built FILE]
                                   [--drain-seconds S] [--range-contacts N]

``--save-seeded`` keeps a copy of the freshly seeded SQLite file; ``--seeded`` starts from such a copy
(sizes and seed must match what it was made with) so that repeated runs at 1M/10M skip the seeding.
``--save-built`` keeps a copy after the initial build (step 2) and ``--built`` starts from one, skipping the
build (~200 s at 1M). ``--drain-seconds`` stops the incremental drain after that long (the rest is reported as
left in the queue). ``--seconds 0`` skips the freshness phase. ``--range-contacts`` sets how many contacts a full
recompute holds at once (ADR 0068; 50,000 by default): ``--range-contacts 1000000`` at 1M is one pass over everyone,
as before ranges, to measure what they cost in time against what they save in memory.

Each phase's row is printed as soon as it ends (a run stopped early keeps what it measured).

1. A fresh database with ``--contacts`` contacts (city, industry, stage, age, a custom level, tags) and
   ``--events`` events over the last year (page views, downloads, orders with amounts, opens, forms),
   bulk-inserted and ANALYZEd (not timed; production runs ``PRAGMA optimize`` / autovacuum alike).
2. **Initial build**: 20 dynamic segments of mixed kinds (attributes, tags, counts and sums in windows,
   absence, RFM, nesting) created through ``services.segments.create_segment``: members computed and
   a ``segment_entered`` event (with its inbox row) written for each.
3. **Full recompute**: one hour later every segment is recomputed in one pass (``refresh_segments``,
   what the worker's schedule does): the safety net, where few memberships change. Its memory: the anonymous
   RSS before and the highest sampled while it ran (one contact range at a time, ADR 0068).
4. **The hot segment** "≥ 2 downloads in 30 days and no purchase in 90 days" alone: its refresh and
   its compiled count (``preview``) next to a hand-written SQL query through the driver over the same
   indexed ``events`` table, in the same run.
5. **Incremental**: ``--incremental`` new events recorded through ``record_events`` (batches of 1,000),
   then the worker's ``update_segments`` drains the dirty contacts: the membership work alone is timed.
6. **Freshness**: ``--rate`` events/s for ``--seconds`` from one thread while a worker thread runs
   ``update_segments`` in a loop; lag = from an ingest batch's commit to the commit that evaluated it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import touchflow.store.segments as segment_store  # RANGE_CONTACTS is read from here when a recompute runs
from bench_timers import Databases
from benchlib import log, peak_anon_during, peak_rss_mb, percentile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHUNK = 50_000
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "苏州", "南京"]
INDUSTRIES = ["制造业", "零售", "金融", "教育", "医疗", "互联网"]
STAGES = ["new_visitor", "prospect", "intent", "customer", "dormant"]
TAGS = ["vip", "newsletter", "webinar_2025", "churn_risk"]
EVENT_MIX = [("page_view", 0.5), ("content_download", 0.15), ("message_opened", 0.15), ("form_submit", 0.1),
             ("order_paid", 0.1)]
HOT = {"all": [{"event": "content_download", "count": ">= 2", "within": "30d"}, {"no": "order_paid", "within": "90d"}]}
SEGMENTS: list[tuple[str, object]] = [
    ("hot_leads", HOT),
    ("shanghai", {"attr": "city", "eq": "上海"}),
    ("tier1_cities", {"attr": "city", "in": ["上海", "北京", "深圳", "广州"]}),
    ("manufacturing", {"attr": "industry", "eq": "制造业"}),
    ("intent_or_customer", {"stage": ["intent", "customer"]}),
    ("over_40", {"attr": "age", "gte": 40}),
    ("gold_members", {"attr": "custom.level", "eq": "gold"}),
    ("vip", {"tag": "vip"}),
    ("active_7d", {"event": "page_view", "within": "7d"}),
    ("readers_90d", {"event": "content_download", "count": ">= 3", "within": "90d"}),
    ("openers_30d", {"event": "message_opened", "within": "30d"}),
    ("buyers_365d", {"event": "order_paid", "within": "365d"}),
    ("big_spenders", {"sum": "order_paid.amount", "gte": 3000, "within": "365d"}),
    ("rfm_champions", {"all": [{"event": "order_paid", "within": "30d"},
                               {"event": "order_paid", "count": ">= 3", "within": "365d"},
                               {"sum": "order_paid.amount", "gte": 2000, "within": "365d"}]}),
    ("rfm_at_risk", {"all": [{"event": "order_paid", "count": ">= 2", "within": "365d"},
                             {"no": "order_paid", "within": "90d"}]}),
    ("dormant_90d", {"all": [{"no": "page_view", "within": "90d"}, {"no": "message_opened", "within": "90d"}]}),
    ("whitepaper_fans", {"event": "content_download", "where": {"content_type": "whitepaper"}, "within": "180d"}),
    ("form_no_order", {"all": [{"event": "form_submit", "within": "60d"}, {"no": "order_paid"}]}),
    ("shanghai_hot", {"all": [{"in_segment": "hot_leads"}, {"in_segment": "shanghai"}]}),
    ("vip_not_buying", {"all": [{"in_segment": "vip"}, {"not": {"in_segment": "buyers_365d"}}]}),
]
HANDWRITTEN = {
    "sqlite": ("SELECT count(*) FROM (SELECT contact_id FROM events WHERE type = 'content_download' "
               "AND occurred_at > ? AND occurred_at <= ? GROUP BY contact_id HAVING count(*) >= 2 "
               "EXCEPT SELECT contact_id FROM events WHERE type = 'order_paid' AND occurred_at > ? "
               "AND occurred_at <= ?)"),
    "postgresql": ("SELECT count(*) FROM (SELECT contact_id FROM events WHERE type = 'content_download' "
                   "AND occurred_at > %s AND occurred_at <= %s GROUP BY contact_id HAVING count(*) >= 2 "
                   "EXCEPT SELECT contact_id FROM events WHERE type = 'order_paid' AND occurred_at > %s "
                   "AND occurred_at <= %s) AS hot"),
}


def _cid(n: int) -> str:
    return f"c{n:09d}"


def _contacts(n: int, rnd: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        level = rnd.choice(["gold", "silver", "bronze", None])
        yield (_cid(i), T0 - timedelta(days=400), T0 - timedelta(days=400), rnd.choice(CITIES),
               rnd.choice(INDUSTRIES), rnd.choice(STAGES), rnd.randint(18, 70), {"level": level} if level else {}, {})


def _event(n: int, contact: int, at: datetime, rnd: random.Random) -> tuple[Any, ...]:
    roll, acc = rnd.random(), 0.0
    kind = EVENT_MIX[-1][0]
    for name, share in EVENT_MIX:
        acc += share
        if roll < acc:
            kind = name
            break
    props: dict[str, Any] = {}
    if kind == "content_download":
        props = {"content_id": f"a{rnd.randint(1, 50)}", "content_type": rnd.choice(["whitepaper", "case_study"])}
    elif kind == "order_paid":
        props = {"order_id": f"o{n}", "amount": rnd.choice([99, 299, 599, 1299, 2999])}
    elif kind == "page_view":
        props = {"url": rnd.choice(["/", "/pricing", "/blog", "/product"])}
    elif kind == "form_submit":
        props = {"form_id": f"f{rnd.randint(1, 5)}"}
    else:  # message_opened
        props = {"message_id": f"m{n}", "channel": "email"}
    return (f"e{n:010d}", _cid(contact), kind, at, at, "bench", props)


def _events(n: int, contacts: int, rnd: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        contact = min(int(rnd.paretovariate(1.2)) - 1, contacts - 1) if rnd.random() < 0.2 else rnd.randrange(contacts)
        yield _event(i, contact, T0 - timedelta(seconds=rnd.randrange(365 * 86400)), rnd)


def seed(url: str, n_contacts: int, n_events: int, seed_value: int) -> float:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contact_tags, contacts, events

    started = time.perf_counter()
    rnd = random.Random(seed_value)
    app = bootstrap(Settings(url), clock=VirtualClock(T0))
    try:
        app.init_database()
        tags = ((_cid(i), t, "bench") for i in range(n_contacts) for t in TAGS if rnd.random() < 0.15)
        with app.engine.begin() as c:  # build the events indexes once after loading, not row by row
            for index in events.indexes:
                index.drop(c)
        for table, columns, rows in (
                (contacts, ("id", "created_at", "updated_at", "city", "industry", "lifecycle_stage", "age", "custom",
                            "lineage"), _contacts(n_contacts, rnd)),
                (contact_tags, ("contact_id", "tag", "set_by"), tags),
                (events, ("id", "contact_id", "type", "occurred_at", "received_at", "source", "properties"),
                 _events(n_events, n_contacts, rnd))):
            done = 0
            while chunk := list(itertools.islice(rows, CHUNK)):
                with app.engine.begin() as c:
                    bulk_insert(c, table, columns, chunk)
                done += len(chunk)
            log(f"  seeded {done:,} {table.name}")
        with app.engine.begin() as c:
            for index in events.indexes:
                index.create(c)
            c.exec_driver_sql("ANALYZE")
    finally:
        app.close()
    return time.perf_counter() - started


def _upgrade(url: str) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings

    app = bootstrap(Settings(url), clock=VirtualClock(T0))
    try:
        app.init_database()
    finally:
        app.close()


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def run(url: str, args: argparse.Namespace) -> list[str]:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.ingest import RawItem, record_events
    from touchflow.services.segments import (
        create_segment,
        preview_segment,
        refresh_segment,
        refresh_segments,
        update_segments,
    )
    from touchflow.store.db import watch_write_holds

    out: list[str] = []

    def emit(line: str) -> None:
        out.append(line)
        print(line, flush=True)

    clock = VirtualClock(T0)
    app = bootstrap(Settings(url), clock=clock)
    dialect = app.engine.dialect.name
    try:
        # 2. initial build
        build: list[tuple[str, float, int]] = []
        if args.built is None:
            for key, condition in SEGMENTS:
                seconds, summary = _timed(create_segment, app.services,
                                          {"key": key, "name": key, "condition": condition}, actor="bench")
                build.append((key, seconds, summary.members))
            total_build = sum(s for _, s, _ in build)
            members = sum(m for _, _, m in build)
            emit(f"| initial build (20 segments, {members:,} memberships + entered events) | {total_build:.2f} s |")
            if args.save_built is not None and dialect == "sqlite":
                app.engine.dispose()
                with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copyfile(url.removeprefix("sqlite:///"), args.save_built)
                log(f"  kept the built database as {args.save_built}")
        # 3. full recompute, one hour later: the scheduled pass over every segment
        clock.advance(timedelta(hours=1))
        (total, changes), before_mb, peak_mb = peak_anon_during(lambda: _timed(refresh_segments, app.services))
        moved = sum(len(c.entered) + len(c.left) for c in changes.values())
        emit(f"| full recompute of 20 segments, one pass (1 h later, {moved:,} changes) | {total:.2f} s |")
        emit(f"| full recompute: anonymous RSS before → highest during | {before_mb:.0f} → {peak_mb:.0f} MB |")
        clock.advance(timedelta(minutes=1))
        hot_refresh, _ = _timed(refresh_segment, app.services, "hot_leads")
        # 4. the hot segment vs a hand-written query
        hot_build = next((s for k, s, _ in build if k == "hot_leads"), float("nan"))
        preview_s, preview = _timed(preview_segment, app.services, {"key": "hot", "name": "hot", "condition": HOT}, 0)
        now = clock.now()
        params = (now - timedelta(days=30), now, now - timedelta(days=90), now)
        raw = app.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if dialect == "sqlite":
                params = tuple(p.replace(tzinfo=None).isoformat(" ", "microseconds") for p in params)  # type: ignore[misc]
            t0 = time.perf_counter()
            cursor.execute(HANDWRITTEN[dialect], params)
            hand_count = cursor.fetchone()[0]
            hand_s = time.perf_counter() - t0
        finally:
            raw.close()
        emit(f"| hot segment: initial build ({preview.count:,} members) | {hot_build:.3f} s |")
        emit(f"| hot segment: recompute (refresh) | {hot_refresh:.3f} s |")
        emit(f"| hot segment: compiled count (preview) | {preview_s:.3f} s |")
        emit(f"| hot segment: hand-written SQL count ({hand_count:,}) | {hand_s:.3f} s |")
        emit(f"| ratio compiled / hand-written | {preview_s / hand_s:.2f}× "
                   f"({'same' if hand_count == preview.count else 'DIFFERENT'} count) |")
        # 5. incremental
        rnd = random.Random(args.seed + 7)
        n_contacts = args.contacts

        def items(n: int, start: int) -> list[RawItem]:
            rows = []
            for i in range(n):
                _, contact, kind, _, _, _, props = _event(start + i, rnd.randrange(n_contacts), clock.now(), rnd)
                rows.append(RawItem({"id": f"inc{start + i}", "type": kind, "crm_id": contact,
                                     "occurred_at": clock.now().isoformat(), "properties": props}))
            return rows

        _link_crm_ids(app, n_contacts)
        clock.advance(timedelta(minutes=1))
        ingest_s = 0.0
        for start in range(0, args.incremental, 1000):
            seconds, report = _timed(record_events, app.services, "bench",
                                     items(min(1000, args.incremental - start), 10**9 + start))
            assert not report.rejected, report.rejected[:3]
            ingest_s += seconds
        membership_events = "SELECT count(*) FROM events WHERE type IN ('segment_entered', 'segment_left')"
        with app.engine.connect() as c:
            dirty = c.exec_driver_sql("SELECT count(*), count(DISTINCT contact_id) FROM segment_dirty").one()
            changes_before = c.exec_driver_sql(membership_events).scalar_one()
        emit(f"| incremental: record {args.incremental:,} events (ingest, for scale) | {ingest_s:.2f} s |")
        log(f"  draining {dirty[0]:,} queue rows ({dirty[1]:,} contacts) …")
        deadline = None if args.drain_seconds is None else time.perf_counter() + args.drain_seconds
        with watch_write_holds() as holds:
            work_s, drained = _timed(update_segments, app.services, 50_000, 0, deadline=deadline)
        with app.engine.connect() as c:
            changes = c.exec_driver_sql(membership_events).scalar_one() - changes_before
            left_over = c.exec_driver_sql("SELECT count(*) FROM segment_dirty").scalar_one()
        stopped = f", stopped after {args.drain_seconds:g} s with {left_over:,} rows left" if left_over else ""
        emit(f"| incremental: membership work for {dirty[1]:,} dirty contacts ({drained:,} queue rows{stopped}, "
             f"{changes:,} memberships changed) | {work_s:.2f} s |")
        held = sum(h.seconds for h in holds)
        longest = max((h.seconds for h in holds), default=0.0)
        emit(f"| … write transactions / write lock held / longest hold / wall | {len(holds):,} / {held:.2f} s / "
             f"{1000 * longest:.0f} ms / {work_s:.2f} s |")
        # 6. freshness under a steady rate
        if args.seconds > 0:
            lags = freshness(app, items, args.rate, args.seconds)
            emit(f"| freshness at {args.rate:,} events/s for {args.seconds} s: lag p50 / p99 / max "
                 f"| {percentile(lags, .5):.2f} / {percentile(lags, .99):.2f} / {max(lags):.2f} s |")
    finally:
        app.close()
    return out


def _link_crm_ids(app: Any, n: int) -> None:
    """Give every contact a crm identity, so new events resolve to seeded contacts."""
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contact_identities

    rows = ((("crm", _cid(i)), i) for i in range(n))
    while chunk := list(itertools.islice(rows, CHUNK)):
        with app.engine.begin() as c:
            bulk_insert(c, contact_identities, ("kind", "value", "contact_id", "source", "created_at"),
                        [(k, v, _cid(i), "bench", T0) for (k, v), i in chunk])


def freshness(app: Any, items: Any, rate: int, seconds: int) -> list[float]:
    """Ingest ``rate`` events/s in batches of rate/10 every 100 ms; a worker thread loops ``update_segments``.

    ``update_segments`` drains until the queue is empty, so a batch committed before a worker pass
    began has been evaluated when that pass ends: its lag is that end minus its commit time.
    """
    from touchflow.services.ingest import record_events
    from touchflow.services.segments import update_segments

    stop = threading.Event()
    committed: list[float] = []
    passes: list[tuple[float, float]] = []  # (began, ended)

    def worker() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            update_segments(app.services, max_refreshes=0)
            passes.append((began, time.perf_counter()))
            time.sleep(0.01)

    thread = threading.Thread(target=worker)
    thread.start()
    per_batch = max(1, rate // 10)
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        record_events(app.services, "bench", items(per_batch, 2 * 10**9 + n))
        committed.append(time.perf_counter())
        n += per_batch
        time.sleep(max(0.0, start + n / rate - time.perf_counter()))
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and (not passes or passes[-1][0] < committed[-1]):
        time.sleep(0.05)
    stop.set()
    thread.join()
    achieved = n / (committed[-1] - start)
    log(f"  freshness: {n:,} events at {achieved:,.0f}/s, {len(passes)} worker passes")
    return [next((end - at for began, end in passes if began >= at), float("inf")) for at in committed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--incremental", type=int, default=100_000, help="new events for the incremental phase")
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the freshness phase")
    parser.add_argument("--seconds", type=int, default=10, help="length of the freshness phase")
    parser.add_argument("--database", default="sqlite", help="'sqlite' (a fresh file) or a PostgreSQL URL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--save-seeded", type=Path, help="copy the freshly seeded SQLite file here")
    parser.add_argument("--seeded", type=Path, help="start from a copy of this seeded SQLite file")
    parser.add_argument("--save-built", type=Path, help="copy the SQLite file here after the initial build")
    parser.add_argument("--built", type=Path, help="start from a copy of this built SQLite file (skips the build)")
    parser.add_argument("--drain-seconds", type=float, help="stop the incremental drain after this long")
    parser.add_argument("--range-contacts", type=int, help="contacts a full recompute holds at once (ADR 0068)")
    args = parser.parse_args(argv)
    if args.range_contacts is not None:
        segment_store.RANGE_CONTACTS = args.range_contacts
    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-segments-"))
    databases = Databases(args.database, workdir, prefix="touchflow_bench_segments")
    try:
        source = args.built or args.seeded
        if source is not None and databases.sqlite:
            log(f"copying the {'built' if args.built else 'seeded'} database {source} …")
            started = time.perf_counter()
            shutil.copyfile(source, workdir / "touchflow.db")
            _upgrade(databases.url)  # a copy made before a schema change gets it (an index build at 10M: ~1 min)
            seeding = time.perf_counter() - started
        else:
            log(f"seeding {args.contacts:,} contacts, {args.events:,} events …")
            seeding = seed(databases.url, args.contacts, args.events, args.seed)
            if args.save_seeded is not None and databases.sqlite:
                shutil.copyfile(workdir / "touchflow.db", args.save_seeded)
        log("measuring …")
        database = "sqlite (file)" if args.database == "sqlite" else "postgresql"
        print(f"## Segments: {args.contacts:,} contacts, {args.events:,} events (seed {args.seed})\n")
        print(f"Database: {database}; SQLite {sqlite3.sqlite_version}; Python {sys.version.split()[0]} on "
              f"{sys.platform}, {os.cpu_count()} CPUs. Seeded in {seeding:.1f} s (not timed). "
              f"Load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}. Full recompute in ranges of "
              f"{segment_store.RANGE_CONTACTS:,} contacts.\n")
        print("| phase | time |")
        print("|---|---:|", flush=True)
        run(databases.url, args)
    finally:
        if args.keep:
            log(f"kept {workdir} ({databases.url})")
        else:
            databases.drop()
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nPeak RSS {peak_rss_mb():.0f} MB; load average after: "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
