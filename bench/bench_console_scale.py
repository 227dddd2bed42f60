"""Every console page a person opens daily, at the issue's size (1M contacts / 10M events): server time per page
(p50/p95/p99), against baselines measured in the same run.

    PYTHONPATH=src:. python bench/bench_console_scale.py [--contacts 1000000] [--events 10000000] [--requests 30]
                                                         [--budget 40] [--only NAME ...] [--json]
                                                         [--database PATH]

1. The workspace comes from ``console_dataset.dataset`` (built in SQL once per size and cached under the temporary
   folder: see that module for its shape), or ``--database PATH``: a copy of that file, so the schema upgrade the
   bench applies (``init_database``: new migrations, their backfills, timed and logged) leaves the cache as it was.
2. An administrator signs in through the real login pages (password, TOTP enrolment, code); every request is made
   in process (Starlette's TestClient, no socket), 3 warm-up requests (1 when it took over 2 s) then
   ``--requests`` timed ones, or fewer when a page's timed requests have used ``--budget`` seconds (at least 3).
3. Baselines in the same run: a bare indexed lookup of a phone through the driver (``sqlite3``, the floor of any
   search), ``GET /health`` (the framework's floor).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import log, peak_rss_mb, percentile
from console_dataset import T0, dataset, ensure_indexes


def _drain_duplicates(app: Any) -> None:
    """The worker's passes that a fresh migration leaves to do (stored duplicate suggestions), timed: the page
    reads what they stored. Absent on code without them (a "before" run)."""
    try:
        from touchflow.services.duplicate_index import refresh_duplicate_index
    except ImportError:
        return
    started = time.perf_counter()
    done = refresh_duplicate_index(app.services)
    log(f"duplicate suggestions: {done:,} queued contacts compared in {time.perf_counter() - started:.1f} s")


def _timed(call: Callable[[], Any], requests: int, budget: float) -> list[float]:
    out: list[float] = []
    spent = 0.0
    while len(out) < requests and (spent < budget or len(out) < 3):
        started = time.perf_counter()
        answer = call()
        took = time.perf_counter() - started
        spent += took
        out.append(took * 1000)
        status = getattr(answer, "status_code", 200)
        assert status == 200, (status, answer.text[:300])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--budget", type=float, default=40.0, help="seconds of timed requests per page at most")
    parser.add_argument("--only", nargs="*", default=None, help="measure only pages whose name contains one of these")
    parser.add_argument("--skip", nargs="*", default=(), help="leave out pages whose name contains one of these")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-drain", action="store_true",
                        help="leave the duplicate queue as it is: the page reads what is stored, says how many wait")
    parser.add_argument("--database", type=Path, default=None,
                        help="an SQLite file of the dataset (a copy of the cached one); default: the cached file")
    args = parser.parse_args()

    from tests.e2e.console_support import console_client, csrf_of, sign_in

    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.heap import freeze_startup_heap

    path = args.database if args.database is not None else dataset(args.contacts, args.events)
    config = path.with_suffix(".config")
    clock = VirtualClock(T0 + timedelta(hours=1))
    app = bootstrap(Settings(f"sqlite:///{path}", config_dir=str(config)), clock=clock)
    rnd = random.Random(7)
    phones = [f"+86138{rnd.randrange(args.contacts):08d}" for _ in range(args.requests + 3)]
    ids = [f"c{rnd.randrange(args.contacts):09d}" for _ in range(args.requests + 3)]
    raw = sqlite3.connect(path)
    rows: list[dict[str, Any]] = []
    try:
        started = time.perf_counter()
        app.init_database()  # idempotent: brings a file cached by an older schema to the current migrations
        log(f"schema at head in {time.perf_counter() - started:.1f} s (migrations and their backfills)")
        if not args.no_drain:
            _drain_duplicates(app)
        ensure_indexes(app.engine)
        app.create_secret_key()  # idempotent: kept beside the cached file
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with console_client(app) as client:
                freeze_startup_heap()  # as `touchflow serve` does once its app is made (touchflow/heap.py)
                sign_in(client, app, clock, f"bench{os.getpid()}@example.cn", "admin", name="压测经理")
                csrf = csrf_of(client.get("/preferences").text)
                hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
                builder = {"name": "b", "key": "b", "rows": "2", "join": "all", "r0_kind": "attr",
                           "r0_field": "city", "r0_op": "eq", "r0_value": "上海", "r1_kind": "attr",
                           "r1_field": "age", "r1_op": "gte", "r1_value": "40"}
                it = iter(range(10**9))

                def phone() -> str:
                    return phones[next(it) % len(phones)]

                def cid() -> str:
                    return ids[next(it) % len(ids)]

                class _Ok:
                    status_code = 200

                def lookup() -> _Ok:
                    raw.execute("SELECT contact_id FROM contact_identities WHERE kind = 'phone' AND value = ?",
                                (phone(),)).fetchall()
                    return _Ok()

                cases: list[tuple[str, Callable[[], Any]]] = [
                    ("baseline: indexed phone lookup (sqlite3, no app)", lookup),
                    ("baseline: GET /health", lambda: client.get("/health")),
                    ("GET /dashboard", lambda: client.get("/dashboard")),
                    ("GET /contacts/results?q=<phone>", lambda: client.get("/contacts/results", params={"q": phone()})),
                    ("GET /contacts/results?q=<email>",
                     lambda: client.get("/contacts/results",
                                        params={"q": f"u{rnd.randrange(args.contacts)}@example.cn"})),
                    ("GET /contacts/results?q=王伟 (part of a name)",
                     lambda: client.get("/contacts/results", params={"q": "王伟"})),
                    ("GET /contacts/<id> (profile)", lambda: client.get(f"/contacts/{cid()}")),
                    ("GET /contacts/duplicates", lambda: client.get("/contacts/duplicates")),
                    ("GET /journeys", lambda: client.get("/journeys")),
                    ("GET /segments", lambda: client.get("/segments")),
                    ("GET /segments/shanghai", lambda: client.get("/segments/shanghai")),
                    ("POST /segments/preview (live count, 2 conditions)",
                     lambda: client.post("/segments/preview", data=builder, headers=hx)),
                    ("GET /lifecycle", lambda: client.get("/lifecycle")),
                    ("GET /measure/metrics?period=30&journey=j0",
                     lambda: client.get("/measure/metrics?period=30&journey=j0")),
                    ("GET /measure/metrics explain by template (7 days, j0)",
                     lambda: client.get("/measure/metrics?period=7&journey=j0&explain_by=template")),
                    ("GET /tasks", lambda: client.get("/tasks")),
                    ("GET /content", lambda: client.get("/content")),
                    ("GET /imports", lambda: client.get("/imports")),
                ]
                for name, call in cases:
                    if args.only and not name.startswith("baseline") and not any(o in name for o in args.only):
                        continue
                    if any(s in name for s in args.skip):
                        continue
                    log(f"  {name} …")
                    warm = _timed(call, 1, args.budget)  # warm: templates compiled, catalogs loaded, caches
                    if warm[0] < 2000:  # filled; a page of seconds is warm after one
                        _timed(call, 2, args.budget)
                    found = _timed(call, args.requests, args.budget)
                    p50, p95, p99 = (percentile(found, q) for q in (0.5, 0.95, 0.99))
                    rows.append({"page": name, "n": len(found), "p50": p50, "p95": p95, "p99": p99})
                    log(f"    n={len(found)} p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms")
    finally:
        raw.close()
        app.close()
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "load": load, "peak_rss_mb": peak_rss_mb()}, indent=2))
        return
    print(f"{args.contacts:,} contacts / {args.events:,} events, SQLite {sqlite3.sqlite_version}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; peak RSS {peak_rss_mb():.0f} MB\n")
    print("| request (server time, in process) | n | p50 ms | p95 ms | p99 ms | p95 ≤ target |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        target = 100 if "results" in r["page"] else 200
        verdict = "—" if r["page"].startswith("baseline") else ("yes" if r["p95"] <= target else f"**no** ({target})")
        print(f"| {r['page']} | {r['n']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {verdict} |")


if __name__ == "__main__":
    main()
