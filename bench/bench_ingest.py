"""HTTP event ingest: throughput, acknowledgement latency, and no acknowledged event lost.

    python bench/bench_ingest.py --seconds 60 --batch 500 --concurrency 8 [--database URL] [--workers N]

1. A fresh database (SQLite in a temp dir unless ``--database``), migrated, with an API key and a
   pool of known contacts (seeded, not timed).
2. ``touchflow serve`` as a subprocess on a free loopback port.
3. ``--concurrency`` async clients post batches of seeded synthetic events (a mix of known contacts,
   new anonymous visitors, and sign-ups that merge a visitor into a known contact) until
   ``--seconds`` pass or ``--max-events`` are sent. Each request's time to acknowledgement is recorded.
4. The server is stopped; every acknowledged event id is looked up in the database directly.
5. Baseline: the same kind of batches through ``record_events`` in-process (no HTTP), single caller,
   so the HTTP overhead is visible as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, func, select

from benchlib import percentile
from touchflow.bootstrap import bootstrap
from touchflow.config import Settings, normalise_database_url
from touchflow.services.apikeys import create_api_key
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.store.tables import events

HTTP_SOURCE = "bench_http"
INPROC_SOURCE = "bench_inproc"
_TYPES = ("page_view", "page_view", "page_view", "form_submit", "content_download", "order_paid")


class EventMaker:
    """Seeded synthetic events; ids are unique per maker (prefix) so nothing is a duplicate by accident."""

    def __init__(self, seed: int, prefix: str, pool: int) -> None:
        self._rnd = random.Random(seed)
        self._prefix = prefix
        self._pool = pool
        self._n = 0

    def event(self) -> dict[str, Any]:
        rnd, self._n = self._rnd, self._n + 1
        kind = rnd.choices(("known", "new_visitor", "visitor", "signup"), (60, 25, 10, 5))[0]
        k = rnd.randrange(self._pool)
        who: dict[str, Any]
        if kind == "known":
            who = {"email": f"user{k}@example.com"}
        elif kind == "new_visitor":
            who = {"anonymous_id": f"{self._prefix}-v{self._n}"}
        elif kind == "visitor":
            who = {"anonymous_id": f"visitor{k}"}
        else:
            who = {"contact": {"anonymous_id": f"visitor{k}", "email": f"user{k}@example.com"}}
        event_type = "signup" if kind == "signup" else rnd.choice(_TYPES)
        props: dict[str, Any]
        if event_type == "page_view":
            props = {"url": f"https://shop.example.cn/p/{rnd.randrange(500)}"}
        elif event_type == "form_submit":
            props = {"form_id": f"f{rnd.randrange(20)}"}
        elif event_type == "content_download":
            props = {"content_id": f"wp{rnd.randrange(50)}"}
        elif event_type == "order_paid":
            props = {"order_id": f"o{self._n}", "amount": rnd.randrange(50, 5000)}
        else:
            props = {"method": "email"}
        second = rnd.randrange(86400 * 30)
        return {"id": f"{self._prefix}-{self._n}", "type": event_type,
                "occurred_at": f"2026-01-{1 + second // 86400:02d}T{second % 86400 // 3600:02d}:"
                               f"{second % 3600 // 60:02d}:{second % 60:02d}Z",
                "properties": props, **who}

    def batch(self, size: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(size)]


@dataclass
class Run:
    started: float = 0.0
    elapsed: float = 0.0
    requests: int = 0
    events_sent: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(url: str, pool: int) -> str:
    """Migrate, make the secret key (as `touchflow init`: the server refuses to start without one), seed the
    known contacts, and return a fresh API key."""
    application = bootstrap(Settings.from_env({**os.environ, "TOUCHFLOW_DATABASE_URL": url}))
    try:
        application.init_database()
        application.create_secret_key()
        for start in range(0, pool, 1000):
            items: list[dict[str, Any]] = [
                {"email": f"user{k}@example.com", "crm_id": f"C{k}", "name": f"客户{k}",
                 "city": random.Random(k).choice(("上海", "北京", "杭州", "深圳"))}
                for k in range(start, min(pool, start + 1000))]
            upsert_contacts(application.services, "crm", [RawItem(payload=i, original=i) for i in items])
        return create_api_key(application.services, "bench", actor="bench").secret
    finally:
        application.close()


def start_server(url: str, port: int, workers: int, logfile: Path, with_worker: bool = False
                 ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TOUCHFLOW_DATABASE_URL": url, "TOUCHFLOW_EMBEDDED_WORKER": "1" if with_worker else "0"}
    touchflow = shutil.which("touchflow", path=str(Path(sys.executable).parent)) or "touchflow"
    probe = subprocess.run([touchflow, "serve", "--help"], env=env, capture_output=True)
    if probe.returncode == 0:
        command = [touchflow, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                   "--log-level", "warning", "--no-access-log", "--worker" if with_worker else "--no-worker"]
    else:  # `serve` not registered in the CLI yet: the same ASGI factory under uvicorn directly
        command = [sys.executable, "-m", "uvicorn", "touchflow.cli.serve:asgi_app", "--factory", "--host",
                   "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                   "--no-access-log"]
    log(f"starting: {' '.join(command)}")
    with logfile.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode} before it was healthy")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not healthy in time")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def load(base: str, key: str, args: argparse.Namespace) -> Run:
    run = Run()
    maker = EventMaker(args.seed, "h", args.pool)
    deadline = time.perf_counter() + args.seconds
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
               "X-Touchflow-Source": HTTP_SOURCE}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and run.events_sent < args.max_events:
            batch = maker.batch(args.batch)
            body = orjson.dumps({"events": batch})
            run.events_sent += len(batch)
            sent = time.perf_counter()
            try:
                response = await client.post("/v1/events", content=body, headers=headers)
                for _ in range(3):  # 503: writers clashed; a client retries (ids make it idempotent)
                    if response.status_code != 503:
                        break
                    run.retries += 1
                    await asyncio.sleep(0.05)
                    response = await client.post("/v1/events", content=body, headers=headers)
            except httpx.HTTPError as exc:
                run.failures[type(exc).__name__] = run.failures.get(type(exc).__name__, 0) + 1
                continue
            run.latencies.append(time.perf_counter() - sent)
            run.requests += 1
            if response.status_code not in (200, 207):
                label = f"HTTP {response.status_code}"
                run.failures[label] = run.failures.get(label, 0) + 1
                continue
            result = orjson.loads(response.content)
            run.stored += result["accepted"]
            run.duplicates += result["duplicates"]
            run.rejected += len(result["rejected"])
            run.acked.update(r["id"] for r in result["results"] if r["status"] in ("stored", "duplicate"))

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120.0) as client:
        run.started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(args.concurrency)))
        run.elapsed = time.perf_counter() - run.started
    return run


def verify(url: str, acked: set[str]) -> tuple[int, int]:
    """(rows stored by the HTTP run, acknowledged ids missing from the database)."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = int(c.execute(select(func.count()).select_from(events)
                                 .where(events.c.source == HTTP_SOURCE)).scalar_one())
            present = {r[0] for r in c.execute(select(events.c.id).where(events.c.source == HTTP_SOURCE))}
    finally:
        engine.dispose()
    return rows, len(acked - present)


