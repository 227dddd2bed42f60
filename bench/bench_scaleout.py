"""Scale-out on PostgreSQL: the same work drained by 1, 2 and 4 worker processes, ingest through 1 and 2 API servers.

    python bench/bench_scaleout.py --database postgresql://postgres@127.0.0.1:5432/test
                                   [--recipients 20000] [--runs 20000] [--events 20000] [--processes 1,2,4]
                                   [--ingest-seconds 15] [--api-processes 1,2] [--only routing,ingest]

Workloads (each seeded once into a template database, then copied fresh for every process count):

* **broadcast**: ``--recipients`` queued SMS (bench_broadcast's seed: caps, quiet hours, consent) drained by N
  processes of one ``Dispatcher`` loop each, through a fake SMS provider in its own process;
* **timer drain**: ``--runs`` runs waiting on a timer (bench_timers' seed) drained by N processes calling
  ``JourneyRuntime.run_due`` until nothing is due;
* **trigger routing**: ``--events`` events preloaded into the journey inbox (bench_triggers' seed, ``--journeys``
  journeys, ``--contacts`` contacts) drained by N processes calling ``JourneyRuntime.route_events``
  (scaleout_routing.py); the events routed must add up to the events preloaded and the runs entered must
  not change with N;
* **ingest**: ``POST /v1/events`` (batches of ``--ingest-batch``) through 1 and 2 ``touchflow serve --no-worker``
  processes for ``--ingest-seconds``, from a client process with ``--concurrency`` requests in flight spread
  over the servers (scaleout_ingest.py); every acknowledged event must be stored.

Prints, per workload and N, the rate, the speed-up over one process, the batch (or acknowledgement) latency, the
load average before and after, and what PostgreSQL's backends were doing (scaleout_waits.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes

import bench_broadcast
import bench_timers
import scaleout_ingest
import scaleout_routing
from benchlib import log, percentile
from scaleout_waits import WaitSampler


def _timer_process(url: str, batch: int, out: Any, go: Any) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.engine.runtime import JourneyRuntime

    clock = VirtualClock(bench_timers.T0 + timedelta(seconds=1))
    app = bootstrap(Settings(url), clock=clock)
    runtime = JourneyRuntime(app.services, batch_size=batch)
    go.wait()
    started = time.perf_counter()
    latencies: list[float] = []
    total = 0
    while True:
        t = time.perf_counter()
        report = runtime.run_due()
        if not report.timers:
            break
        latencies.append(time.perf_counter() - t)
        total += report.timers
    out.put({"started": started, "finished": time.perf_counter(), "total": total, "latencies": latencies})
    app.close()


def _timers(url: str, processes: int, batch: int) -> dict[str, Any]:
    parts, elapsed, p99 = scaleout_routing.released_together(_timer_process, (url, batch), processes)
    return {"done": sum(p["total"] for p in parts), "elapsed": elapsed, "p99": p99}


def _copy(admin: Any, template: str, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))


def _workloads(args: argparse.Namespace) -> list[str]:
    chosen = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"--only: unknown workload(s) {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    return chosen


def _seed(args: argparse.Namespace, base: str, templates: dict[str, str], workdir: Path) -> str:
    """Seed every template chosen; returns the ingest API key (empty without ingest)."""
    if "broadcast" in templates:
        bench_broadcast.seed(f"{base}/{templates['broadcast']}", args.recipients, random.Random(1))
    if "timers" in templates:
        bench_timers.seed(f"{base}/{templates['timers']}", args.runs, 1)
    if "routing" in templates:
        scaleout_routing.seed(f"{base}/{templates['routing']}", args.events, args.journeys, args.contacts,
                              args.match)
    if "ingest" not in templates:
        return ""
    key_file = workdir / "touchflow.key"  # the servers find it through the environment, as in docs/deploy.md
    os.environ["TOUCHFLOW_SECRET_KEY_FILE"] = str(key_file)
    return scaleout_ingest.prepare(f"{base}/{templates['ingest']}", args.pool)


def _measure(workload: str, n: int, url: str, args: argparse.Namespace, provider: str, key: str,
             workdir: Path) -> tuple[float, float, str]:
    """(rate, latency p99 in s, remarks) of one workload with ``n`` processes on a fresh copy at ``url``."""
    if workload == "broadcast":
        found = bench_broadcast._run("touchflow", url, provider, args.batch, 1, n)
        return sum(found["statuses"].values()) / found["elapsed"], found["p99"], ""
    if workload == "timers":
        timers = _timers(url, n, args.batch)
        assert timers["done"] == args.runs, timers
        return timers["done"] / timers["elapsed"], timers["p99"], ""
    if workload == "routing":
        routed = scaleout_routing.drain(url, n, args.batch)
        assert routed["done"] == args.events, routed  # more would be an event routed twice
        return (routed["done"] / routed["elapsed"], routed["p99"],
                f"{routed['entered']:,} entered, per process {routed['per_process']}, "
                f"{routed['empty']} empty claims")
    found = scaleout_ingest.run(url, key, n, workdir, seconds=args.ingest_seconds, batch=args.ingest_batch,
                                concurrency=args.concurrency, pool=args.pool, write_slots=args.write_slots)
    lost = "nothing lost" if not found["missing"] else f"{found['missing']:,} ACKNOWLEDGED BUT MISSING"
    return (found["stored"] / found["elapsed"], percentile(found["latencies"], 0.99),
            f"ack p50 {percentile(found['latencies'], 0.5) * 1000:.0f} ms; {found['acked']:,} acknowledged, "
            f"{found['rows']:,} stored: {lost}; requests per server {found['requests']}, "
            f"{found['retries']} retried, failures {found['failures'] or 'none'}; CPU (cores) client "
            f"{found['client_cpu']:.2f}, servers {', '.join(f'{c:.2f}' for c in found['server_cpu'])}")


WORKLOADS = {"broadcast": "decided/s", "timers": "runs/s", "routing": "events/s", "ingest": "events/s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL URL the bench may create databases on")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=20_000, help="inbox events for the routing workload")
    parser.add_argument("--journeys", type=int, default=50, help="published journeys for the routing workload")
    parser.add_argument("--contacts", type=int, default=5_000, help="contacts the routed events come from")
    parser.add_argument("--match", type=float, default=0.1, help="share of routed events matching a trigger")
    parser.add_argument("--processes", default="1,2,4", help="worker processes (broadcast, timers, routing)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--api-processes", default="1,2", help="API servers for the ingest workload")
    parser.add_argument("--ingest-seconds", type=float, default=15.0)
    parser.add_argument("--ingest-batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8, help="ingest requests in flight")
    parser.add_argument("--write-slots", type=int, default=4, help="serve --write-slots (docs/deploy.md)")
    parser.add_argument("--pool", type=int, default=10_000, help="known contacts seeded for ingest")
    parser.add_argument("--only", help=f"comma-separated workloads among {', '.join(WORKLOADS)} (default all)")
    args = parser.parse_args()
    from sqlalchemy import create_engine, text

    from touchflow.config import normalise_database_url

    chosen = _workloads(args)
    admin_url = normalise_database_url(args.database)
    base = admin_url.rpartition("/")[0]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    pid = os.getpid()
    templates = {w: f"tf_scale_{w}_{pid}" for w in chosen}
    target = f"tf_scale_run_{pid}"
    counts = {w: [int(n) for n in (args.api_processes if w == "ingest" else args.processes).split(",")]
              for w in chosen}
    results: dict[str, list[tuple[int, float, float, str, str]]] = {w: [] for w in chosen}
    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-scaleout-"))
    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=bench_broadcast._provider, args=(ports, args.latency, stop))
    server.start()
    provider = ports.get()
    try:
        for name in templates.values():
            _copy(admin, "template1", name)
        key = _seed(args, base, templates, workdir)
        log("seeded")
        for round_ in range(max(len(c) for c in counts.values())):  # 1 process of each workload, then 2, …
            for workload in chosen:
                if round_ >= len(counts[workload]):
                    continue
                n = counts[workload][round_]
                _copy(admin, templates[workload], target)
                load_before = os.getloadavg()[0]
                with WaitSampler(admin, target) as waits:
                    rate, p99, remarks = _measure(workload, n, f"{base}/{target}", args, provider, key, workdir)
                load = f"load {load_before:.1f} → {os.getloadavg()[0]:.1f}"
                results[workload].append((n, rate, p99, load, f"{remarks}; backends: {waits.summary()}"))
                log(f"{workload} × {n}: {rate:,.0f} {WORKLOADS[workload]} ({load})")
    finally:
        stop.set()
        server.join()
        with admin.connect() as c:
            for name in [*templates.values(), target]:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"PostgreSQL, {os.cpu_count()} CPU(s), batch {args.batch}; broadcast {args.recipients:,} recipients "
          f"(provider latency {args.latency * 1000:.0f} ms), timer drain {args.runs:,} runs, routing "
          f"{args.events:,} events ({args.journeys} journeys, {args.contacts:,} contacts, match {args.match}), "
          f"ingest {args.ingest_seconds:.0f} s of batches of {args.ingest_batch} at concurrency "
          f"{args.concurrency}, --write-slots {args.write_slots}")
    for workload in chosen:
        one = min(results[workload])[1]  # the fewest processes: the base of the speed-up, whatever the order
        for n, rate, p99, load, remarks in results[workload]:
            what = "ack" if workload == "ingest" else "batch"
            print(f"{workload:9} {n} process(es): {rate:>9,.0f} {WORKLOADS[workload]}  ×{rate / one:.2f}  "
                  f"{what} p99 {p99 * 1000:.0f} ms  ({load})\n    {remarks}")
    os._exit(0)


if __name__ == "__main__":
    main()
