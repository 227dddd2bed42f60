"""The connectors card of the sources page (D2, A6): an administrator sees each connector's kind, schedule, last
runs, last error and sync success rate, and runs, pauses and resumes one from the page — each an audit row with the
administrator as actor; a strategist (connectors.read only) sees the card without the buttons and is refused the
actions; in Chromium the card is axe-clean and goes into the manual."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import run_connector
from touchflow.services.connectors import add_connector, get_connector


def _shop(app: Application, tmp_path: Path) -> None:
    """``shop`` ran twice: once well (3 orders), once against a table that is gone (an error); ``crm`` never ran."""
    src = tmp_path / "shop.db"
    with sqlite3.connect(src) as db:
        db.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, phone TEXT, paid_at TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                       [(i, f"1380013{i:04d}", f"2026-03-01T0{i}:00:00+08:00") for i in range(1, 4)])
    add_connector(app.services, "shop", "sql", {"url": f"sqlite:///{src}", "table": "orders"}, record_kind="events",
                  event_type="order_paid", mapping={"occurred_at": "paid_at"}, cursor="order_id",
                  schedule="0 9 * * *", kinds=kind_requirements(), actor="user:test")
    assert run_connector(app.services, "shop", actor="user:test").status == "succeeded"
    with sqlite3.connect(src) as db:
        db.execute("DROP TABLE orders")
    assert run_connector(app.services, "shop", actor="user:test").status == "failed"
    add_connector(app.services, "crm", "sql", {"url": f"sqlite:///{src}", "table": "members"},
                  kinds=kind_requirements(), actor="user:test")


def test_an_admin_reads_runs_pauses_and_resumes_connectors(app: Application, clock: VirtualClock,
                                                           tmp_path: Path) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin", name="管理员甲")
        empty = client.get("/imports")
        assert empty.status_code == 200 and "还没有连接器" in empty.text
        _shop(app, tmp_path)
        page = client.get("/imports")
        assert page.status_code == 200
        assert 'data-connector="shop"' in page.text and 'data-connector="crm"' in page.text
        assert "0 9 * * *" in page.text and "从未运行" in page.text and "最近错误" in page.text
        assert 'data-rate="0.5"' in page.text  # one of two finished runs succeeded
        token = csrf_of(page.text)
        paused = client.post("/imports/connectors/shop/pause", data={"csrf_token": token})
        assert paused.status_code == 303 and "connector_done=pause" in paused.headers["location"]
        assert get_connector(app.services, "shop").status == "paused"
        refused = client.post("/imports/connectors/shop/run", data={"csrf_token": token})
        assert "connector_error=paused" in refused.headers["location"]
        shown = client.get(refused.headers["location"])
        assert "已暂停：请先恢复" in shown.text
        client.post("/imports/connectors/shop/resume", data={"csrf_token": token})
        assert get_connector(app.services, "shop").status == "active"
        queued = client.post("/imports/connectors/shop/run", data={"csrf_token": token})
        assert "connector_done=run" in queued.headers["location"]
        assert get_connector(app.services, "shop").next_run_at == clock.now()
        missing = client.post("/imports/connectors/nope/run", data={"csrf_token": token})
        assert "connector_error=not_found" in missing.headers["location"]
    for action in ("connector.pause", "connector.resume", "connector.run_requested"):
        actors = audit_actors(app, action)
        assert actors and all(a.startswith("user:") and a != "user:test" for a in actors), (action, actors)


def test_a_strategist_sees_connectors_but_cannot_act(app: Application, clock: VirtualClock, tmp_path: Path) -> None:
    _shop(app, tmp_path)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/imports")
        assert 'data-connector="shop"' in page.text and "/imports/connectors/shop/pause" not in page.text
        refused = client.post("/imports/connectors/shop/pause", data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 403
    assert get_connector(app.services, "shop").status == "active"


@needs_chromium
def test_connectors_card_in_chromium(app: Application, clock: VirtualClock, tmp_path: Path,
                                     database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the behaviour is checked on both databases over HTTP above
    _shop(app, tmp_path)
    with browser(app, clock) as b:
        page = b.page_as("admin@example.cn", "admin", "管理员甲")
        page.goto(f"{b.base}/imports")
        page.locator("#connectors tr[data-connector='shop']").wait_for()
        b.check(page, "imports-connectors.png")
        page.get_by_role("button", name="暂停 shop").click()
        page.locator("#connectors tr[data-connector='shop'][data-status='paused']").wait_for()
        b.check(page)
        page.get_by_role("button", name="恢复 shop").click()
        page.locator("#connectors tr[data-connector='shop'][data-status='active']").wait_for()
