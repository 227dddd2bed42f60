"""A console-sized SQLite workspace built fast, and cached: ``dataset(contacts, events)`` returns the path of a
migrated Touchflow database file under the system's temporary folder, building it once per size.

Rows are generated inside SQLite (recursive CTEs, ``INSERT … SELECT``), in the shape the app writes:

* contacts with a Chinese name, a company, a city, a lifecycle stage; a phone and an email identity each;
  15 % tagged; one ``stage_history`` row per contact (the first stage) and a move for a third of them;
* ``--events`` events over the last year: 1 in 10 contacts were sent messages by five published journeys — per
  message a ``message_sent`` (id ``m_<message>_sent``, as the dispatcher names it) with its ``outbox`` row,
  ``message_delivered`` for 90 %, ``message_opened`` for 30 %, ``message_clicked`` for 8 %, each with the message
  columns (``msg_*``) filled as ``SqlEventRepository`` fills them; the rest page views, downloads, forms and
  paid orders (bench_segments' mix) spread over every contact;
* the events' indexes built after the load, ``ANALYZE``; the metric rollups refreshed through the service
  (``refresh_rollups``), open and closed tasks, 50 templates, three segments computed by the service.

The file is ``touchflow-console-<contacts>x<events>.db``; a run that finds it reuses it (delete it to rebuild).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import log

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEYS = 5
JOURNEY = ("key: j{n}\nname: 旅程 {n}\ntrigger: {{event: signup}}\nnodes:\n  hello: {{kind: send, channel: email, "
           "template: t{n}, next: done}}\n  done: {{kind: exit}}\n")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
COMPANIES = ["星河科技", "远景制造", "华南零售", "青禾教育", "安康医疗", "云帆互联"]
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "苏州", "南京"]
STAGES = ["new_visitor", "prospect", "intent", "customer", "dormant"]
VERSION = 1  # bump when the shape changes: the cached file's name carries it


def path_for(contacts: int, events: int) -> Path:
    return Path(tempfile.gettempdir()) / f"touchflow-console-v{VERSION}-{contacts}x{events}.db"


def _pick(options: list[str] | str, expr: str) -> str:
    """SQL choosing one of ``options`` by the integer ``expr`` (deterministic, no RANDOM())."""
    items = list(options)
    whens = " ".join(f"WHEN {n} THEN '{v}'" for n, v in enumerate(items))
    return f"(CASE ({expr}) % {len(items)} {whens} END)"


def _series(n: int, chunk: int, body: str, db: sqlite3.Connection, what: str) -> None:
    """Run ``body`` (an INSERT … SELECT reading ``i`` FROM s) for i in [0, n), ``chunk`` rows a statement."""
    done = 0
    started = time.perf_counter()
    while done < n:
        top = min(n, done + chunk)
        db.execute(f"WITH RECURSIVE s(i) AS (SELECT {done} UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {top}) "
                   + body)
        db.commit()
        done = top
    log(f"  {what}: {n:,} rows in {time.perf_counter() - started:.1f} s")


def _ts(seconds_before_t0: str) -> str:
    """The app's SQLite datetime text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) for T0 minus an SQL number of s."""
    epoch = int(T0.timestamp())
    return f"(strftime('%Y-%m-%d %H:%M:%S', {epoch} - ({seconds_before_t0}), 'unixepoch') || '.000000')"


