"""The event store's write path alone: what a stored event costs (ADR 0054 measured monthly partitions with it).

    python bench/bench_event_store.py --database URL [--events 200000] [--batch 500] [--months 3]
                                      [--contacts 1000] [--slices 1]

A fresh database (it must be empty: the schema is migrated here) gets ``--contacts`` contacts, then ``--events``
events go through the repository exactly as ingest stores them (``existing_ids`` then ``insert``, one transaction
per batch), spread over ``--months`` months before now (``0``: over the last hour, as a live feed writes them,
all in one monthly partition). Then the same batches again: every id a duplicate (a client retrying), which must
store nothing. Prints events/s for both and the rows stored.

``--slices K`` also cuts the first pass into K equal parts and prints, per part, the batch latency p50 / p99 and,
on PostgreSQL, the blocks each index of ``events`` and ``event_ids`` had to read from outside shared buffers per
batch (each part is followed by an ``ANALYZE``, untimed, as the worker's upkeep does): how the cost of a write
grows with the table (issue 17's soak saw ingest's p99 drift upwards over an hour).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, text

from benchlib import log, percentile
from touchflow.bootstrap import bootstrap
from touchflow.config import Settings, normalise_database_url
from touchflow.domain.events import EventInput
from touchflow.store.tables import contacts, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=1)
    args = parser.parse_args()
    app = bootstrap(Settings(normalise_database_url(args.database)))
    try:
        app.init_database()
        now = datetime.now(UTC)
        with app.engine.begin() as c:
            c.execute(insert(contacts), [{"id": f"c{n}", "created_at": now, "updated_at": now, "custom": {},
                                          "lineage": {}} for n in range(args.contacts)])
        span = timedelta(days=30 * args.months) if args.months > 0 else timedelta(hours=1)
        # 2654435761 is a prime: each batch's events land on contacts scattered over the whole population
        batches = [[(EventInput(f"e{k}", "page_view", (), now - span * ((k * 7919) % 1000) / 1000, "web",
                                {"url": f"https://shop.example.cn/p/{k % 97}"}), f"c{k * 2654435761 % args.contacts}")
                    for k in range(start, min(args.events, start + args.batch))]
                   for start in range(0, args.events, args.batch)]
        postgres = app.engine.dialect.name == "postgresql"
        if postgres:
            _analyze(app.engine, "")
        if args.slices > 1:
            print("| events stored | events/s | batch p50 ms | batch p99 ms | index blocks read per batch |")
            print("|---:|---:|---:|---:|---|", flush=True)
        for label in ("new", "duplicate"):
            started = time.perf_counter()
            per_slice = max(1, -(-len(batches) // args.slices))
            times: list[float] = []
            reads = _index_reads(app.engine) if postgres else {}
            slice_started = started
            for n, batch in enumerate(batches, 1):
                began = time.perf_counter()
                with app.services.uow() as uow:
                    known = uow.events.existing_ids([e.id for e, _ in batch])
                    uow.events.insert([(e, c) for e, c in batch if e.id not in known], now)
                    uow.commit()
                times.append(time.perf_counter() - began)
                if label == "new" and args.slices > 1 and (n % per_slice == 0 or n == len(batches)):
                    after = _index_reads(app.engine) if postgres else {}
                    grown = sorted(((after[k] - reads.get(k, 0)) / len(times), k) for k in after)[::-1][:3]
                    stored = min(n * args.batch, args.events)
                    print(f"| {stored:,} | {len(times) * args.batch / (time.perf_counter() - slice_started):,.0f} "
                          f"| {percentile(times, 0.5) * 1000:.1f} | {percentile(times, 0.99) * 1000:.1f} | "
                          + ", ".join(f"{name} {blocks:.1f}" for blocks, name in grown) + " |", flush=True)
                    if postgres:  # as the worker's upkeep does (autovacuum is off on the test server)
                        _analyze(app.engine, "events, event_ids")
                    times, reads, slice_started = [], after, time.perf_counter()
            took = time.perf_counter() - started
            with app.engine.connect() as c:
                stored = int(c.execute(select(func.count()).select_from(events)).scalar_one())
            log(f"{label}: {args.events} events in {took:.1f} s = {args.events / took:,.0f}/s; rows stored {stored}")
    finally:
        app.close()


def _analyze(engine: Engine, tables: str) -> None:
    with engine.connect() as c:
        c.execute(text(f"ANALYZE {tables}"))
        c.commit()


def _index_reads(engine: Engine) -> dict[str, int]:
    """Blocks each index of the events' partitions and of ``event_ids`` read from outside shared buffers."""
    with engine.connect() as c:
        rows = c.execute(text("SELECT indexrelname, idx_blks_read FROM pg_statio_user_indexes "
                          "WHERE relname LIKE 'events%' OR relname = 'event_ids'"))
        return {str(name): int(blocks or 0) for name, blocks in rows}


if __name__ == "__main__":
    main()
