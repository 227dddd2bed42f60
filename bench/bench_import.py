"""Import throughput and memory: Touchflow's ``import_file`` against a plain SQLite insert.

    python bench/bench_import.py --contacts 100000 --events 1000000 [--database sqlite|URL] [--seed 1]
                                 [--encryption] [--repeat 3]

Sample data is generated first (seeded, not timed). Each measured phase then runs in its own
process (multiprocessing 'spawn'), so the peak RSS reported is that phase's alone:

* baseline: the same file read with the standard library (csv / json) and inserted with batched
  ``executemany`` into an indexed SQLite table shaped like ``contacts`` / ``events``, with the
  pragmas Touchflow uses (WAL, synchronous=NORMAL). No normalisation, no identity resolution:
  the floor for "a file into a table".
* touchflow: ``import_file`` into a fresh Touchflow database; contacts (the GBK CRM export) first,
  then web events into the same database, as a customer would.
* with ``--encryption``: the touchflow phases run twice, on two fresh databases, personal data in plaintext
  and then encrypted at rest (ADR 0026: AES-GCM identities and names, HMAC blind-index lookups), and the
  table gives the encrypted run's rate against the plaintext one.

The result is a Markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import peak_rss_mb as _peak_rss_mb

BATCH = 2000
_CONTACTS_DDL = """
CREATE TABLE contacts (
    id VARCHAR(40) PRIMARY KEY, created_at VARCHAR(32) NOT NULL, updated_at VARCHAR(32) NOT NULL,
    merged_into VARCHAR(40), name VARCHAR(200), gender VARCHAR(16), age INTEGER, city VARCHAR(100),
    province VARCHAR(100), industry VARCHAR(100), company VARCHAR(300), job_title VARCHAR(200),
    timezone VARCHAR(64), locale VARCHAR(32), lifecycle_stage VARCHAR(32), custom TEXT NOT NULL,
    lineage TEXT NOT NULL);
CREATE INDEX ix_contacts_merged_into ON contacts (merged_into);
CREATE INDEX ix_contacts_city ON contacts (city);
"""
_EVENTS_DDL = """
CREATE TABLE events (
    id VARCHAR(64) PRIMARY KEY, contact_id VARCHAR(40) NOT NULL, type VARCHAR(64) NOT NULL,
    occurred_at VARCHAR(32) NOT NULL, received_at VARCHAR(32) NOT NULL, source VARCHAR(100) NOT NULL,
    properties TEXT NOT NULL);
