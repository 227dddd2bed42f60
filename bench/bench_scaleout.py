"""Scale-out on PostgreSQL: the same work drained by 1, 2 and 4 worker processes.

    python bench/bench_scaleout.py --database postgresql://postgres@127.0.0.1:5432/test
                                   [--recipients 20000] [--runs 20000] [--processes 1,2,4]

Workloads (each seeded once into a template database, then copied fresh for every process count):

* **broadcast**: ``--recipients`` queued SMS (bench_broadcast's seed: caps, quiet hours, consent) drained by N
  processes of one ``Dispatcher`` loop each, through a fake SMS provider in its own process;
* **timer drain**: ``--runs`` runs waiting on a timer (bench_timers' seed) drained by N processes calling
  ``JourneyRuntime.run_due`` until nothing is due.

Prints, per workload and N, the rate, the speed-up over one process and the batch p99. Trigger routing and ingest
through 1 and 2 API processes are not measured here (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes

import bench_broadcast
import bench_timers
from benchlib import log, percentile


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
    ctx = multiprocessing.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_timer_process, args=(url, batch, out, go)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(8)  # let every process import and connect before the clock starts
    go.set()
    parts = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for part in parts for x in part["latencies"]]
    elapsed = max(p["finished"] for p in parts) - min(p["started"] for p in parts)
    return {"done": sum(p["total"] for p in parts), "elapsed": elapsed, "p99": percentile(latencies, 0.99)}


def _copy(admin: Any, template: str, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL URL the bench may create databases on")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    from sqlalchemy import create_engine

    from touchflow.config import normalise_database_url

    admin_url = normalise_database_url(args.database)
    base = admin_url.rpartition("/")[0]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    pid = os.getpid()
    templates = {"broadcast": f"tf_scale_bc_{pid}", "timers": f"tf_scale_tm_{pid}"}
    counts = [int(n) for n in args.processes.split(",")]
    results: dict[str, list[tuple[int, float, float]]] = {"broadcast": [], "timers": []}
    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=bench_broadcast._provider, args=(ports, args.latency, stop))
    server.start()
    provider = ports.get()
    try:
        for name in templates.values():
            _copy(admin, "template1", name)
        bench_broadcast.seed(f"{base}/{templates['broadcast']}", args.recipients, random.Random(1))
        bench_timers.seed(f"{base}/{templates['timers']}", args.runs, 1)
        log("seeded")
        for n in counts:
            target = f"tf_scale_run_{pid}"
            _copy(admin, templates["broadcast"], target)
            found = bench_broadcast._run("touchflow", f"{base}/{target}", provider, args.batch, 1, n)
            decided = sum(found["statuses"].values())
            results["broadcast"].append((n, decided / found["elapsed"], found["p99"]))
            log(f"broadcast × {n}: {decided / found['elapsed']:,.0f} decided/s")
            _copy(admin, templates["timers"], target)
            timers = _timers(f"{base}/{target}", n, args.batch)
            assert timers["done"] == args.runs, timers
            results["timers"].append((n, timers["done"] / timers["elapsed"], timers["p99"]))
            log(f"timers × {n}: {timers['done'] / timers['elapsed']:,.0f} runs/s")
    finally:
        stop.set()
        server.join()
        from sqlalchemy import text

        with admin.connect() as c:
            for name in [*templates.values(), f"tf_scale_run_{pid}"]:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"PostgreSQL, {os.cpu_count()} CPU(s); broadcast {args.recipients:,} recipients "
          f"(provider latency {args.latency * 1000:.0f} ms), timer drain {args.runs:,} runs, batch {args.batch}")
    for workload, unit in (("broadcast", "decided/s"), ("timers", "runs/s")):
        one = results[workload][0][1]
        for n, rate, p99 in results[workload]:
            print(f"{workload:9} {n} process(es): {rate:>9,.0f} {unit}  ×{rate / one:.2f}  "
                  f"batch p99 {p99 * 1000:.0f} ms")
    os._exit(0)


if __name__ == "__main__":
    main()
