"""A segment's whole membership history on its page: who joined and left, when, newest first, 25 a page with a link
to older changes; names with masked phones for a reader of contacts. Static lists keep their add/remove form.
In Chromium the page is axe-clean and goes into the manual."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.console_support import console_client, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import add_members, create_segment, remove_members

PHONES = [f"1381234{i:04d}" for i in range(30)]


def seed(app: Application, clock: VirtualClock) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"phone": p, "name": f"客户{i}"}) for i, p in enumerate(PHONES)])
    create_segment(app.services, {"key": "vip", "name": "高价值客户", "kind": "static"}, actor="test")
    add_members(app.services, "vip", [f"phone:{p}" for p in PHONES], actor="test")
    clock.advance(timedelta(hours=2))
    remove_members(app.services, "vip", [f"phone:{PHONES[0]}"], actor="test")


def test_the_segment_page_pages_through_who_joined_and_left(app: Application, clock: VirtualClock) -> None:
    seed(app, clock)  # before signing in: the clock moves two hours
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        create_segment(app.services, {"key": "empty", "name": "空", "kind": "static"}, actor="test")
        assert "还没有人加入这个分群" in client.get("/segments/empty").text
        page = client.get("/segments/vip")
        assert page.status_code == 200
        first = re.findall(r'data-stay="(\d+)" data-left="(yes|no)"', page.text)
        assert len(first) == 25 and first[0][1] == "no"
        assert "13812340001" not in page.text  # masked
        older = re.search(r'history_before=(\d+)', page.text)
        assert older
        rest = client.get(f"/segments/vip?history_before={older.group(1)}")
        second = re.findall(r'data-stay="(\d+)" data-left="(yes|no)"', rest.text)
        assert len(second) == 5 and "history_before=" not in rest.text.split('id="membership-history"')[1]
        seqs = [int(s) for s, _ in first + second]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 30
        assert [left for _, left in first + second].count("yes") == 1  # 客户0 left
        assert 'data-left="yes"' in (page.text + rest.text)
        assert client.get("/segments/vip?history_before=-1").status_code == 422
        assert "更改列表" in page.text or "/segments/vip/members" in page.text  # the static list form


@needs_chromium
def test_segment_history_in_chromium(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the behaviour is checked on both databases over HTTP above
    seed(app, clock)
    with browser(app, clock) as b:
        page = b.page_as("li.na@example.cn", "strategist", "李娜")
        page.goto(f"{b.base}/segments/vip")
        page.locator("#membership-history [data-stay]").first.wait_for()
        b.check(page)
        page.get_by_role("link", name="更早的变化").click()
        page.wait_for_url("**history_before=*")
        assert page.locator("#membership-history [data-stay]").count() == 5
        b.check(page, "segments-history.png")
