"""A first import into a fresh PostgreSQL database: the identity lookup's plan must not depend on statistics
(issue 11 item 8). Before, psycopg prepared the lookup after five runs and PostgreSQL kept a generic plan made
on the empty table — the key's ``kind`` column only, ``value`` as a filter: 1.8 s a lookup at 52k identities."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Connection, create_engine, text

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.domain.identities import Identity
from touchflow.engine import import_file
from touchflow.store.contacts import IDENTITY_LOOKUP_SQL, SqlContactRepository


@pytest.fixture
def fresh_pg(postgres_url: str, clock: VirtualClock) -> Iterator[Application]:
    """A database of its own, never analysed (the shared test database keeps statistics between tests)."""
    base, _, _ = postgres_url.rpartition("/")
    name = f"touchflow_plans_{os.getpid()}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    application = bootstrap(Settings(f"{base}/{name}"), clock=clock)
    application.init_database()
    with application.engine.begin() as c:  # no autovacuum ANALYZE behind the test's back
        for table in ("contact_identities", "contacts"):
            c.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    try:
        yield application
    finally:
        application.close()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _explain(c: Connection, kind: str, values: list[str]) -> str:
    driver = cast(psycopg.Connection[Any], c.connection.dbapi_connection)
    with driver.cursor() as cursor:
        cursor.execute("EXPLAIN " + IDENTITY_LOOKUP_SQL, (kind, values), prepare=False)
        return "\n".join(str(row[0]) for row in cursor.fetchall())


def _uses_the_key(plan: str) -> bool:
    """Every scan of contact_identities is an index scan on both key columns: no filter, no bitmap, no seq scan."""
    lines = plan.splitlines()
    scans = [n for n, line in enumerate(lines) if "contact_identities" in line]
    return bool(scans) and all(
        "Index Scan using pk_contact_identities" in lines[n] and "kind" in lines[n + 1] and "value" in lines[n + 1]
        and "Index Cond" in lines[n + 1] for n in scans) and "Filter" not in plan


def test_the_lookup_uses_kind_and_value_without_statistics(fresh_pg: Application) -> None:
    with fresh_pg.engine.begin() as c:
        c.execute(text("INSERT INTO contacts (id, created_at, updated_at, custom, lineage) "
                       "SELECT lpad(g::text, 26, '0'), now(), now(), '{}', '{}' FROM generate_series(1, 52000) g"))
        c.execute(text("INSERT INTO contact_identities (kind, value, contact_id, source, created_at) "
                       "SELECT 'email', 'p' || g || '@x.cn', lpad(g::text, 26, '0'), 'crm', now() "
                       "FROM generate_series(1, 52000) g"))
        never_analysed = c.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'contact_identities'"))
        assert never_analysed.scalar_one() < 0  # PostgreSQL 14+: no statistics at all
        plan = _explain(c, "email", [f"p{n}@x.cn" for n in range(1, 500)])
        assert _uses_the_key(plan), plan
        repository = SqlContactRepository(c)
        for _ in range(10):  # psycopg prepares a statement on its sixth run
            found = repository.lookup([Identity("email", "p7@x.cn"), Identity("email", "nobody@x.cn")])
            assert found == {Identity("email", "p7@x.cn"): "7".rjust(26, "0")}
        prepared = c.execute(text("SELECT count(*) FROM pg_prepared_statements "
                                  "WHERE statement ILIKE '%contact_identities%'")).scalar_one()
        assert prepared == 0


def test_a_first_import_refreshes_statistics_and_keeps_the_key(fresh_pg: Application, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "email", "phone"])
        writer.writerows([f"客户{n}", f"c{n}@example.com", f"138{n:08d}"] for n in range(3000))
    report = import_file(fresh_pg.services, path, "contacts", "crm", batch_size=100)  # 30 batches
    assert (report.created, report.rejected) == (3000, 0)
    with fresh_pg.engine.connect() as c:
        analysed = {str(name): int(count) for name, count in c.execute(text(
            "SELECT relname, analyze_count FROM pg_stat_user_tables "
            "WHERE relname IN ('contact_identities', 'contacts')"))}
        assert analysed == {"contact_identities": 3, "contacts": 3}  # after batches 1, 4 and 16
        rows = c.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'contact_identities'")).scalar_one()
        assert rows >= 1600 * 2  # seen at batch 16: two identities a contact
        assert _uses_the_key(_explain(c, "email", [f"c{n}@example.com" for n in range(0, 3000, 7)]))
        assert _uses_the_key(_explain(c, "phone", ["+8613800000001"]))
