"""The sql kind against the real MariaDB (PyMySQL) and PostgreSQL on this machine: a table by an updated-at cursor,
a query by an id cursor, the test command, and retries when the server is unreachable. Each test creates and drops
its own uniquely named table."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from touchflow.bootstrap import Application
from touchflow.domain.identities import Identity
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import RunOptions, run_connector
from touchflow.engine.connectors.runner import test_connector as check_connector
from touchflow.services.connectors import add_connector

PEERS = {
    "mariadb": os.environ.get("TOUCHFLOW_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
}
FAST = RunOptions(batch_size=2, backoff_s=0.0, sleep=lambda _s: None)


@pytest.fixture(params=sorted(PEERS))
def peer(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(url, table): a fresh table on the peer, dropped afterwards; skipped when the peer is not running."""
    url = PEERS[request.param]
    engine = create_engine(url)
    table = f"tf_conn_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as c:
            c.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(50), mobile VARCHAR(30), "
                           "email VARCHAR(100), level VARCHAR(20), updated_at TIMESTAMP NULL)"))
    except OperationalError as exc:
        pytest.skip(f"{request.param} is not reachable at {url}: {exc.orig}")
    try:
        yield url, table
    finally:
        with engine.begin() as c:
            c.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def _insert(url: str, table: str, rows: list[tuple[object, ...]]) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        for row in rows:
            c.execute(text(f"INSERT INTO {table} VALUES (:id, :name, :mobile, :email, :level, :at)"),
                      dict(zip(("id", "name", "mobile", "email", "level", "at"), row, strict=True)))
    engine.dispose()


def _contact_field(app: Application, phone: str, field: str) -> object:
    with app.services.reader() as uow:
        found = uow.contacts.lookup([Identity("phone", phone)])
        states = uow.contacts.load(list(found.values()))
    state = next(iter(states.values()))
    return state.values.get(field)


def test_table_by_updated_at(app: Application, peer: tuple[str, str]) -> None:
    url, table = peer
    _insert(url, table, [
        (1, "张三", "13800138000", "zs@example.com", "金卡", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        (2, "李四", "12345", "bad", "", datetime(2026, 3, 1, 11, tzinfo=UTC)),
        (3, "王五", "13900139000", None, "银卡", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ])
    add_connector(app.services, "crm", "sql", {"url": url, "table": table}, mapping={"phone": "mobile",
                  "custom.vip": "level"}, cursor="updated_at", kinds=kind_requirements(), actor="user:test")
    assert "reachable" in check_connector(app.services, "crm")
    first = run_connector(app.services, "crm", actor="user:test", options=FAST)
    assert first.status == "succeeded", first.error
    assert (first.read, first.accepted, first.rejected) == (3, 2, 1)
    assert str(first.cursor_after).startswith("2026-03-01T12:00:00")
    engine = create_engine(url)
    with engine.begin() as c:  # one row changes later; one arrives
        c.execute(text(f"UPDATE {table} SET level = '钻石', updated_at = :at WHERE id = 1"),
                  {"at": datetime(2026, 3, 2, 9, tzinfo=UTC)})
    engine.dispose()
    _insert(url, table, [(4, "赵六", "13700137000", None, "", datetime(2026, 3, 2, 10, tzinfo=UTC))])
    second = run_connector(app.services, "crm", actor="user:test", options=FAST)
    assert second.status == "succeeded", second.error
    assert second.read == 3  # the boundary row (12:00), the changed row, the new one
    assert str(second.cursor_after).startswith("2026-03-02T10:00:00")
    assert _contact_field(app, "+8613800138000", "custom.vip") == "钻石"


def test_query_by_id_and_unreachable_server_retries(app: Application, peer: tuple[str, str]) -> None:
    url, table = peer
    _insert(url, table, [(i, f"客户{i}", f"1360013{i:04d}", None, "", None) for i in range(1, 8)])
    add_connector(app.services, "q", "sql", {"url": url, "query": f"SELECT id, name, mobile FROM {table} WHERE id > 2"},
                  mapping={"phone": "mobile"}, cursor="id", kinds=kind_requirements(), actor="user:test")
    run = run_connector(app.services, "q", actor="user:test", options=FAST)
    assert run.status == "succeeded", run.error
    assert (run.read, run.accepted, run.cursor_after) == (5, 5, 7)
    again = run_connector(app.services, "q", actor="user:test", options=FAST)
    assert again.read == 1 and again.cursor_after == 7
    port = url.replace("3306", "1").replace("5432", "1")  # nothing listens on port 1
    add_connector(app.services, "down", "sql", {"url": port, "table": table}, kinds=kind_requirements(),
                  actor="user:test")
    down = run_connector(app.services, "down", actor="user:test", options=FAST)
    assert down.status == "failed" and down.retried == 3 and "OperationalError" in (down.error or "")
