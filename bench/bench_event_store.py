"""The event store's write path alone: what a stored event costs (ADR 0054 measured monthly partitions with it).

    python bench/bench_event_store.py --database URL [--events 200000] [--batch 500] [--months 3]

A fresh database (it must be empty: the schema is migrated here) gets 1,000 contacts, then ``--events`` events
go through the repository exactly as ingest stores them (``existing_ids`` then ``insert``, one transaction per
batch), spread over ``--months`` months before now. Then the same batches again: every id a duplicate (a client
retrying), which must store nothing. Prints events/s for both and the rows stored.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from benchlib import log
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
    args = parser.parse_args()
    app = bootstrap(Settings(normalise_database_url(args.database)))
    try:
        app.init_database()
        now = datetime.now(UTC)
        with app.engine.begin() as c:
            c.execute(insert(contacts), [{"id": f"c{n}", "created_at": now, "updated_at": now, "custom": {},
                                          "lineage": {}} for n in range(1000)])
        span = timedelta(days=30 * args.months)
        batches = [[(EventInput(f"e{k}", "page_view", (), now - span * ((k * 7919) % 1000) / 1000, "web",
                                {"url": f"https://shop.example.cn/p/{k % 97}"}), f"c{k % 1000}")
                    for k in range(start, min(args.events, start + args.batch))]
                   for start in range(0, args.events, args.batch)]
        for label in ("new", "duplicate"):
            started = time.perf_counter()
            for batch in batches:
                with app.services.uow() as uow:
                    known = uow.events.existing_ids([e.id for e, _ in batch])
                    uow.events.insert([(e, c) for e, c in batch if e.id not in known], now)
                    uow.commit()
            took = time.perf_counter() - started
            with app.engine.connect() as c:
                stored = int(c.execute(select(func.count()).select_from(events)).scalar_one())
            log(f"{label}: {args.events} events in {took:.1f} s = {args.events / took:,.0f}/s; rows stored {stored}")
    finally:
        app.close()


if __name__ == "__main__":
    main()
