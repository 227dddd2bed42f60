"""Capped broadcast: N queued SMS through guardrails, template rendering and a fake provider.

    python bench/bench_broadcast.py --recipients 1000000 [--database sqlite|URL] [--batch 1000]
                                    [--dispatchers 2] [--latency 0.05] [--seed 1]

1. A fresh database with ``--recipients`` contacts (a phone each; 10% in America/New_York, where it
   is night at T0, so quiet hours defer them; 5% already at today's cap of 3; 1% withdrew SMS consent)
   and one queued SMS per contact using an approved template that reads the contact's name and city.
   Bulk-inserted, not timed. A copy is made for the baseline.
2. A fake SMS provider (tests/fakes) in its own process answers every call after ``--latency``
   seconds; each call carries up to 1,000 recipients.
3. Phases, each in its own process (peak RSS is its own):
   * **baseline**: the floor for "claim a batch, hand it to the provider, mark it sent": ``SELECT``
     1,000 queued ids, one provider call with a fixed text, ``UPDATE … SET status='sent'``; no
     guardrails, no rendering, no lifecycle events; ``--dispatchers`` loops in threads like touchflow.
   * **touchflow**: ``--dispatchers`` ``Dispatcher`` loops in threads: claim, guard facts, decide,
     render, send through the gate, record outcome + ``message_*`` events.
4. Prints messages decided/s and sent/s, per-batch latency p50/p99, peak RSS, the ratio to the
   baseline, and checks every message ended sent, skipped (cap, consent) or deferred (quiet hours).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes

from bench_timers import Databases
from benchlib import log, peak_rss_mb, percentile

T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # noon in Shanghai, 23:00 in New York
CHUNK = 50_000


def _provider(port_out: Any, latency: float, stop: Any) -> None:
    from tests.fakes.providers import FakeProviders, FaultPlan

    fake = FakeProviders().start()
    fake.set_faults(FaultPlan(latency_s=latency))
    fake.record = lambda rec: None  # type: ignore[method-assign]  # keep memory flat at 1M
    fake.arrived = lambda path, body: None  # type: ignore[method-assign]
    port_out.put((fake.url, fake.SMS_TOKEN))
    stop.wait()
    fake.stop()


def seed(url: str, recipients: int, rnd: random.Random) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.content import save_template
    from touchflow.services.guarding import set_guardrail_policy
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contact_consents, contact_identities, contacts, outbox

    app = bootstrap(Settings(url), clock=VirtualClock(T0 - timedelta(hours=1)))
    app.init_database()
    set_guardrail_policy(app.services, {"cap": {"per_day": 3}}, actor="bench")
    save_template(app.services, "flash_sale", "sms", "闪购", "{{ contact.name }}您好，{{ contact.city }}门店周末闪购，"
                  "会员专享 8 折。", "text", by="bench")
    cities = ("上海", "北京", "杭州", "深圳", "广州", "成都")
    created = T0 - timedelta(days=30)
    for start in range(0, recipients, CHUNK):
        n_range = range(start, min(start + CHUNK, recipients))
        people, ids, consents, messages = [], [], [], []
        for n in n_range:
            cid = f"c{n:08d}"
            zone = "America/New_York" if rnd.random() < 0.10 else "Asia/Shanghai"
            people.append((cid, created, created, None, f"客户{n}", cities[n % 6], zone, {}, {}))
            ids.append(("phone", f"+86135{n:08d}", cid, "crm", created))
            if rnd.random() < 0.01:
                consents.append((cid, "sms", "denied", "crm", created))
            messages.append((f"m{n:08d}", f"bench:{n}", None, cid, None, "send", "sms", "flash_sale",
                             {"retry": {"attempts": 3, "backoff_s": 60}}, "queued", 0, T0 - timedelta(minutes=1),
                             T0 - timedelta(minutes=1), T0 - timedelta(minutes=1), None, None, None))
            if rnd.random() < 0.05:  # already touched three times today
                for k in range(3):
                    at = T0 - timedelta(hours=1, minutes=k)
                    messages.append((f"p{n:08d}{k}", f"prev:{n}:{k}", None, cid, None, "prev", "email", None, {},
                                     "sent", 1, at, at, at, None, "x", at))
        with app.engine.begin() as c:
            bulk_insert(c, contacts, ("id", "created_at", "updated_at", "merged_into", "name", "city", "timezone",
                                      "custom", "lineage"), people)
            bulk_insert(c, contact_identities, ("kind", "value", "contact_id", "source", "created_at"), ids)
            bulk_insert(c, contact_consents, ("contact_id", "channel", "status", "source", "at"), consents)
            bulk_insert(c, outbox, ("id", "idempotency_key", "run_id", "contact_id", "journey_id", "node_id",
                                    "channel", "template", "payload", "status", "attempts", "created_at",
                                    "updated_at", "next_attempt_at", "last_error", "address", "sent_at"), messages)
        log(f"seeded {min(start + CHUNK, recipients):,} recipients")
    app.close()


def _phase(name: str, url: str, provider: tuple[str, str], batch: int, dispatchers: int, out: Any) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.engine.channel_registry import ChannelRegistry
    from touchflow.engine.dispatcher import Dispatcher

    base, token = provider
    app = bootstrap(Settings(url), clock=VirtualClock(T0))
    latencies: list[float] = []
    lock = threading.Lock()

    def channel() -> HttpSmsChannel:
        return HttpSmsChannel(HttpSmsSettings(f"{base}/sms", token, max_batch=1000))

    def touchflow_loop() -> None:
        registry = ChannelRegistry()
        registry.add("sms", channel(), concurrency=2, kind="sms_http")
        d = Dispatcher(app.services, batch, channels=registry, threads=2)
        while True:
            t = time.perf_counter()
            claimed = d.dispatch_batch()
            with lock:
                latencies.append(time.perf_counter() - t)
            if claimed == 0:
                break
        d.close()

    def baseline_loop() -> None:
        from sqlalchemy import select, update

        from touchflow.channels.base import Outgoing
        from touchflow.store.tables import outbox

        sms = channel()
        while True:
            t = time.perf_counter()
            with app.engine.begin() as c:
                query = (select(outbox.c.id, outbox.c.idempotency_key, outbox.c.contact_id)
                         .where(outbox.c.status == "queued", outbox.c.channel == "sms").limit(batch))
                if app.engine.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = list(c.execute(query))
                if rows:
                    c.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(status="sending"))
            if not rows:
                break
            sms.send([Outgoing(r.id, r.idempotency_key, r.contact_id, "+8613500000000", "周末闪购，会员专享 8 折。")
                      for r in rows])
            with app.engine.begin() as c:
                c.execute(update(outbox).where(outbox.c.id.in_([r.id for r in rows])).values(status="sent"))
            with lock:
                latencies.append(time.perf_counter() - t)
        sms.close()

    loop = touchflow_loop if name == "touchflow" else baseline_loop
    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(dispatchers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished = time.perf_counter()
    app.close()
    out.put({"started": started, "finished": finished, "latencies": latencies, "rss": peak_rss_mb()})


def _run(name: str, url: str, provider: tuple[str, str], batch: int, dispatchers: int,
         processes: int) -> dict[str, Any]:
    """``processes`` worker processes with ``dispatchers`` dispatch loops each, as a deployment would run."""
    from sqlalchemy import create_engine, text

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_phase, args=(name, url, provider, batch, dispatchers, out))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    parts = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    latencies = [x for part in parts for x in part["latencies"]]
    engine = create_engine(url)
    with engine.connect() as c:
        statuses = {str(k): int(v) for k, v in c.execute(text(
            "SELECT status, count(*) FROM outbox WHERE channel = 'sms' GROUP BY status"))}
        reasons = {str(k): int(v) for k, v in c.execute(text(
            "SELECT coalesce(reason, '-'), count(*) FROM outbox WHERE channel = 'sms' GROUP BY reason"))}
    engine.dispose()
    return {"elapsed": max(p["finished"] for p in parts) - min(p["started"] for p in parts), "statuses": statuses,
            "reasons": reasons, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "rss": max(p["rss"] for p in parts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--dispatchers", type=int, default=2, help="dispatch loops (threads) per process")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (one per core)")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="touchflow-broadcast-"))
    databases = Databases(args.database, workdir, prefix="touchflow_bench_broadcast")
    url = databases.url
    t = time.perf_counter()
    seed(url, args.recipients, random.Random(args.seed))
    log(f"seeded in {time.perf_counter() - t:.0f} s")
    databases.copy()
    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_provider, args=(ports, args.latency, stop))
    server.start()
    provider = ports.get()
    try:
        base = _run("baseline", databases.copy_url, provider, args.batch, args.dispatchers,
                    args.processes)
        log(f"baseline: {args.recipients / base['elapsed']:,.0f} messages/s")
        ours = _run("touchflow", url, provider, args.batch, args.dispatchers, args.processes)
    finally:
        stop.set()
        server.join()
        databases.drop()
    decided = sum(ours["statuses"].values())
    sent = ours["statuses"].get("sent", 0)
    print(f"recipients {args.recipients:,}  batch {args.batch}  {args.processes} process(es) × "
          f"{args.dispatchers} dispatcher(s)  {'SQLite' if databases.sqlite else 'PostgreSQL'}  "
          f"provider latency {args.latency * 1000:.0f} ms, ≤ 1,000 recipients per call")
    print(f"baseline : {args.recipients / base['elapsed']:>10,.0f} messages/s  p50 {base['p50'] * 1000:.0f} ms  "
          f"p99 {base['p99'] * 1000:.0f} ms  peak RSS {base['rss']:.0f} MB per process")
    print(f"touchflow: {decided / ours['elapsed']:>10,.0f} decided/s  {sent / ours['elapsed']:,.0f} sent/s  "
          f"p50 {ours['p50'] * 1000:.0f} ms  p99 {ours['p99'] * 1000:.0f} ms  "
          f"peak RSS {ours['rss']:.0f} MB per process")
    print(f"ratio to baseline (decided/s): {decided / ours['elapsed'] / (args.recipients / base['elapsed']):.2f}")
    print(f"outcomes: {dict(Counter(ours['statuses']))}  reasons: {ours['reasons']}")
    assert decided == args.recipients, f"{decided} of {args.recipients} messages decided"
    assert set(ours["statuses"]) <= {"sent", "skipped", "queued"}, ours["statuses"]
    shutil.rmtree(workdir, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
