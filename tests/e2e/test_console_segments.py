"""Segment pages: the builder's live count follows the conditions (rows, any/all, YAML), samples are masked, a
saved segment shows its members; a static list takes identifiers; "export this segment" files an approval
request that shows pending; a reader without ``segments.write`` sees no controls and is refused."""

from __future__ import annotations

import re

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.approvals import list_requests
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import list_segments


def seed(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": f"buyer{i}@shop.cn", "phone": f"1381234{i:04d}",
                                                   "city": "上海" if i < 3 else "北京", "age": 20 + i * 5})
                                          for i in range(6)])


def _count(html: str) -> int:
    found = re.search(r'data-count="(\d+)"', html)
    assert found, html
    return int(found.group(1))


def test_the_builder_counts_as_conditions_change(app: Application, clock: VirtualClock) -> None:
    seed(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        assert "还没有分群" in client.get("/segments").text
        csrf = csrf_of(client.get("/segments/new").text)
        form = {"csrf_token": csrf, "name": "上海客户", "key": "shanghai", "kind": "dynamic", "join": "all",
                "rows": "1", "r0_kind": "attr", "r0_field": "city", "r0_op": "eq", "r0_value": "上海"}
        first = client.post("/segments/preview", data=form, headers={"X-CSRF-Token": csrf})
        assert _count(first.text) == 3
        assert "buyer" not in first.text and re.search(r"b\*\*\*@shop\.cn", first.text)
        assert re.search(r"138\*+\d{4}", first.text)
        added = client.post("/segments/builder", data={**form, "add": "1"}, headers={"X-CSRF-Token": csrf})
        assert 'name="r1_kind"' in added.text and 'name="rows" value="2"' in added.text
        narrower = {**form, "rows": "2", "r1_kind": "attr", "r1_field": "age", "r1_op": "gte", "r1_value": "25"}
        assert _count(client.post("/segments/preview", data=narrower, headers={"X-CSRF-Token": csrf}).text) == 2
        wider = {**narrower, "join": "any"}
        assert _count(client.post("/segments/preview", data=wider, headers={"X-CSRF-Token": csrf}).text) == 6
        yaml_form = {**form, "advanced": "{attr: city, eq: 北京}"}
        assert _count(client.post("/segments/preview", data=yaml_form, headers={"X-CSRF-Token": csrf}).text) == 3
        broken = client.post("/segments/preview", data={**form, "r0_op": "gte", "r0_field": ""},
                             headers={"X-CSRF-Token": csrf})
        assert broken.status_code == 200 and "segment.condition" in broken.text
        saved = client.post("/segments", data=narrower)
        assert saved.status_code == 303 and saved.headers["location"] == "/segments/shanghai?saved=1"
        page = client.get("/segments/shanghai")
        assert 'data-members="2"' in page.text and "b***@shop.cn" in page.text
        again = client.post("/segments", data=narrower)
        assert again.status_code == 409 and 'data-field="key"' in again.text
        assert "已存在：请换一个" in again.text and "exists already" not in again.text  # the reader's language
        listing = client.get("/segments")
        assert 'data-members="2"' in listing.text


def test_a_static_list_history_and_an_export_through_an_approval(app: Application, clock: VirtualClock) -> None:
    seed(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        csrf = csrf_of(client.get("/segments/new").text)
        made = client.post("/segments", data={"csrf_token": csrf, "name": "展会名单", "key": "expo", "kind": "static",
                                              "rows": "1"})
        assert made.status_code == 303
        lines = "email:buyer1@shop.cn\nemail:nobody@x.cn"
        form = {"csrf_token": csrf, "action": "add", "identifiers": lines}
        changed = client.post("/segments/expo/members", data=form)
        assert changed.headers["location"] == "/segments/expo?note=unknown"
        page = client.get("/segments/expo?contact=email:buyer1@shop.cn")
        assert 'data-members="1"' in page.text and "仍是成员" in page.text
        refused = client.post("/segments/expo/export", data={"csrf_token": csrf, "reason": ""})
        assert refused.headers["location"] == "/segments/expo?note=reason"
        asked = client.post("/segments/expo/export", data={"csrf_token": csrf, "reason": "展会回访"})
        assert asked.headers["location"] == "/segments/expo?note=export"
        pending = list_requests(app.services, state="pending")
        assert [r.subject for r in pending] == ["segment:expo"] and "李娜" in pending[0].requested_by_label
        page = client.get("/segments/expo?note=export")
        assert 'data-export-state="pending"' in page.text and "等待审批" in page.text


def test_a_reader_without_write_sees_no_controls_and_is_refused(app: Application, clock: VirtualClock) -> None:
    seed(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        csrf = csrf_of(client.get("/segments/new").text)
        client.post("/segments", data={"csrf_token": csrf, "name": "上海", "key": "sh", "rows": "1", "r0_kind": "attr",
                                       "r0_field": "city", "r0_op": "eq", "r0_value": "上海"})
    with console_client(app) as viewer:  # no role holds segments.read without segments.write: a viewer has neither
        sign_in(viewer, app, clock, "viewer@example.cn", "viewer")
        assert viewer.get("/segments").status_code == 403
        page_csrf = csrf_of(viewer.get("/preferences").text)
        refused = viewer.post("/segments/sh/refresh", data={"csrf_token": page_csrf})
        assert refused.status_code == 403
    assert [s.record.key for s in list_segments(app.services)] == ["sh"]


def test_the_pages_read_in_english_by_preference(app: Application, clock: VirtualClock) -> None:
    seed(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "admin")
        csrf = csrf_of(client.get("/preferences").text)
        assert client.post("/preferences", data={"csrf_token": csrf, "locale": "en"}).status_code == 303
        for path, words in (("/segments/new", "Live count"), ("/content/new", "Start writing"),
                            ("/imports", "Success rate"), ("/content/assets", "Asset library")):
            page = client.get(path)
            assert page.status_code == 200 and words in page.text and "实时人数" not in page.text, path
        preview = client.post("/segments/preview", headers={"X-CSRF-Token": csrf},
                              data={"rows": "1", "r0_kind": "attr", "r0_field": "city", "r0_op": "eq",
                                    "r0_value": "上海"})
        assert "Contacts who match now" in preview.text and _count(preview.text) == 3
