"""The lifecycle page and the duplicate/merge pages as the people who use them (issue 15, S3–S5, merges): a
strategist reads stage counts and moves, the scoring model and personas with coverage and journey map; confirms
a suggested merge side by side and undoes it, each audited as that person. A reader without contacts.write sees
no merge button and the server refuses the merge; an agent sees only suggestions within their tasks' contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.lifecycle_pass import refresh_all
from touchflow.services.personas import save_persona
from touchflow.store.tables import audit_log, users

PROFILE = {"basic_attributes": "制造业 IT 负责人", "interests": "数字化", "behaviour_habits": "看公众号",
           "pain_points": "预算", "core_needs": "案例"}


def _persona() -> dict[str, Any]:
    return {"key": "mfg", "name": "制造业决策人", "profile": PROFILE, "condition": {"attr": "industry", "eq": "制造业"},
            "map": {"stages": [{"stage": "认知", "emotion": "好奇", "touchpoints": ["官网", "公众号"],
                                "behaviours": ["search"], "trigger": {"event": "signup"},
                                "expected_action": "注册试用", "journeys": []}]}}


def _duplicates(app: Application) -> tuple[str, str]:
    upsert_contacts(app.services, "crm", [RawItem({"email": "w1@x.cn", "name": "王建国", "city": "苏州",
                                                   "company": "苏州精密机械有限公司"}),
                                          RawItem({"phone": "13500001234", "name": "王建国", "city": "苏州",
                                                   "company": "苏州精密机械有限公司"})])
    return find_contact_id(app.services, "email:w1@x.cn"), find_contact_id(app.services, "phone:13500001234")


def test_a_strategist_reads_the_lifecycle_page(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        empty = client.get("/lifecycle")
        assert empty.status_code == 200
        assert "还没有联系人进入任何阶段" in empty.text and "touchflow lifecycle refresh" in empty.text
        assert "还没有画像" in empty.text and 'href="/lifecycle"' in empty.text  # the sidebar lists it
        upsert_contacts(app.services, "crm", [RawItem({"email": f"m{i}@x.cn", "industry": "制造业"})
                                              for i in range(3)] + [RawItem({"email": "o@x.cn"})])
        refresh_all(app.services)
        save_persona(app.services, _persona(), actor="test")
        page = client.get("/lifecycle")
        assert page.status_code == 200, page.text
        assert 'id="spec-stages"' in page.text and 'id="spec-flows"' in page.text  # the charts' Vega-Lite specs
        assert "各阶段联系人数" in page.text and "评分模型" in page.text and "编辑模型" in page.text
        assert "制造业决策人" in page.text and "注册试用" in page.text and "官网、公众号" in page.text
        assert "75%" in page.text or "75.0%" in page.text  # 3 of 4 contacts in the persona
        assert "还没有联系人进入任何阶段" not in page.text
        csrf = csrf_of(page.text)
        bad = client.post("/lifecycle/model", data={"csrf_token": csrf, "document": "name: x\nevents:\n  - name: v\n"
                                                    "    event: page_view\n    points: lots\n"})
        assert bad.status_code == 422 and "events[0].points" in bad.text and "points: lots" in bad.text  # kept
        assert client.post("/lifecycle/model", data={"csrf_token": csrf, "document": "[unclosed"}).status_code == 422
        good = client.post("/lifecycle/model", data={"csrf_token": csrf, "note": "下载加权", "document":
                                                     "name: b2b\nevents:\n  - name: downloads\n"
                                                     "    event: content_download\n    points: 25\n"
                                                     "thresholds: {mql: 40, sql: 90}\n"})
        assert good.status_code == 303, good.text
        after = client.get(good.headers["location"]).text
        assert "已保存为第 1 版" in after and "b2b" in after and "MQL ≥ 40" in after
    with app.engine.connect() as c:
        saves = c.execute(select(audit_log.c.actor).where(audit_log.c.action == "scoring.model.save")).all()
    assert len(saves) == 1 and saves[0].actor.startswith("user:")


def test_roles_without_segments_read_are_refused_the_lifecycle_page(app: Application, clock: VirtualClock) -> None:
    key = issue_api_key(app.services, check_key_spec(KeySpec("reader", "strategist",
                                                             scopes=frozenset({"segments.read"}),
                                                             service_account="reader")), actor="test").secret
    with console_client(app) as client:
        page = client.get("/lifecycle", headers={"Authorization": f"Bearer {key}"})
        assert page.status_code == 200 and "编辑模型" not in page.text and "不能修改" in page.text
        refused = client.post("/lifecycle/model", data={"document": "name: x\nevents: []\n"},
                              headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 403
    with console_client(app) as client:
        sign_in(client, app, clock, "viewer@example.cn", "viewer")
        refused = client.get("/lifecycle")
        assert refused.status_code == 403 and 'href="/lifecycle"' not in refused.text


def test_a_strategist_confirms_a_suggested_merge_and_undoes_it(app: Application, clock: VirtualClock) -> None:
    first, second = _duplicates(app)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        listed = client.get("/contacts/duplicates")
        assert listed.status_code == 200 and "王建国" in listed.text
        assert "135****1234" in listed.text and "13500001234" not in listed.text  # masked
        assert "/contacts/compare?a=" in listed.text
        assert client.get("/contacts/compare").headers["location"] == "/contacts/duplicates"  # choose a pair
        side = client.get("/contacts/compare", params={"a": first, "b": second})
        assert side.status_code == 200 and "确认合并" in side.text and "13500001234" not in side.text
        csrf = csrf_of(side.text)
        assert client.post("/contacts/merge", data={"a": first, "b": second}).status_code == 403  # no CSRF token
        same = client.post("/contacts/merge", data={"csrf_token": csrf, "a": first, "b": first})
        assert same.status_code == 422 and "b: a contact cannot be merged with itself" in same.text
        assert client.post("/contacts/merge", data={"csrf_token": csrf, "a": first}).status_code == 422
        assert client.post("/contacts/merge", data={"csrf_token": csrf, "a": first, "b": "nobody"}).status_code == 404
        merged = client.post("/contacts/merge", data={"csrf_token": csrf, "a": first, "b": second,
                                                      "reason": "同一人，电话核实"})
        assert merged.status_code == 303, merged.text
        survivor = merged.headers["location"].split("/")[2]
        gone = second if survivor == first else first
        assert find_contact_id(app.services, "phone:13500001234") == survivor == find_contact_id(
            app.services, "email:w1@x.cn")
        page = client.get(merged.headers["location"])
        assert "已合并" in page.text and gone in page.text and "撤销合并" in page.text
        assert "没有疑似重复" in client.get("/contacts/duplicates").text
        no_reason = client.post(f"/contacts/{survivor}/merges/undo", data={"csrf_token": csrf, "merged": gone})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        nothing = client.post(f"/contacts/{survivor}/merges/undo",
                              data={"csrf_token": csrf, "merged": survivor, "reason": "x"})
        assert nothing.status_code == 409
        undone = client.post(f"/contacts/{survivor}/merges/undo",
                             data={"csrf_token": csrf, "merged": gone, "reason": "不是同一人"})
        assert undone.status_code == 303
        assert "合并已撤销" in client.get(undone.headers["location"]).text
        assert find_contact_id(app.services, "phone:13500001234") != find_contact_id(app.services, "email:w1@x.cn")
    with app.engine.connect() as c:
        user_id = c.execute(select(users.c.id).where(users.c.email == "li.na@example.cn")).scalar_one()
        rows = c.execute(select(audit_log.c.action, audit_log.c.actor)).all()
    mine = {r.action for r in rows if r.actor.startswith(f"user:{user_id}")}
    assert "contact.merge" in mine and any("unmerge" in a for a in mine), mine


def test_a_reader_without_contacts_write_sees_no_button_and_is_refused(app: Application,
                                                                        clock: VirtualClock) -> None:
    first, second = _duplicates(app)
    key = issue_api_key(app.services, check_key_spec(KeySpec("reader", "strategist",
                                                             scopes=frozenset({"contacts.read"}),
                                                             service_account="reader")), actor="test").secret
    reader = {"Authorization": f"Bearer {key}"}
    with console_client(app) as client:
        side = client.get("/contacts/compare", params={"a": first, "b": second}, headers=reader)
        assert side.status_code == 200 and "确认合并" not in side.text and "不能合并" in side.text
        refused = client.post("/contacts/merge", data={"a": first, "b": second}, headers=reader)
        assert refused.status_code == 403
        assert find_contact_id(app.services, "phone:13500001234") != find_contact_id(app.services, "email:w1@x.cn")
    with console_client(app) as client:
        sign_in(client, app, clock, "agent@example.cn", "agent")
        theirs = client.get("/contacts/duplicates")  # neither contact is in the agent's tasks
        assert theirs.status_code == 200 and "王建国" not in theirs.text and "没有疑似重复" in theirs.text
        assert client.get("/contacts/compare", params={"a": first, "b": second}).status_code == 404
        assert client.get(f"/contacts/{first}/merges").status_code == 404
