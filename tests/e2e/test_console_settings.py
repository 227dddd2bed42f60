"""The settings pages over HTTP: a role change to administrator becomes an approval request that a second person
approves (never the requester); an export asked for on /exports is approved and downloaded; the audit search
finds the actions; key secrets are shown once; channel credentials are never drawn back; viewers are refused."""

from __future__ import annotations

from tests.e2e.accounts_support import make_user
from tests.e2e.console_measure_support import seed_open_rate_drop
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.accounts import list_users
from touchflow.services.approvals import list_requests
from touchflow.services.channels import list_channels


def _user_id(app: Application, email: str) -> str:
    return next(s.user.id for s in list_users(app.services) if s.user.email == email)


def test_setting_the_admin_role_is_a_request_a_second_admin_approves(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as first:
        sign_in(first, app, clock, "admin@example.cn", "admin", name="管理员甲")
        make_user(app, "li.na@example.cn", "strategist", "李娜")  # the account to promote
        page = first.get("/settings/users")
        assert page.status_code == 200 and "l***@example.cn" in page.text and "li.na@example.cn" not in page.text
        target = _user_id(app, "li.na@example.cn")
        token = csrf_of(page.text)
        no_reason = first.post(f"/settings/users/{target}/role", data={"csrf_token": token, "role": "admin"})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        asked = first.post(f"/settings/users/{target}/role", data={"csrf_token": token, "role": "admin",
                                                                   "reason": "负责渠道配置"})
        assert asked.status_code == 303 and asked.headers["location"] == "/settings/users?done=requested"
        assert next(s.user.role for s in list_users(app.services) if s.user.id == target) == "strategist"
        waiting = first.get("/settings/approvals")
        [request] = list_requests(app.services, state="pending")
        assert "设为管理员" in waiting.text and "l***@example.cn" in waiting.text
        assert f'action="/settings/approvals/{request.id}/approve"' not in waiting.text  # one's own: no buttons
        own = first.post(f"/settings/approvals/{request.id}/approve", data={"csrf_token": csrf_of(waiting.text)})
        assert own.status_code == 403 and "另一人" in own.text
    with console_client(app) as other:
        sign_in(other, app, clock, "admin4@example.cn", "admin", name="管理员丁")
        page = other.get("/settings/approvals")
        assert f'action="/settings/approvals/{request.id}/approve"' in page.text
        done = other.post(f"/settings/approvals/{request.id}/approve", data={"csrf_token": csrf_of(page.text),
                                                                             "note": "同意"})
        assert done.status_code == 303
        assert next(s.user.role for s in list_users(app.services) if s.user.id == target) == "admin"
        audit = other.get("/settings/audit", params={"action": "approval."})
        assert audit.status_code == 200 and "approval.approve" in audit.text and "approval.request" in audit.text
        roles = other.get("/settings/audit", params={"action": "user.set_role"})
        assert 'data-action="user.set_role"' in roles.text and "li.na@example.cn" not in roles.text


def test_a_strategist_exports_a_segment_through_an_approval(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as strategist:
        sign_in(strategist, app, clock, "li.na@example.cn", "strategist")
        page = strategist.get("/exports")
        assert page.status_code == 200 and "还没有导出申请" in page.text
        no_reason = strategist.post("/exports", data={"csrf_token": csrf_of(page.text), "format": "csv"})
        assert no_reason.status_code == 422
        asked = strategist.post("/exports", data={"csrf_token": csrf_of(page.text), "format": "csv",
                                                  "reason": "季度客户回访"})
        assert asked.status_code == 303
        [request] = list_requests(app.services, state="pending")
        assert strategist.get(f"/exports/{request.id}/download").status_code == 409  # not approved yet
        with console_client(app) as admin:
            sign_in(admin, app, clock, "admin@example.cn", "admin", name="管理员")
            waiting = admin.get("/settings/approvals")
            assert "导出客户数据" in waiting.text and "季度客户回访" in waiting.text
            approved = admin.post(f"/settings/approvals/{request.id}/approve",
                                  data={"csrf_token": csrf_of(waiting.text)})
            assert approved.status_code == 303
            assert admin.get(f"/exports/{request.id}/download").status_code == 404  # only the requester
        mine = strategist.get("/exports")
        assert f'href="/exports/{request.id}/download"' in mine.text
        got = strategist.get(f"/exports/{request.id}/download")
        assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]


def test_reject_needs_a_reason_and_viewers_are_refused(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "wang.fang@example.cn", "viewer", name="王芳")
        for path in ("/settings/approvals", "/settings/users", "/settings/keys", "/settings/audit",
                     "/settings/incidents", "/settings/channels", "/settings/guardrails", "/exports"):
            answer = client.get(path)
            assert answer.status_code == 403 and "Not allowed" not in answer.text, path
        nav = client.get("/measure/metrics")
        assert 'href="/settings/users"' not in nav.text and 'href="/measure/metrics"' in nav.text


def test_a_key_secret_is_shown_once_and_an_export_capable_key_is_a_request(app: Application,
                                                                           clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        page = client.get("/settings/keys")
        token = csrf_of(page.text)
        made = client.post("/settings/keys", data={"csrf_token": token, "name": "crm-sync", "service": "crm",
                                                   "role": "viewer"})
        assert made.status_code == 201 and 'id="new-secret"' in made.text and "tf_" in made.text
        again = client.get("/settings/keys")
        assert "crm-sync" in again.text and 'id="new-secret"' not in again.text
        wide = client.post("/settings/keys", data={"csrf_token": token, "name": "erp", "service": "erp",
                                                   "role": "strategist"})
        assert wide.status_code == 422 and "reason" in wide.text
        asked = client.post("/settings/keys", data={"csrf_token": token, "name": "erp", "service": "erp",
                                                    "role": "strategist", "reason": "ERP 回写"})
        assert asked.status_code == 303
        [request] = list_requests(app.services, state="pending")
        assert request.kind == "apikey_export_scope" and "等待审批" in client.get("/settings/keys").text
        with console_client(app) as second:
            sign_in(second, app, clock, "admin2@example.cn", "admin", name="管理员乙")
            page = second.get("/settings/approvals")
            assert second.post(f"/settings/approvals/{request.id}/approve",
                               data={"csrf_token": csrf_of(page.text)}).status_code == 303
            assert second.post(f"/settings/keys/pickup/{request.id}",
                               data={"csrf_token": csrf_of(page.text)}).status_code == 404  # not theirs
        page = client.get("/settings/keys")
        assert f'action="/settings/keys/pickup/{request.id}"' in page.text
        secret = client.post(f"/settings/keys/pickup/{request.id}", data={"csrf_token": token})
        assert secret.status_code == 200 and 'id="new-secret"' in secret.text and "tf_" in secret.text
        twice = client.post(f"/settings/keys/pickup/{request.id}", data={"csrf_token": token})
        assert twice.status_code in (409, 410) and 'id="new-secret"' not in twice.text


def test_channel_credentials_are_write_only(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        page = client.get("/settings/channels")
        assert "尚未配置渠道" in page.text
        settings = "host=127.0.0.1\nport=2525\nfrom_address=news@example.cn"
        saved = client.post("/settings/channels", data={
            "csrf_token": csrf_of(page.text), "name": "email", "kind": "smtp", "settings": settings,
            "secret": "username=bot\npassword=s3cret-pass-word", "concurrency": "2", "enabled": "1"})
        assert saved.status_code == 303, saved.text
        shown = client.get("/settings/channels")
        assert "已保存（隐藏）" in shown.text and "s3cret-pass-word" not in shown.text
        [channel] = list_channels(app.services)
        assert channel.has_secret and "password" not in channel.settings
        bad = client.post("/settings/channels", data={"csrf_token": csrf_of(page.text), "name": "email",
                                                      "kind": "smtp", "settings": "password=oops",
                                                      "secret": "username=x\npassword=leak-me-not"})
        assert bad.status_code == 422 and "leak-me-not" not in bad.text


def test_guardrail_preview_changes_nothing_until_saved(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        page = client.get("/settings/guardrails")
        token = csrf_of(page.text)
        seen = client.post("/settings/guardrails", data={"csrf_token": token, "policy": "cap:\n  per_day: 5\n",
                                                         "action": "preview"})
        assert seen.status_code == 200 and "cap.per_day" in seen.text and "data-preview" in seen.text
        seed_open_rate_drop(app)  # 50 emails on 25 and 26 Feb, one per contact: a cap of 1 holds none back
        policy = "quiet_hours:\n  channels: [email]\n  start: '09:00'\n  end: '12:00'\ncap:\n  per_day: 1\n"
        tight = client.post("/settings/guardrails", data={"csrf_token": token, "action": "preview",
                                                          "policy": policy})
        assert tight.status_code == 200 and "data-effect" in tight.text
        assert 'data-over-cap>0<' in tight.text and 'data-quiet>50<' in tight.text and "对最近 7 天的影响" in tight.text
        assert "per_day: 3" in client.get("/settings/guardrails").text
        wrong = client.post("/settings/guardrails", data={"csrf_token": token, "policy": "cap:\n  per_dya: 5\n",
                                                          "action": "preview"})
        assert wrong.status_code == 422 and "per_dya" in wrong.text
        done = client.post("/settings/guardrails", data={"csrf_token": token, "policy": "cap:\n  per_day: 5\n",
                                                         "action": "save"})
        assert done.status_code == 303 and "per_day: 5" in client.get("/settings/guardrails").text


def test_an_incident_runs_its_clocks(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "admin@example.cn", "admin")
        page = client.get("/settings/incidents")
        assert "没有安全事件" in page.text
        opened = client.post("/settings/incidents", data={"csrf_token": csrf_of(page.text), "summary": "演练：导出泄露",
                                                          "drill": "1"})
        assert opened.status_code == 303
        shown = client.get("/settings/incidents")
        assert "隔离（1 小时内）" in shown.text and "发送已停止" in shown.text
        incident_id = shown.text.split('data-incident="', 1)[1].split('"', 1)[0]
        step = client.post(f"/settings/incidents/{incident_id}/step", data={"csrf_token": csrf_of(shown.text),
                                                                            "step": "isolate"})
        assert step.status_code == 303 and "按时完成" in client.get("/settings/incidents").text
        resumed = client.post("/settings/incidents/resume", data={"csrf_token": csrf_of(shown.text)})
        assert resumed.status_code == 303
        after = client.get(resumed.headers["location"])
        assert "发送与导出已恢复" in after.text and "发送已停止" not in after.text
