"""Console pages: server time per page (p50/p95/p99) and contact search, against trivial routes measured in the
same run.

    python bench/bench_console.py [--contacts 100000] [--events 1000000] [--requests 200] [--database sqlite|URL]

1. A fresh database with ``--contacts`` contacts (a Chinese name, a company, a phone and an email identity each)
   and ``--events`` events over the last year (bench_segments' mix), bulk-inserted and ANALYZEd; the metrics
   rollups refreshed once; a journey published; 200 open tasks. Not timed.
2. A person signs in through the real login services (password, TOTP enrolment, code): every page below is
   fetched with that session cookie, in process (Starlette's TestClient, no socket), ``--requests`` times each:
   the dashboard, contact search by phone (exact identifier) and by part of a name, a contact profile, tasks,
   journeys.
3. Baselines in the same run: ``GET /health`` (the framework's floor) and the API's own ``GET /v1/contacts?q=``
   (the same search as JSON).
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
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_segments import CHUNK, T0, _cid, _events
from bench_timers import Databases
from benchlib import log, peak_rss_mb, percentile

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
COMPANIES = ["星河科技", "远景制造", "华南零售", "青禾教育", "安康医疗", "云帆互联"]
PASSWORD = "Correct-Horse-42-battery-staple"


def _phone(i: int) -> str:
    return f"+86138{i:08d}"


def _contacts(n: int, rnd: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(["", *GIVEN])
        yield (_cid(i), T0 - timedelta(days=400), T0 - timedelta(days=400), name, rnd.choice(COMPANIES), "上海",
               {}, {})


def seed(url: str, n_contacts: int, n_events: int, seed_value: int) -> float:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contact_identities, contacts, events

    started = time.perf_counter()
    rnd = random.Random(seed_value)
    app = bootstrap(Settings(url), clock=VirtualClock(T0))
    try:
        app.init_database()
        with app.engine.begin() as c:
            for index in events.indexes:
                index.drop(c)
        identities = ((kind, value, _cid(i), "bench", T0) for i in range(n_contacts)
                      for kind, value in (("phone", _phone(i)), ("email", f"u{i}@example.cn")))
        for table, columns, rows in (
                (contacts, ("id", "created_at", "updated_at", "name", "company", "city", "custom", "lineage"),
                 _contacts(n_contacts, rnd)),
                (contact_identities, ("kind", "value", "contact_id", "source", "created_at"), identities),
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


def _session(app: Any) -> str:
    """A real signed-in session: password, TOTP enrolment, first code (the services the login pages call)."""
    import pyotp

    from touchflow.domain.actors import Actor
    from touchflow.services.accounts import create_user
    from touchflow.services.login import begin_enrolment, login_password, verify_second_factor

    create_user(app.services, "bench@example.cn", "压测经理", "admin", PASSWORD, actor=Actor("os:bench"))
    pending = login_password(app.services, "bench@example.cn", PASSWORD, ip=None, user_agent="bench")
    box = app.secret_box()
    enrolment = begin_enrolment(app.services, box, pending.token)
    code = pyotp.TOTP(enrolment.secret).at(int(app.services.clock.now().timestamp()))
    return str(verify_second_factor(app.services, box, pending.token, code, ip=None, user_agent="bench").token)


def _prepare(app: Any, n_contacts: int) -> None:
    from touchflow.services.journeys import publish_journey
    from touchflow.services.metrics import refresh_rollups
    from touchflow.store.tables import tasks

    started = time.perf_counter()
    refresh_rollups(app.services, quiescent=True)
    log(f"  rollups refreshed in {time.perf_counter() - started:.1f} s")
    examples = Path(__file__).resolve().parents[1] / "examples" / "journeys"
    for path in sorted(examples.glob("*.yaml"))[:3]:
        if not path.name.endswith(".scenario.yaml"):
            try:
                publish_journey(app.services, path.read_text(encoding="utf-8"), actor="bench")
            except Exception as exc:  # an example that needs templates: the page lists the others
                log(f"  skipped {path.name}: {exc}")
    with app.engine.begin() as c:
        c.execute(tasks.insert(), [
            {"id": f"t{i}", "idempotency_key": f"t{i}", "contact_id": _cid(i % n_contacts), "queue": "sales",
             "title": f"回电 {i}", "assignee": None, "status": "open", "created_at": T0,
             "due_at": T0 + timedelta(hours=i % 48)} for i in range(200)])


def _time(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        answer = call()
        out.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return out


def run(url: str, args: argparse.Namespace) -> list[str]:
    from touchflow.api import create_app
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key
    from touchflow.services.sessions import SESSION_COOKIE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-console-keys-"))
    app = bootstrap(Settings(url, config_dir=str(workdir)), clock=VirtualClock(T0 + timedelta(hours=1)))
    try:
        app.create_secret_key()
        _prepare(app, args.contacts)
        token = _session(app)
        key = issue_api_key(app.services, check_key_spec(KeySpec("bench", "admin", service_account="bench")),
                            actor="bench").secret
        rnd = random.Random(args.seed)
        with TestClient(create_app(app), base_url="https://testserver") as client:
            client.cookies.set(SESSION_COOKIE, token)
            phones = [_phone(rnd.randrange(args.contacts)) for _ in range(args.requests)]
            ids = [_cid(rnd.randrange(args.contacts)) for _ in range(args.requests)]
            it_phone, it_id = itertools.cycle(phones), itertools.cycle(ids)
            pages: list[tuple[str, Callable[[], Any]]] = [
                ("GET /health (baseline: the framework's floor)", lambda: client.get("/health")),
                ("GET /v1/contacts?q=<phone> (baseline: the API's search, JSON)",
                 lambda: client.get("/v1/contacts", params={"q": next(it_phone)},
                                    headers={"Authorization": f"Bearer {key}"})),
                ("GET /dashboard", lambda: client.get("/dashboard")),
                ("GET /contacts/results?q=<phone> (search by identifier)",
                 lambda: client.get("/contacts/results", params={"q": next(it_phone)})),
                ("GET /contacts/results?q=王伟 (part of a name)",
                 lambda: client.get("/contacts/results", params={"q": "王伟"})),
                ("GET /contacts/<id> (profile)", lambda: client.get(f"/contacts/{next(it_id)}")),
                ("GET /tasks", lambda: client.get("/tasks")),
                ("GET /journeys", lambda: client.get("/journeys")),
            ]
            lines = []
            floor = None
            for name, call in pages:
                _time(call, 3)  # warm: templates compiled, catalogs loaded, caches filled
                samples = _time(call, args.requests)
                p50, p95, p99 = (percentile(samples, q) for q in (0.5, 0.95, 0.99))
                floor = floor or p50
                lines.append(f"| {name} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {p50 / floor:.1f}× |")
                log(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    finally:
        app.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default="sqlite", help="'sqlite' (a fresh file) or a PostgreSQL URL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-console-"))
    databases = Databases(args.database, workdir, prefix="touchflow_bench_console")
    try:
        log(f"seeding {args.contacts:,} contacts, {args.events:,} events …")
        seeding = seed(databases.url, args.contacts, args.events, args.seed)
        log("measuring …")
        lines = run(databases.url, args)
    finally:
        databases.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    database = "sqlite (file)" if args.database == "sqlite" else "postgresql"
    print(f"## Console: {args.contacts:,} contacts, {args.events:,} events, {args.requests} requests a page\n")
    print(f"Database: {database}; SQLite {sqlite3.sqlite_version}; Python {sys.version.split()[0]} on {sys.platform}, "
          f"{os.cpu_count()} CPUs. Seeded in {seeding:.1f} s (not timed). Peak RSS {peak_rss_mb():.0f} MB.\n")
    print("| request (server time, in process) | p50 ms | p95 ms | p99 ms | p50 ÷ /health |")
    print("|---|---:|---:|---:|---:|")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
