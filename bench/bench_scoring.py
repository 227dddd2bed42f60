"""Rescore everyone after a model change: N contacts with ~10 events each.

    python bench/bench_scoring.py [--contacts 100000] [--events-per-contact 10] [--database sqlite|URL]
                                  [--chunk 2000] [--seed 1] [--workers N]

1. A fresh database with ``--contacts`` contacts (a third with a company and job title, which the
   default model's attribute rules read) and about ``--events-per-contact`` events each over the last
   year, of the types the default model scores (page views, downloads, forms, consultations, clicks,
   unsubscribes …). Bulk-inserted, not timed.
2. **baseline**: the floor for "points per contact" in SQL over the same table in the same run: one
   ``SELECT contact_id, SUM(CASE type WHEN … THEN points END) … GROUP BY contact_id`` with the model's
   points, fetched into Python; no caps, no decay, no attributes, nothing written.
3. **touchflow**: ``rescore_all`` with the default model saved as a new version: per chunk of contacts,
   one range query for their events (times as integer microseconds computed in SQL, in index order), one
   pass of the batch scorer (caps per week, 90-day half-life, attribute conditions; the same scores as the
   reference ``score_contact``), and the writes (score upserts, a history row each, ``custom.lead_score``)
   as three set-based statements. From 50k contacts on a machine with 2+ CPUs, two worker processes load and
   score the next chunks while this process writes (``--workers 0``: all in one process). Then **again**
   after a points change: every stored score is updated.
4. Prints contacts/s for both, the ratio, the writing process's CPU seconds, and the peak RSS (VmHWM) after
   each phase (of the writing process; workers are apart). The aim (issue 5) is ≤ 30 s for 1M contacts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import log, peak_rss_mb

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
TYPES = [("page_view", 55), ("message_clicked", 12), ("content_download", 10), ("form_submit", 6), ("consult", 5),
         ("signup", 4), ("offline_event_attended", 3), ("unsubscribe", 3), ("complaint", 1), ("message_sent", 1)]
CHUNK = 50_000


def seed(url: str, contacts_n: int, per_contact: int, rnd: random.Random) -> int:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contacts, events

    app = bootstrap(Settings(url), clock=VirtualClock(T0))
    app.init_database()
    names, weights = zip(*TYPES, strict=True)
    total = 0
    with app.engine.begin() as c:
        rows = []
        for i in range(contacts_n):
            rich = i % 3 == 0
            rows.append((f"c{i:08d}", T0 - timedelta(days=400), T0, None, "公司" if rich else None,
                         "经理" if rich else None, {}, {}))
            if len(rows) == CHUNK:
                bulk_insert(c, contacts, ("id", "created_at", "updated_at", "merged_into", "company", "job_title",
                                          "custom", "lineage"), rows)
                rows = []
        bulk_insert(c, contacts, ("id", "created_at", "updated_at", "merged_into", "company", "job_title", "custom",
                                  "lineage"), rows)
        batch = []
        for i in range(contacts_n):
            for k in range(rnd.randint(per_contact - 3, per_contact + 3)):
                at = T0 - timedelta(seconds=rnd.randint(0, 365 * 86400))
                kind = rnd.choices(names, weights)[0]
                batch.append((f"e{i:08d}_{k}", f"c{i:08d}", kind, at, T0, "bench", {"url": "/p"}))
                total += 1
            if len(batch) >= CHUNK:
                bulk_insert(c, events, ("id", "contact_id", "type", "occurred_at", "received_at", "source",
                                        "properties"), batch)
                batch = []
        bulk_insert(c, events, ("id", "contact_id", "type", "occurred_at", "received_at", "source", "properties"),
                    batch)
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
    app.close()
    return total


def baseline(url: str) -> tuple[float, int]:
    from sqlalchemy import create_engine

    from touchflow.config import normalise_database_url
    from touchflow.domain.scoring.model import DEFAULT_MODEL, parse_model

    model = parse_model(DEFAULT_MODEL)
    cases = " ".join(f"WHEN '{r.event_type}' THEN {r.points}" for r in model.events)
    sql = f"SELECT contact_id, SUM(CASE type {cases} ELSE 0 END) FROM events GROUP BY contact_id"
    engine = create_engine(normalise_database_url(url))
    start = time.perf_counter()
    with engine.connect() as c:
        rows = c.exec_driver_sql(sql).fetchall()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, len(rows)


def touchflow(url: str, chunk: int, workers: int | None) -> tuple[float, float, int, float, float, float]:
    """Both passes, wall and CPU seconds of this process (the writer; with workers, they score elsewhere)."""
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.domain.scoring.model import DEFAULT_MODEL
    from touchflow.services.scoring import rescore_all, save_model

    app = bootstrap(Settings(url), clock=VirtualClock(T0 + timedelta(hours=1)))
    save_model(app.services, DEFAULT_MODEL, actor="bench", note="bench")
    start, cpu = time.perf_counter(), time.process_time()
    done = rescore_all(app.services, chunk, workers)
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - cpu
    changed = {**DEFAULT_MODEL, "events": [{**r, "points": r["points"] * 2} for r in DEFAULT_MODEL["events"]]}
    save_model(app.services, changed, actor="bench", note="points doubled")
    start, cpu = time.perf_counter(), time.process_time()
    rescore_all(app.services, chunk, workers)
    again, again_cpu = time.perf_counter() - start, time.process_time() - cpu
    app.close()
    return elapsed, elapsed_cpu, done, again, again_cpu, peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--database", default="sqlite", help="sqlite (a temporary file) or a database URL")
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None,
                        help="scoring processes beside the writer (default: as rescore_all decides; 0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.database == "sqlite" else args.database
        start = time.perf_counter()
        events_n = seed(url, args.contacts, args.events_per_contact, random.Random(args.seed))
        log(f"seeded {args.contacts:,} contacts, {events_n:,} events in {time.perf_counter() - start:.1f} s")
        seeded_rss = peak_rss_mb()
        base_s, base_n = baseline(url)
        log(f"baseline: {base_n:,} contacts in {base_s:.2f} s")
        # its own process, for its own peak RSS; not a multiprocessing.Pool: its daemons may not start workers
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            tf_s, tf_cpu, tf_n, again_s, again_cpu, tf_rss = pool.submit(touchflow, url, args.chunk,
                                                                         args.workers).result()
        log(f"touchflow: {tf_n:,} contacts in {tf_s:.2f} s, again after a points change in {again_s:.2f} s")
        workers = "as rescore_all decides" if args.workers is None else args.workers
        print(f"rescore {tf_n:,} contacts ({events_n:,} events, {args.database.split(':')[0]}, workers: {workers}):")
        print(f"  baseline (SQL sum of points per type): {base_n / base_s:,.0f} contacts/s ({base_s:.2f} s)")
        print(f"  touchflow rescore_all:                 {tf_n / tf_s:,.0f} contacts/s ({tf_s:.2f} s, "
              f"writer's CPU {tf_cpu:.2f} s)")
        print(f"  ratio touchflow/baseline time: {tf_s / base_s:.1f}×; projected for 1M: "
              f"{tf_s * 1_000_000 / max(tf_n, 1):.0f} s (aim ≤ 30 s)")
        print(f"  again after a points change (every score updated): {tf_n / again_s:,.0f} contacts/s "
              f"({again_s:.2f} s, writer's CPU {again_cpu:.2f} s, {again_s / base_s:.1f}× the baseline; "
              f"projected for 1M: {again_s * 1_000_000 / max(tf_n, 1):.0f} s)")
        print(f"  peak RSS: rescoring process {tf_rss:.0f} MB (seeding process {seeded_rss:.0f} MB)")


if __name__ == "__main__":
    main()