def _load(db: sqlite3.Connection, n_contacts: int, n_events: int, journey_ids: list[str]) -> None:
    h = "((i * 2654435761) % 4294967296)"  # a hash of i: the same data every build
    created = _ts("400 * 86400")
    name = (f"{_pick(SURNAMES, f'{h} / 7')} || {_pick(GIVEN, f'{h} / 151')} || "
            f"(CASE WHEN ({h} / 3547) % 3 = 0 THEN '' ELSE {_pick(GIVEN, f'{h} / 24001')} END)")
    _series(n_contacts, 250_000, (
        "INSERT INTO contacts (id, created_at, updated_at, name, company, city, lifecycle_stage, age, custom, lineage) "
        f"SELECT printf('c%09d', i), {created}, {created}, {name}, {_pick(COMPANIES, f'{h} / 11')}, "
        f"{_pick(CITIES, f'{h} / 13')}, {_pick(STAGES, f'{h} / 17')}, 18 + ({h} / 19) % 50, '{{}}', '{{}}' FROM s"),
        db, "contacts")
    _series(n_contacts, 250_000, (
        "INSERT INTO contact_identities (kind, value, contact_id, source, created_at) "
        f"SELECT 'phone', printf('+86138%08d', i), printf('c%09d', i), 'bench', {created} FROM s "
        f"UNION ALL SELECT 'email', printf('u%d@example.cn', i), printf('c%09d', i), 'bench', {created} FROM s"),
        db, "contacts × 2 identities")
    _series(n_contacts, 250_000, (
        "INSERT INTO contact_tags (contact_id, tag, set_by) "
        f"SELECT printf('c%09d', i), {_pick(['vip', 'newsletter', 'webinar_2025', 'churn_risk'], f'{h} / 23')}, "
        f"'bench' FROM s WHERE ({h} / 29) % 100 < 15"), db, "contacts (15 % tagged)")
    first = _pick(STAGES, f"{h} / 17")
    _series(n_contacts, 250_000, (
        "INSERT INTO stage_history (contact_id, stage, from_stage, at, rule, by) "
        f"SELECT printf('c%09d', i), 'new_visitor', NULL, {created}, 'first_seen', 'bench' FROM s "
        f"UNION ALL SELECT printf('c%09d', i), {first}, 'new_visitor', {_ts(f'({h} / 31) % (300 * 86400)')}, "
        f"'bench_rule', 'bench' FROM s WHERE {first} <> 'new_visitor' AND ({h} / 37) % 3 = 0"),
        db, "contacts (stage history)")
    # messages: one in ten contacts, a year's worth; message k goes to contact (k * 10 + k % 10) % n
    messages = max(1, n_events // 10 * 4 // 10)  # 40 % of the events are message events (4 per 4.28 message)
    journeys = " ".join(f"WHEN {n} THEN '{j}'" for n, j in enumerate(journey_ids))
    at = f"(({h} / 41) % (365 * 86400))"
    ev = (f"SELECT printf('m%09d', i) AS mid, printf('c%09d', (i * 10 + i % 10) % {n_contacts}) AS cid, "
          f"(CASE i % {len(journey_ids)} {journeys} END) AS jid, 't' || (i % {len(journey_ids)}) AS tpl, "
          f"{_pick(['email', 'email', 'sms'], 'i / 5')} AS ch, {at} AS ago, {h} AS h FROM s")
    _series(messages, 200_000, (
        "INSERT INTO outbox (id, idempotency_key, contact_id, journey_id, node_id, channel, template, payload, status, "
        "attempts, created_at, updated_at, next_attempt_at, address, sent_at) "
        f"SELECT mid, 'k' || mid, cid, jid, 'hello', ch, tpl, '{{}}', 'sent', 1, {_ts('ago')}, {_ts('ago')}, "
        f"{_ts('ago')}, 'x@example.cn', {_ts('ago')} FROM ({ev})"), db, "outbox (sent messages)")
    follow = (("message_sent", "0", "100"), ("message_delivered", "60", "90"), ("message_opened", "3600", "30"),
              ("message_clicked", "3900", "8"))
    bucket = f"(CAST(strftime('%s', {_ts('ago - {d}')}) AS INTEGER) / 900)"
    for kind, delay, share in follow:
        suffix = kind.removeprefix("message_")
        _series(messages, 200_000, (
            "INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, properties, msg_id, "
            "msg_journey, msg_node, msg_template, msg_channel, msg_reason, msg_bucket) "
            f"SELECT 'm_' || mid || '_{suffix}', cid, '{kind}', {_ts(f'ago - {delay}')}, {_ts(f'ago - {delay}')}, "
            "'touchflow', json_object('message_id', mid, 'journey_id', jid, 'node_id', 'hello', 'template', tpl, "
            f"'channel', ch), mid, jid, 'hello', tpl, ch, '', {bucket.format(d=delay)} "
            f"FROM ({ev}) WHERE (h / 43) % 100 < {share}"), db, f"events ({kind})")
    rest = n_events - db.execute("SELECT count(*) FROM events").fetchone()[0]
    kind = _pick(["page_view"] * 5 + ["content_download"] * 2 + ["form_submit", "order_paid"], f"{h} / 47")
    url = _pick(['/', '/pricing', '/blog', '/product'], 'i')
    props = (f"(CASE {kind} WHEN 'page_view' THEN json_object('url', {url})"
             f" WHEN 'content_download' THEN json_object('content_id', 'a' || (i % 50), 'content_type', "
             f"{_pick(['whitepaper', 'case_study'], 'i / 3')}) WHEN 'form_submit' THEN json_object('form_id', "
             f"'f' || (i % 5)) ELSE json_object('order_id', 'o' || i, 'amount', "
             f"{_pick(['99', '299', '599', '1299', '2999'], 'i / 7')} + 0) END)")
    contact = f"(CASE WHEN i % 5 = 0 THEN ({h} / 53) % 1000 ELSE ({h} / 59) % {n_contacts} END)"
    _series(rest, 500_000, (
        "INSERT INTO events (id, contact_id, type, occurred_at, received_at, source, properties) "
        f"SELECT printf('e%010d', i), printf('c%09d', {contact}), {kind}, {_ts(at)}, {_ts(at)}, 'bench', {props} "
        "FROM s"), db, "events (web and orders)")


def _index_names(db: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(name, sql) for name, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]


def build(path: Path, n_contacts: int, n_events: int) -> None:
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.journeys import publish_journey

    started = time.perf_counter()
    part = path.with_suffix(".part")
    for stale in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{part}"
    app = bootstrap(Settings(url), clock=VirtualClock(T0 - timedelta(days=366)))
    try:
        app.init_database()
        journey_ids = []
        for n in range(JOURNEYS):
            publish_journey(app.services, JOURNEY.format(n=n), actor="bench")
            with app.services.reader() as uow:
                record = uow.journeys.get(f"j{n}")
                assert record is not None
                journey_ids.append(record.id)
    finally:
        app.close()
    db = sqlite3.connect(part, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1048576")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("BEGIN")
    kept = {table: _index_names(db, table) for table in ("events", "outbox", "contact_identities", "stage_history",
                                                          "contact_tags", "contacts")}
    for indexes in kept.values():
        for name, _sql in indexes:
            db.execute(f"DROP INDEX {name}")
    db.commit()
    _load(db, n_contacts, n_events, journey_ids)
    t = time.perf_counter()
    for indexes in kept.values():
        for _name, sql in indexes:
            db.execute(sql)
    log(f"  indexes rebuilt in {time.perf_counter() - t:.1f} s")
    db.execute("ANALYZE")
    db.close()
    _finish(part, n_contacts)
    for suffix in ("-wal", "-shm"):
        Path(f"{part}{suffix}").unlink(missing_ok=True)
    os.replace(part, path)
    log(f"built {path} in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 2**30:.1f} GiB)")


def _finish(part: Path, n_contacts: int) -> None:
    """What the services write: the rollups, tasks, templates, segments (through the app, as in production)."""
    from touchflow.bootstrap import bootstrap
    from touchflow.clock import VirtualClock
    from touchflow.config import Settings
    from touchflow.services.content import save_template
    from touchflow.services.metrics import refresh_rollups
    from touchflow.services.segments import create_segment
    from touchflow.store.tables import tasks

    app = bootstrap(Settings(f"sqlite:///{part}"), clock=VirtualClock(T0))
    try:
        t = time.perf_counter()
        refresh_rollups(app.services, quiescent=True)
        log(f"  rollups refreshed in {time.perf_counter() - t:.1f} s")
        rows: list[dict[str, Any]] = []
        for i in range(20_200):
            done = i >= 200
            rows.append({"id": f"t{i}", "idempotency_key": f"t{i}", "contact_id": f"c{(i * 37) % n_contacts:09d}",
                         "queue": "sales" if i % 3 else "service", "title": f"回电 {i}",
                         "assignee": None if i % 2 else "bench@example.cn", "status": "done" if done else "open",
                         "created_at": T0 - timedelta(hours=i % 700), "due_at": T0 + timedelta(hours=i % 48 - 12),
                         "done_at": T0 - timedelta(hours=i % 500) if done else None})
        with app.engine.begin() as c:
            c.execute(tasks.insert(), rows)
        for i in range(50):
            save_template(app.services, f"tpl_{i:02d}", "email", "新品上市", f"<p>{{{{ contact.name }}}}，第{i}期</p>",
                          by="bench-editor")
        t = time.perf_counter()
        for key, condition in (("shanghai", {"attr": "city", "eq": "上海"}),
                               ("young_sh", {"all": [{"attr": "city", "eq": "上海"}, {"attr": "age", "lt": 30}]}),
                               ("vip", {"tag": "vip"})):
            create_segment(app.services, {"key": key, "name": key, "condition": condition}, actor="bench")
        log(f"  segments computed in {time.perf_counter() - t:.1f} s")
        with app.engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    finally:
        app.close()
    db = sqlite3.connect(part)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def ensure_indexes(engine: Any) -> None:
    """Create the tables and indexes the schema declares that a file cached before they existed lacks (a migration slot
    filled after the file was made is already marked applied in it), then ANALYZE what changed."""
    from touchflow.store.tables import metadata

    with engine.begin() as c:
        tables = {name for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in metadata.sorted_tables:  # a table a filled slot added (e.g. worker_loads) is created empty
            if table.name not in tables:
                log(f"  creating table {table.name} on the cached file")
                table.create(c)
        present = {name for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        for table in metadata.sorted_tables:
            for index in table.indexes:
                if index.name and index.name not in present:
                    log(f"  creating {index.name} on the cached file")
                    index.create(c)
                    c.exec_driver_sql(f"ANALYZE {index.name}")


def dataset(n_contacts: int, n_events: int) -> Path:
    path = path_for(n_contacts, n_events)
    if path.exists():
        log(f"reusing {path}")
    else:
        log(f"building {n_contacts:,} contacts / {n_events:,} events into {path} …")
        build(path, n_contacts, n_events)
    return path
