"""The contacts pages as the people who use them: a strategist finds a contact by phone (masked in the list),
reads the profile, edits tags and an attribute by hand and freezes/unfreezes — each audited as that person; an
agent reaches only the contacts of their tasks and sees no edit control, and the server refuses the edit anyway;
a viewer (reports only) is refused the page."""

from __future__ import annotations

from sqlalchemy import select

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key
from touchflow.store.tables import audit_log, tasks, users


def _seed(app: Application, client: object) -> str:
    key = issue_api_key(app.services, check_key_spec(KeySpec("seed", "admin", service_account="seed")),
                        actor="test").secret
    answer = client.post("/v1/contacts", headers={"Authorization": f"Bearer {key}"},  # type: ignore[attr-defined]
                         json={"phone": "+8613812341234", "email": "zhang.wei@example.cn", "name": "张伟",
                               "company": "星河科技", "city": "上海"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def test_a_strategist_finds_reads_edits_and_freezes_a_contact(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        cid = _seed(app, client)
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        empty = client.get("/contacts")
        assert empty.status_code == 200 and "查找联系人" in empty.text  # the empty state says what to do
        found = client.get("/contacts/results", params={"q": "+8613812341234"})
        assert "138****1234" in found.text and "z***@example.cn" in found.text and "13812341234" not in found.text
        assert f"/contacts/{cid}" in client.get("/contacts", params={"q": "星河"}).text  # part of a company
        for typed in ("13812341234", "Zhang.Wei@Example.cn", "phone:138 1234 1234"):  # normalised like imports
            assert f"/contacts/{cid}" in client.get("/contacts/results", params={"q": typed}).text, typed
        assert "没有匹配的联系人" in client.get("/contacts/results", params={"q": "13900000000"}).text
        page = client.get(f"/contacts/{cid}")
        assert page.status_code == 200 and "张伟" in page.text and "13812341234" not in page.text
        csrf = csrf_of(page.text)
        refused = client.post(f"/contacts/{cid}/tags", data={"add": "vip"})  # no CSRF token
        assert refused.status_code == 403
        tagged = client.post(f"/contacts/{cid}/tags",
                             data={"csrf_token": csrf, "add": "vip，展会", "reason": "电话沟通"})
        assert tagged.status_code == 303 and tagged.headers["location"] == f"/contacts/{cid}?done=tags"
        city = client.post(f"/contacts/{cid}/attributes", data={"csrf_token": csrf, "name": "city", "value": "杭州"})
        assert city.status_code == 303
        after = client.get(f"/contacts/{cid}?done=attribute").text
        assert "vip" in after and "展会" in after and "杭州" in after and "属性已保存" in after
        assert client.post(f"/contacts/{cid}/attributes", data={"csrf_token": csrf, "name": ""}).status_code == 422
        frozen = client.post(f"/contacts/{cid}/freeze", data={"csrf_token": csrf, "reason": "电话投诉"})
        assert frozen.status_code == 303 and "已冻结" in client.get(f"/contacts/{cid}").text
        no_reason = client.post(f"/contacts/{cid}/unfreeze", data={"csrf_token": csrf, "reason": " "})
        assert no_reason.status_code == 422
        lifted = client.post(f"/contacts/{cid}/unfreeze", data={"csrf_token": csrf, "reason": "已核实"})
        assert lifted.status_code == 303
        assert client.get("/contacts/nobody").status_code == 404
    with app.engine.connect() as c:
        user_id = c.execute(select(users.c.id).where(users.c.email == "li.na@example.cn")).scalar_one()
        rows = c.execute(select(audit_log.c.action, audit_log.c.actor).where(audit_log.c.subject == cid)).all()
    actions = {r.action for r in rows if r.actor.startswith(f"user:{user_id}")}
    assert {"contact.patch", "contact.freeze", "contact.unfreeze"} <= actions


def test_an_agent_sees_only_their_contacts_and_no_edit_controls(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        cid = _seed(app, client)
        other = client.post("/v1/contacts", json={"email": "other@example.cn"})  # no key: refused, nothing made
        assert other.status_code == 401
        sign_in(client, app, clock, "agent@example.cn", "agent", name="小陈")
        assert client.get(f"/contacts/{cid}").status_code == 404  # not assigned: as if it did not exist
        with app.engine.begin() as c:
            agent_id = c.execute(select(users.c.id).where(users.c.email == "agent@example.cn")).scalar_one()
            c.execute(tasks.insert().values(id="t1", idempotency_key="t1", contact_id=cid, queue="sales",
                                            title="回电", assignee=agent_id, status="open",
                                            created_at=clock.now(), due_at=clock.now()))
        page = client.get(f"/contacts/{cid}")
        assert page.status_code == 200 and "张伟" in page.text
        assert "/tags" not in page.text and "/freeze" not in page.text  # no edit controls
        refused = client.post(f"/contacts/{cid}/tags", data={"csrf_token": csrf_of(page.text), "add": "vip"})
        assert refused.status_code == 403 and "contacts.write" in refused.text
        assert "vip" not in client.get(f"/contacts/{cid}").text


def test_a_viewer_is_refused_the_contacts_pages(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        cid = _seed(app, client)
        sign_in(client, app, clock, "viewer@example.cn", "viewer")
        page = client.get("/contacts")
        assert page.status_code == 403 and "无权访问" in page.text
        assert client.get(f"/contacts/{cid}").status_code == 403
        assert 'href="/contacts"' not in client.get("/dashboard").text  # not in the menu either
