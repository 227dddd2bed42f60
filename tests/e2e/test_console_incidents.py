"""Incidents in Settings (P7), as the administrator who runs them: declare one (a drill here), follow it on its own
page — state, clocks, the timeline from the audit log —, mark a step done with a note, lift the kill switch, close
it; run the monthly drill on a sandbox copy (only its audit row lands here). Every action is an audit row with the
administrator as actor. A strategist or a viewer gets the refusal page and no controls, and the server refuses
their POSTs, changing nothing."""

from __future__ import annotations

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.incident_state import kill_switch_active
from touchflow.services.incidents import incident_timeline, list_incidents


def test_an_administrator_declares_follows_and_closes_an_incident(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin", "王管理")
        listing = client.get("/settings/incidents")
        token = csrf_of(listing.text)
        empty = client.post("/settings/incidents", data={"csrf_token": token, "summary": "  "})
        assert empty.status_code == 422 and 'data-field="summary"' in empty.text and list_incidents(app.services) == []
        opened = client.post("/settings/incidents", data={"csrf_token": token, "summary": "演练：导出文件外泄",
                                                          "drill": "1"})
        [view] = list_incidents(app.services)
        incident_id = view.incident.id
        assert opened.status_code == 303
        assert opened.headers["location"] == f"/settings/incidents/{incident_id}?done=opened"
        page = client.get(opened.headers["location"])
        assert page.status_code == 200 and 'data-kill-switch="on"' in page.text and "演练" in page.text
        assert 'data-action="incident.open"' in page.text and "已创建安全事件" in page.text
        assert "发送与导出已停止（紧急停止开关）" in page.text and "(Asia/Shanghai)" in page.text
        step = client.post(f"/settings/incidents/{incident_id}/step",
                           data={"csrf_token": token, "step": "isolate", "note": "已停用泄露的 API 密钥",
                                 "from": "incident"})
        assert step.headers["location"] == f"/settings/incidents/{incident_id}?done=step"
        again = client.post(f"/settings/incidents/{incident_id}/step",
                            data={"csrf_token": token, "step": "isolate", "from": "incident"})
        assert again.status_code == 422 and 'data-field="step"' in again.text and 'data-incident=' in again.text
        resumed = client.post("/settings/incidents/resume", data={"csrf_token": token, "from": "incident"})
        assert resumed.headers["location"] == f"/settings/incidents/{incident_id}?done=resumed"
        closed = client.post(f"/settings/incidents/{incident_id}/close", data={"csrf_token": token,
                                                                               "from": "incident"})
        assert closed.headers["location"] == f"/settings/incidents/{incident_id}?done=closed"
        page = client.get(closed.headers["location"])
        assert 'data-status="closed"' in page.text and 'data-kill-switch="off"' in page.text
        assert "已停用泄露的 API 密钥" in page.text and "隔离已标记完成" in page.text and "事件已关闭" in page.text
        assert "/close" not in page.text and "Mark done" not in page.text  # nothing left to do on a closed one
        assert client.get("/settings/incidents/nope").status_code == 404
    assert not kill_switch_active(app.services)
    actions = [row["action"] for row in incident_timeline(app.services, incident_id)]
    assert actions == ["incident.open", "incident.kill_switch", "incident.step.isolate", "incident.resume",
                       "incident.close"]
    for action in actions:
        assert [a for a in audit_actors(app, action) if not a.startswith("user:")] == [], action


def test_the_monthly_drill_runs_on_a_sandbox_and_is_recorded(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin", "王管理")
        token = csrf_of(client.get("/settings/incidents").text)
        ran = client.post("/settings/incidents/drill", data={"csrf_token": token})
        assert ran.status_code == 303 and ran.headers["location"] == "/settings/incidents?done=drilled"
        page = client.get(ran.headers["location"])
        assert "演练通过" in page.text and page.text.count('data-drill="ok"') == 1
        assert "紧急停止开关已将其拦下" in page.text
    assert list_incidents(app.services) == [] and not kill_switch_active(app.services)  # nothing stopped here
    assert len(audit_actors(app, "incident.drill")) == 1 and audit_actors(app, "incident.drill")[0].startswith("user:")


def test_other_roles_see_no_controls_and_the_server_refuses(app: Application, clock: VirtualClock) -> None:
    for email, role in (("li.na@example.cn", "strategist"), ("viewer@example.cn", "viewer")):
        with console_client(app) as client:
            sign_in(client, app, clock, email, role)
            page = client.get("/settings/incidents")
            assert page.status_code == 403 and "/settings/incidents/drill" not in page.text
            assert 'action="/settings/incidents"' not in page.text
            token = csrf_of(client.get("/preferences").text)
            for path, data in (("/settings/incidents", {"summary": "x"}), ("/settings/incidents/drill", {}),
                               ("/settings/incidents/resume", {}), ("/settings/incidents/x/close", {})):
                assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert list_incidents(app.services) == [] and audit_actors(app, "incident.drill") == []