CREATE INDEX ix_events_contact_id_type_occurred_at ON events (contact_id, type, occurred_at);
CREATE INDEX ix_events_type_occurred_at ON events (type, occurred_at);
"""
_NOW = "2026-01-01T00:00:00+00:00"  # a fixed "received at": the baseline does no clock work either


@dataclass(frozen=True)
class Measured:
    phase: str
    rows: int
    seconds: float
    peak_rss_mb: float
    detail: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _contact_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    with path.open(encoding="gbk", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for n, r in enumerate(reader):  # 客户编号,姓名,手机号,邮箱,公司,行业,职位,城市,省份,性别,更新时间
            yield (f"c{n}", _NOW, _NOW, None, r[1], r[9], None, r[7], r[8], r[5], r[4], r[6], None, None, None,
                   json.dumps({"phone": r[2], "email": r[3], "crm_id": r[0]}, ensure_ascii=False), "{}")


def _event_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            e = json.loads(line)
            who = e.get("anonymous_id") or e.get("email") or e.get("phone") or ""
            yield (e.get("id") or f"n{n}", who, e["type"], e["occurred_at"], _NOW, "website",
                   json.dumps(e.get("properties", {}), ensure_ascii=False))


def baseline(kind: str, path: str, db: str) -> Measured:
    """Plain stdlib read + batched executemany; runs in a fresh process."""
    started = time.perf_counter()
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA cache_size=-65536")
    connection.executescript(_CONTACTS_DDL if kind == "contacts" else _EVENTS_DDL)
    rows = _contact_rows(Path(path)) if kind == "contacts" else _event_rows(Path(path))
    sql = ("INSERT INTO contacts VALUES (" + ",".join("?" * 17) + ")" if kind == "contacts"
           else "INSERT INTO events VALUES (?,?,?,?,?,?,?)")
    count = 0
    for batch in _batches(rows):
        connection.execute("BEGIN")
        connection.executemany(sql, batch)
        connection.execute("COMMIT")
        count += len(batch)
    connection.close()
    return Measured(f"baseline {kind} (sqlite3 executemany)", count, time.perf_counter() - started,
                    _peak_rss_mb())


def touchflow(kind: str, path: str, url: str, batch_size: int, config_dir: str | None = None,
              label: str = "") -> Measured:
    """``import_file`` into the Touchflow database at ``url``; runs in a fresh process."""
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings
    from touchflow.engine.importer import import_file

    application = bootstrap(Settings(url, batch_size=batch_size, config_dir=config_dir))
    try:
        started = time.perf_counter()
        source = "crm" if kind == "contacts" else "website"
        report = import_file(application.services, Path(path), "contacts" if kind == "contacts" else "events",
                             source, rejects_path=Path(path).with_suffix(".rejects.csv"), batch_size=batch_size)
        seconds = time.perf_counter() - started
    finally:
        application.close()
    new = report.created if kind == "contacts" else report.contacts_created
    detail = (f"{new:,} new contacts, {report.merged:,} merges, {report.rejected:,} rejected"
              + (f", {report.created:,} events stored" if kind == "events" else ""))
    return Measured(f"touchflow import {kind}{label}", report.read, seconds, _peak_rss_mb(), detail)


def _cipher_cost(n: int = 50_000) -> str:
    """What encryption adds per value, without the database: a blind index and an AES-GCM seal."""
    from touchflow.security.pii import PiiCodec, new_data_key

    codec = PiiCodec({1: new_data_key()}, 1, new_data_key(), plaintext_left=False)
    values = [f"user{i}@example.cn" for i in range(n)]
    started = time.perf_counter()
    for v in values:
        codec.encrypt(v, "contact_identities", "value", "email:" + codec.index("email", v))
    per_identity = (time.perf_counter() - started) / n * 1e6
    return f"{per_identity:.1f} µs per identity (blind index + AES-GCM), best of one run of {n:,}"


def _in_own_process(fn: Callable[..., Measured], *args: object) -> Measured:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fresh_database(database: str, workdir: Path, encrypted: bool = False) -> tuple[str, Callable[[], None]]:
    """A new, migrated Touchflow database and a function that removes it; ``encrypted``: with a key ring
    (in ``workdir/config``) and data keys, so personal data is encrypted from the first row."""
    from sqlalchemy import create_engine, text

    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings, normalise_database_url

    def init(url: str) -> None:
        application = bootstrap(Settings(url, config_dir=str(workdir / "config")))
        application.init_database()
        if encrypted:
            application.create_secret_key()
            application.pii_keys.rotate(application.services.clock.now, actor="bench")
        application.close()

    if database == "sqlite":
        path = workdir / ("touchflow-encrypted.db" if encrypted else "touchflow.db")
        url = f"sqlite:///{path.as_posix()}"
        init(url)

        def remove() -> None:  # the next run starts from an empty database again
            for leftover in workdir.glob(path.name + "*"):
                leftover.unlink()

        return url, remove
    admin_url = normalise_database_url(database)
    name = f"touchflow_bench_{os.getpid()}{'_encrypted' if encrypted else ''}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rpartition("/")[0] + "/" + name
    init(url)

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _table(results: list[Measured], baselines: dict[str, Measured], plain: dict[str, Measured]) -> str:
    lines = ["| phase | rows | seconds | rows/s | vs baseline | vs plaintext | peak RSS (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for m in results:
        kind = "contacts" if "contacts" in m.phase else "events"
        base = baselines[kind]
        ratio = "1.00×" if m is base else f"{m.rate / base.rate:.3f}× ({base.rate / m.rate:.0f}× slower)"
        versus = f"{m.rate / plain[kind].rate:.3f}×" if "encrypted" in m.phase and kind in plain else ""
        lines.append(f"| {m.phase} | {m.rows:,} | {m.seconds:.2f} | {m.rate:,.0f} | {ratio} | {versus} "
                     f"| {m.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=100_000, help="CRM contact rows (default 100000)")
    parser.add_argument("--events", type=int, default=1_000_000, help="web events (default 1000000)")
    parser.add_argument("--database", default="sqlite",
                        help="'sqlite' (a fresh file) or a PostgreSQL URL; a database touchflow_bench_<pid> "
                             "is created on that server and dropped afterwards")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--encryption", action="store_true",
                        help="also run the touchflow phases with personal data encrypted at rest, and compare")
    parser.add_argument("--repeat", type=int, default=1, help="run the touchflow phases this often; keep the best")
    args = parser.parse_args(argv)

    from touchflow.demo.sample_data import write_sample_data

    workdir = Path(tempfile.mkdtemp(prefix="touchflow-bench-"))
    try:
        _log(f"generating {args.contacts:,} contacts and {args.events:,} events in {workdir} …")
        began = time.perf_counter()
        files = write_sample_data(workdir / "data", contacts=args.contacts, seed=args.seed, events=args.events)
        generation = time.perf_counter() - began
        crm, web = str(files.path("crm")), str(files.path("web_events"))
        results: list[Measured] = []
        for kind, path in (("contacts", crm), ("events", web)):
            _log(f"baseline {kind} …")
            results.append(_in_own_process(baseline, kind, path, str(workdir / f"baseline-{kind}.db")))
        baselines = {"contacts": results[0], "events": results[1]}
        best: dict[tuple[bool, str], Measured] = {}
        for attempt in range(args.repeat):  # plaintext and encrypted alternate: a busy machine hits both alike
            for encrypted in (False, True) if args.encryption else (False,):
                url, drop = _fresh_database(args.database, workdir, encrypted)
                label = " (encrypted)" if encrypted else ""
                try:
                    for kind, path in (("contacts", crm), ("events", web)):
                        _log(f"touchflow {kind}{label}, run {attempt + 1} …")
                        measured = _in_own_process(touchflow, kind, path, url, args.batch_size,
                                                   str(workdir / "config"), label)
                        if (encrypted, kind) not in best or measured.seconds < best[encrypted, kind].seconds:
                            best[encrypted, kind] = measured
                finally:
                    drop()
        results.extend(best[key] for key in sorted(best))
        plain = {kind: m for (encrypted, kind), m in best.items() if not encrypted}
    finally:
        if args.keep:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    database = "sqlite (file)" if args.database == "sqlite" else "postgresql"
    print(f"## Import benchmark: {args.contacts:,} contacts, {args.events:,} events (seed {args.seed})\n")
    print(f"Touchflow database: {database}, batch size {args.batch_size}; baseline: SQLite "
          f"{sqlite3.sqlite_version}; Python {sys.version.split()[0]} on {sys.platform}, "
          f"{os.cpu_count()} CPUs. Sample data generated in {generation:.1f} s (not timed).\n")
    print(_table(results, baselines, plain))
    print()
    if args.encryption:
        print(f"- the cipher alone: {_cipher_cost()}")
    for m in results:
        if m.detail:
            print(f"- {m.phase}: {m.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