def baseline(url: str, args: argparse.Namespace, seconds: float) -> tuple[float, list[float], int]:
    """events/s, per-batch latencies and events stored by ``record_events`` called in-process, one caller."""
    application = bootstrap(Settings(url))
    maker = EventMaker(args.seed + 1, "b", args.pool)
    latencies: list[float] = []
    stored = 0
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds and stored < args.max_events:
            batch = maker.batch(args.batch)
            t0 = time.perf_counter()
            report = record_events(application.services, INPROC_SOURCE, [RawItem(payload=e, original=e)
                                                                         for e in batch])
            latencies.append(time.perf_counter() - t0)
            stored += report.accepted
    finally:
        application.close()
    return stored / sum(latencies), latencies, stored  # time in record_events only, not making events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the HTTP run")
    parser.add_argument("--batch", type=int, default=500, help="events per request (at most 1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--pool", type=int, default=10_000, help="known contacts seeded before the run")
    parser.add_argument("--max-events", type=int, default=5_000_000, help="stop after sending this many")
    parser.add_argument("--baseline-seconds", type=float, help="length of the in-process run (default: "
                                                                "the HTTP run's, at most 20 s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--with-worker", action="store_true",
                        help="run serve's embedded journey worker too (it drains the event inbox as you ingest)")
    args = parser.parse_args()
    if not 1 <= args.batch <= 1000:
        parser.error("--batch must be 1..1000")
    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-ingest-"))
    url = normalise_database_url(args.database or f"sqlite:///{(workdir / 'bench.db').as_posix()}")
    keep = False
    try:
        log(f"database: {url.split('@')[-1]}; seeding {args.pool} known contacts …")
        key = prepare(url, args.pool)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, port, args.workers, workdir / "server.log", args.with_worker)
        try:
            wait_healthy(base, server)
            log(f"loading for {args.seconds:.0f} s: batches of {args.batch}, concurrency {args.concurrency}, "
                f"{args.workers} worker(s)")
            run = asyncio.run(load(base, key, args))
        finally:
            stop_server(server)
        rows, missing = verify(url, run.acked)
        http_eps = run.stored / run.elapsed if run.elapsed else 0.0
        seconds = args.baseline_seconds if args.baseline_seconds is not None else min(args.seconds, 20.0)
        log(f"baseline: record_events in-process for {seconds:.0f} s …")
        base_eps, base_lat, base_stored = baseline(url, args, seconds)
        ms = 1000.0
        print(f"HTTP  : {http_eps:,.0f} events/s  ({run.stored:,} stored in {run.elapsed:.1f} s, "
              f"{run.requests:,} requests, {run.duplicates} duplicates, {run.rejected} rejected, "
              f"{run.retries} retried after 503)")
        print(f"        ack latency p50 {percentile(run.latencies, .5) * ms:.1f} ms, "
              f"p95 {percentile(run.latencies, .95) * ms:.1f} ms, p99 {percentile(run.latencies, .99) * ms:.1f} ms"
              f", max {max(run.latencies, default=float('nan')) * ms:.1f} ms")
        if run.failures:
            print(f"        failed requests: {run.failures} (server log: {workdir / 'server.log'})")
        print(f"in-proc: {base_eps:,.0f} events/s  ({base_stored:,} stored; per batch p50 "
              f"{percentile(base_lat, .5) * ms:.1f} ms, p99 {percentile(base_lat, .99) * ms:.1f} ms)")
        print(f"HTTP / in-process throughput: {http_eps / base_eps:.2f}" if base_eps else "")
        print(f"durability: {len(run.acked):,} acknowledged ids, {rows:,} rows from the HTTP run, "
              f"{missing} acknowledged but missing")
        if missing or run.failures:
            keep = True  # the server log is there to read
            raise SystemExit(1)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
