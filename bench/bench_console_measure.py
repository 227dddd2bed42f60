"""Server time of the console's measurement and settings pages (issue 15: p95 ≤ 200 ms per page).

    python bench/bench_console_measure.py [--journeys 20] [--days 365] [--messages 20000] [--requests 40] [--json]

A SQLite workspace with a year of daily rollups (journeys × days × 3 templates × 2 channels rows in
``metric_daily``), ``--messages`` sent messages of one journey in the last two weeks (what "explain this drop"
reads) and 2,000 audit rows; each page is requested ``--requests`` times through the ASGI app in-process (the
server's time: routing, session, services, templates), signed in as an administrator. Baseline in the same run:
``GET /v1/metrics`` for the same 30 days (the API's JSON, no template), so the ratio is the page's own cost.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from benchlib import log, peak_rss_mb, percentile
from touchflow.api import create_app
from touchflow.bootstrap import Settings, bootstrap
from touchflow.clock import VirtualClock
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import contacts, events, metric_daily, outbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the console tests' sign-in steps
from tests.e2e.console_support import sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

JOURNEY = "key: j{n}\nname: 旅程 {n}\ntrigger: {{event: signup}}\nnodes:\n  hello: {{kind: send, channel: email, " \
          "template: t{n}, next: done}}\n  done: {{kind: exit}}\n"
COUNTERS = ("entered", "queued", "sent", "delivered", "bounced", "opened", "opened_unique", "clicked",
            "clicked_unique", "converted", "unsubscribed", "complained", "skipped")


def seed(app: object, journeys: int, days: int, messages: int, today: date) -> None:
    rng = random.Random(15)
    ids = []
    for n in range(journeys):
        publish_journey(app.services, JOURNEY.format(n=n), actor="bench")  # type: ignore[attr-defined]
        with app.services.reader() as uow:  # type: ignore[attr-defined]
            record = uow.journeys.get(f"j{n}")
            assert record is not None
            ids.append(record.id)
    rows = []
    for jid in ids:
        for d in range(days):
            day = (today - timedelta(days=d)).isoformat()
            for template in ("a", "b", "c"):
                for channel in ("email", "sms"):
                    sent = rng.randint(50, 500)
                    opened = rng.randint(0, sent // 2)
                    row = dict.fromkeys(COUNTERS, 0)
                    row.update(entered=sent, queued=sent, sent=sent, delivered=sent, opened=opened,
                               opened_unique=opened, clicked=opened // 4, clicked_unique=opened // 4)
                    rows.append({"day": day, "journey_id": jid, "node_id": "hello", "template": template,
                                 "channel": channel, "segment": "", "reason": "", "revenue": 0.0, **row})
    now = datetime.combine(today, datetime.min.time(), UTC)
    with app.engine.begin() as conn:  # type: ignore[attr-defined]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(metric_daily), rows[start:start + 5000])
        people, sends, opens = [], [], []
        for i in range(messages):
            at = now - timedelta(minutes=rng.randint(0, 14 * 24 * 60))
            cid, mid = f"bc{i:06d}", f"bm{i:06d}"
            people.append({"id": cid, "created_at": at, "updated_at": at, "custom": {}, "lineage": {}})
            sends.append({"id": mid, "idempotency_key": f"k{mid}", "contact_id": cid, "journey_id": ids[0],
                          "node_id": "hello", "channel": "email", "template": rng.choice("ab"), "payload": {},
                          "status": "sent", "attempts": 1, "created_at": at, "updated_at": at,
                          "next_attempt_at": at, "sent_at": at, "address": f"u{i}@qq.com"})
            if rng.random() < 0.3:
                opens.append({"id": f"e{mid}", "contact_id": cid, "type": "message_opened",
                              "occurred_at": at + timedelta(minutes=5), "received_at": at, "source": "touchflow",
                              "properties": {"message_id": mid, "journey_id": ids[0]}})
        for table, batch in ((contacts, people), (outbox, sends), (events, opens)):
            for start in range(0, len(batch), 5000):
                conn.execute(insert(table), batch[start:start + 5000])
    with app.services.uow() as uow:  # type: ignore[attr-defined]
        for i in range(2000):
            uow.audit.record("bench", "user.set_role" if i % 2 else "approval.request", f"user:{i}", {"n": i},
                             now - timedelta(minutes=i))
        uow.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clock = VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        app = bootstrap(Settings(f"sqlite:///{folder}/bench.db", config_dir=f"{folder}/cfg"), clock=clock)
        app.init_database()
        app.create_secret_key()
        log(f"seeding {args.journeys} journeys × {args.days} days × 6 rollup rows, {args.messages} messages")
        seed(app, args.journeys, args.days, args.messages, date(2026, 3, 2))
        pages = [("GET /v1/metrics 30 days (baseline, JSON)", "/v1/metrics?journey=j0&by=day"),
                 ("explorer, 30 days, one journey", "/measure/metrics?period=30&journey=j0"),
                 ("explorer, 90 days, all journeys by template", "/measure/metrics?period=90&by=template"),
                 ("explorer + explain by template (20k messages)",
                  "/measure/metrics?period=7&journey=j0&explain_by=template"),
                 ("goals", "/measure/goals"), ("experiments", "/measure/experiments"),
                 ("approvals", "/settings/approvals"), ("audit search, prefix", "/settings/audit?action=user."),
                 ("users", "/settings/users")]
        rows = []
        with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
            sign_in(client, app, clock, "bench@example.cn", "admin", name="bench")
            for name, path in pages:
                client.get(path)  # warm: templates compiled, catalogs loaded
                timings = []
                for _ in range(args.requests):
                    began = time.perf_counter()
                    answer = client.get(path)
                    timings.append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                rows.append({"page": name, "p50_ms": percentile(timings, 0.5), "p95_ms": percentile(timings, 0.95),
                             "p99_ms": percentile(timings, 0.99)})
        app.close()
    base = rows[0]["p50_ms"]
    for r in rows:
        r["ratio_to_baseline"] = r["p50_ms"] / base if base else None
    if args.json:
        print(json.dumps({"rows": rows, "peak_rss_mb": peak_rss_mb()}, indent=2))
        return
    print(f"{args.journeys} journeys × {args.days} days of rollups, {args.messages} messages, "
          f"{args.requests} requests per page; peak RSS {peak_rss_mb():.0f} MB\n")
    print("| page | p50 ms | p95 ms | p99 ms | p50 ÷ baseline |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['page']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['ratio_to_baseline']:.1f} |")


if __name__ == "__main__":
    main()
