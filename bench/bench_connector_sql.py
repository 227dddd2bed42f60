"""SQL connector throughput and memory: contacts pulled from PostgreSQL (and MariaDB) by the ``sql`` connector kind,
against importing the same rows from a CSV file, in the same run.

    python bench/bench_connector_sql.py [--rows 1000000] [--mariadb] [--database sqlite|URL] [--batch 2000]

The rows (seeded: name, phone, email, company, city, updated id) are written once to a CSV file and to a uniquely
named table in the local PostgreSQL (``--pg URL``) — and MariaDB with ``--mariadb`` — which is dropped at the end.
Each measured phase runs in its own process (multiprocessing 'spawn') on a fresh Touchflow database, so the peak
RSS reported is that phase's alone:

* csv: ``import_file`` of the CSV (the baseline: what a person does today);
* connector-pg / connector-mariadb: ``run_connector`` of a ``sql`` connector on the table, cursor ``id``: dlt
  extracts the rows to its working directory, normalises them and hands batches to the same ingest use case.

The result is a Markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import log, peak_rss_mb

HEADERS = ("id", "name", "phone", "email", "company", "city")
CITIES = ("上海", "北京", "深圳", "杭州", "成都", "苏州", "武汉", "南京")


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


def _rows(count: int, seed: int) -> Any:
    rng = random.Random(seed)
    for i in range(1, count + 1):
        yield (i, f"客户{i}", f"13{rng.randrange(10**9):09d}", f"user{i}@example{i % 97}.cn",
               f"公司{rng.randrange(5000)}", rng.choice(CITIES))


def _write_csv(path: Path, count: int, seed: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(_rows(count, seed))


def _load_table(url: str, table: str, count: int, seed: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(50), phone VARCHAR(20), "
                       "email VARCHAR(100), company VARCHAR(100), city VARCHAR(20))"))
    insert = text(f"INSERT INTO {table} VALUES (:id, :name, :phone, :email, :company, :city)")
    batch: list[dict[str, Any]] = []
    with engine.begin() as c:
        for row in _rows(count, seed):
            batch.append(dict(zip(HEADERS, row, strict=True)))
            if len(batch) == 5000:
                c.execute(insert, batch)
                batch = []
        if batch:
            c.execute(insert, batch)
    engine.dispose()


def _drop(url: str, table: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def _fresh_app(database: str, work: Path) -> Any:
    from touchflow.bootstrap import bootstrap
    from touchflow.config import Settings

    url = f"sqlite:///{(work / f'tf-{uuid.uuid4().hex[:6]}.db').as_posix()}" if database == "sqlite" else database
    app = bootstrap(Settings(url, config_dir=str(work)))
    app.init_database()
    return app


def _phase_csv(database: str, work: str, csv_path: str, batch: int, out: Any) -> None:
    from touchflow.engine.importer import import_file

    app = _fresh_app(database, Path(work))
    started = time.perf_counter()
    report = import_file(app.services, Path(csv_path), "contacts", "crm", batch_size=batch)
    seconds = time.perf_counter() - started
    app.close()
    out.put(Measured("csv import", report.read, seconds, peak_rss_mb(), f"created {report.created:,}"))


def _phase_connector(database: str, work: str, url: str, table: str, label: str, batch: int, out: Any) -> None:
    from touchflow.engine.connectors.kinds import kind_requirements
    from touchflow.engine.connectors.runner import RunOptions, run_connector
    from touchflow.services.connectors import add_connector

    app = _fresh_app(database, Path(work))
    add_connector(app.services, "bench", "sql", {"url": url, "table": table, "source": "crm", "chunk_size": 10_000},
                  cursor="id", kinds=kind_requirements(), actor="bench")
    started = time.perf_counter()
    run = run_connector(app.services, "bench", actor="bench", options=RunOptions(batch_size=batch, work_dir=Path(work)))
    seconds = time.perf_counter() - started
    app.close()
    if run.status != "succeeded":
        raise SystemExit(f"{label}: run failed: {run.error}")
    out.put(Measured(label, run.read, seconds, peak_rss_mb(), f"accepted {run.accepted:,}"))


def _spawn(target: Any, *args: Any) -> Measured:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result: Measured = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, phases interleaved; the median is shown")
    parser.add_argument("--database", default="sqlite", help="Touchflow's store: sqlite (a temp file) or a URL")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mariadb", nargs="?", const="mysql+pymysql://root@127.0.0.1:3306/test", default=None)
    args = parser.parse_args()
    table = f"tf_bench_{uuid.uuid4().hex[:8]}"
    peers = [("connector-pg", args.pg)] + ([("connector-mariadb", args.mariadb)] if args.mariadb else [])
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as work:
        csv_path = Path(work) / "contacts.csv"
        log(f"writing {args.rows:,} rows to {csv_path} and to {table} on {len(peers)} database(s)")
        _write_csv(csv_path, args.rows, args.seed)
        try:
            for _, url in peers:
                _load_table(url, table, args.rows, args.seed)
            rounds: list[list[Measured]] = []
            for round_ in range(args.repeat):  # interleaved: the machine's load changes alike for every phase
                log(f"round {round_ + 1}: csv import")
                measured = [_spawn(_phase_csv, args.database, work, str(csv_path), args.batch)]
                for label, url in peers:
                    log(f"round {round_ + 1}: {label}")
                    measured.append(_spawn(_phase_connector, args.database, work, url, table, label, args.batch))
                rounds.append(measured)
                log("  " + ", ".join(f"{m.phase} {m.rate:,.0f} rows/s" for m in measured))
            results = [sorted((r[i] for r in rounds), key=lambda m: m.seconds)[len(rounds) // 2]
                       for i in range(len(rounds[0]))]
        finally:
            for _, url in peers:
                _drop(url, table)
    baseline = results[0].rate
    print(f"\n{args.rows:,} contact rows, store {args.database}, batch {args.batch}, median of {args.repeat}\n")
    print("| phase | rows | seconds | rows/s | × csv import | peak RSS MB | detail |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for m in results:
        print(f"| {m.phase} | {m.rows:,} | {m.seconds:.1f} | {m.rate:,.0f} | {m.rate / baseline:.2f} | "
              f"{m.peak_rss_mb:.0f} | {m.detail} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
