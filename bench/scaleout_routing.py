"""Trigger routing drained by N worker processes (bench_scaleout.py's routing workload).

The inbox is preloaded once (bench_triggers' seed: published journeys, events of known contacts, a share of
them matching a trigger); every process count drains a fresh copy. Each process calls
``JourneyRuntime.route_events`` (one claim of the inbox, ``FOR UPDATE SKIP LOCKED`` plus a per-contact
advisory lock on PostgreSQL) until the inbox is empty. A batch that comes back empty while rows are left means
the rows left are claimed by another process: it waits 10 ms and tries again (counted as an empty claim).

Nothing routed twice: the events the processes report add up to the events preloaded, and the runs entered
match the one-process count.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from typing import Any

import bench_triggers
from benchlib import percentile


def seed(url: str, events: int, journeys: int, contacts: int, match: float) -> None:
    """Migrate, publish ``journeys`` journeys and preload ``events`` inbox events (bench_triggers.prepare)."""
    args = argparse.Namespace(events=events, journeys=journeys, contacts=contacts, match=match, seed=1)
    bench_triggers.prepare(url, args)


def _route_process(url: str, batch: int, out: Any, go: Any) -> None:
    from sqlalchemy import func, select

    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.engine.runtime import JourneyRuntime
    from touchflow.store.tables import event_inbox

    app = bootstrap(Settings(url))
    runtime = JourneyRuntime(app.services, batch_size=batch)
    go.wait()
    started = time.perf_counter()
    latencies: list[float] = []
    total = entered = empty = 0
    while True:
        t = time.perf_counter()
        report = runtime.route_events()
        if report.events:
            latencies.append(time.perf_counter() - t)
            total += report.events
            entered += report.entered
            continue
        with app.engine.connect() as c:
            left = int(c.execute(select(func.count()).select_from(event_inbox)).scalar_one())
        if not left:
            break
        empty += 1
        time.sleep(0.01)
    out.put({"started": started, "finished": time.perf_counter(), "total": total, "entered": entered,
             "empty": empty, "latencies": latencies})
    app.close()


def released_together(target: Any, args: tuple[Any, ...], processes: int) -> tuple[list[dict[str, Any]], float, float]:
    """Start ``processes`` copies of ``target(*args, out, go)``, release them together once all have imported and
    connected, and collect what each put on ``out``: (their reports, elapsed seconds, p99 of their batches)."""
    ctx = multiprocessing.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(*args, out, go)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(8)  # let every process import and connect before the clock starts
    go.set()
    parts = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for part in parts for x in part["latencies"]]
    elapsed = max(p["finished"] for p in parts) - min(p["started"] for p in parts)
    return parts, elapsed, percentile(latencies, 0.99)


def drain(url: str, processes: int, batch: int) -> dict[str, Any]:
    """Start ``processes`` routers on ``url``, release them together, and sum what they did."""
    parts, elapsed, p99 = released_together(_route_process, (url, batch), processes)
    return {"done": sum(p["total"] for p in parts), "entered": sum(p["entered"] for p in parts),
            "empty": sum(p["empty"] for p in parts), "per_process": [p["total"] for p in parts],
            "elapsed": elapsed, "p99": p99}
