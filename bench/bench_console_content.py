"""Console content, segment and import pages: server time per request (p50/p95/p99), against ``GET /health``
measured in the same run.

    python bench/bench_console_content.py [--contacts 100000] [--requests 100] [--database sqlite|URL]

1. A fresh database with ``--contacts`` contacts (a city, an age, a phone and an email identity each),
   bulk-inserted and ANALYZEd; 50 templates (one with an Advertising-Law finding, one waiting for review); three
   segments computed. Not timed.
2. A strategy designer and an editor sign in through the real login services; every request below is made in
   process (Starlette's TestClient, no socket), ``--requests`` times each: the template list, a template page
   (its check, link check and versions), the editor's live check (POST, 2 KB of copy with findings), the review
   queue, the segment list, a segment page (members masked), the builder's live count (two conditions over all
   contacts), the imports page with the sources.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_segments import CHUNK, T0, _cid
from benchlib import log, peak_rss_mb, percentile

CITIES = ["上海", "北京", "广州", "深圳", "杭州"]


def _contacts(n: int) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        yield (_cid(i), T0 - timedelta(days=400), T0 - timedelta(days=400), f"客户{i}", CITIES[i % 5],
               {"age": 20 + i % 50}, {})


def seed(app: Any, n: int) -> float:
    from touchflow.store.bulk import bulk_insert
    from touchflow.store.tables import contact_identities, contacts

    started = time.perf_counter()
    identities = ((kind, value, _cid(i), "bench", T0) for i in range(n)
                  for kind, value in (("phone", f"+86138{i:08d}"), ("email", f"u{i}@example.cn")))
    for table, columns, rows in (
            (contacts, ("id", "created_at", "updated_at", "name", "city", "custom", "lineage"), _contacts(n)),
            (contact_identities, ("kind", "value", "contact_id", "source", "created_at"), identities)):
        while chunk := list(itertools.islice(rows, CHUNK)):
            with app.engine.begin() as c:
                bulk_insert(c, table, columns, chunk)
    with app.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(call: Callable[[], Any], requests: int) -> list[float]:
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = call()
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()

    from tests.e2e.console_support import console_client, csrf_of, sign_in

    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.content import save_template
    from touchflow.services.segments import create_segment

    folder = Path(tempfile.mkdtemp(prefix="bench-console-content-"))
    url = f"sqlite:///{folder / 'bench.db'}" if args.database == "sqlite" else args.database
    clock = VirtualClock(T0)
    app = bootstrap(Settings(url, config_dir=str(folder / "config")), clock=clock)
    try:
        app.init_database()
        app.create_secret_key()
        seconds = seed(app, args.contacts)
        log(f"seeded {args.contacts:,} contacts in {seconds:.1f} s")
        line = "<p>稳健的理财体验，全网最佳服务。详情见 https://shop.example.cn/a</p>"
        body = "<p>{{ contact.name }}，您好！</p>" + line * 20
        for i in range(50):
            save_template(app.services, f"tpl_{i:02d}", "email", "新品上市", body if i == 0 else f"<p>第{i}期</p>",
                          tags=("finance",) if i == 1 else (), by="bench-editor")
        for key, condition in (("shanghai", {"attr": "city", "eq": "上海"}),
                               ("young_sh", {"all": [{"attr": "city", "eq": "上海"}, {"attr": "age", "lt": 30}]}),
                               ("old", {"attr": "age", "gte": 60})):
            create_segment(app.services, {"key": key, "name": key, "condition": condition}, actor="bench")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with console_client(app) as client:
                sign_in(client, app, clock, "li.na@example.cn", "admin")
                csrf = csrf_of(client.get("/preferences").text)
                hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
                check = {"name": "x", "channel": "email", "layout": "html", "subject": "最佳新品", "body": body}
                builder = {"name": "b", "key": "b", "rows": "2", "join": "all", "r0_kind": "attr",
                           "r0_field": "city", "r0_op": "eq", "r0_value": "上海", "r1_kind": "attr",
                           "r1_field": "age", "r1_op": "gte", "r1_value": "40"}
                cases: list[tuple[str, Callable[[], Any]]] = [
                    ("GET /health (baseline)", lambda: client.get("/health")),
                    ("GET /content", lambda: client.get("/content")),
                    ("GET /content/templates/tpl_00", lambda: client.get("/content/templates/tpl_00")),
                    ("POST /content/check (2 KB, findings)", lambda: client.post("/content/check", data=check,
                                                                                 headers=hx)),
                    ("GET /content/reviews", lambda: client.get("/content/reviews")),
                    ("GET /segments", lambda: client.get("/segments")),
                    ("GET /segments/shanghai", lambda: client.get("/segments/shanghai")),
                    ("POST /segments/preview (2 conditions)", lambda: client.post("/segments/preview", data=builder,
                                                                                  headers=hx)),
                    ("GET /imports", lambda: client.get("/imports")),
                ]
                base = None
                print(f"| request ({args.contacts:,} contacts, {args.requests} each) | p50 ms | p95 ms | p99 ms "
                      "| p95 / baseline p95 |")
                print("|---|---|---|---|---|")
                for name, call in cases:
                    timed(call, 3)  # warm
                    found = timed(call, args.requests)
                    p50, p95, p99 = (percentile(found, q) for q in (0.5, 0.95, 0.99))
                    base = base or p95
                    print(f"| {name} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {p95 / base:.0f}× |")
        log(f"peak RSS {peak_rss_mb():.0f} MB")
    finally:
        app.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
