"""Account actions on /settings/users (P2, P3): an administrator disables a person (their session ends at once and
they cannot sign in), enables them again, and resets their second factor (the next sign-in enrols again); each is an
audit row with the administrator as actor. Never on one's own account: the page offers no button and the server
refuses with a Chinese message naming the reason. In Chromium the page is axe-clean."""

from __future__ import annotations

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.accounts import list_users


def _user(app: Application, email: str):  # type: ignore[no-untyped-def]
    return next(s.user for s in list_users(app.services) if s.user.email == email)


def test_an_admin_disables_enables_and_resets_two_factor(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as person:
        sign_in(person, app, clock, "li.na@example.cn", "strategist")
        assert person.get("/segments").status_code == 200
        with console_client(app) as admin:
            sign_in(admin, app, clock, "admin@example.cn", "admin", name="管理员甲")
            page = admin.get("/settings/users")
            target, me = _user(app, "li.na@example.cn"), _user(app, "admin@example.cn")
            assert f'/settings/users/{target.id}/disable' in page.text
            assert f'/settings/users/{me.id}/disable' not in page.text  # no button on one's own account
            token = csrf_of(page.text)
            done = admin.post(f"/settings/users/{target.id}/disable", data={"csrf_token": token})
            assert done.status_code == 303 and done.headers["location"] == "/settings/users?done=disabled"
            assert _user(app, "li.na@example.cn").disabled_at is not None
            assert person.get("/segments").status_code == 303  # the session ended: back to the login page
            assert "已停用" in admin.get(done.headers["location"]).text
            admin.post(f"/settings/users/{target.id}/enable", data={"csrf_token": token})
            assert _user(app, "li.na@example.cn").disabled_at is None
            assert _user(app, "li.na@example.cn").enrolled
            reset = admin.post(f"/settings/users/{target.id}/reset-2fa", data={"csrf_token": token})
            assert reset.headers["location"] == "/settings/users?done=2fa_reset"
            assert not _user(app, "li.na@example.cn").enrolled
            own = admin.post(f"/settings/users/{me.id}/disable", data={"csrf_token": token})
            assert own.status_code == 409 and 'data-reason="yourself"' in own.text
            assert "不能对自己的账号执行" in own.text and "your own account" not in own.text
            assert _user(app, "admin@example.cn").disabled_at is None
            assert admin.post(f"/settings/users/{me.id}/reset-2fa", data={"csrf_token": token}).status_code == 409
            missing = admin.post("/settings/users/nobody/disable", data={"csrf_token": token})
            assert missing.status_code == 404 and 'data-problem="not_found"' in missing.text
            odd = admin.post(f"/settings/users/{target.id}/explode", data={"csrf_token": token})
            assert odd.status_code == 422 and 'data-field="action"' in odd.text
    for action in ("user.disable", "user.enable", "user.2fa_reset"):
        actors = audit_actors(app, action)
        assert actors == [f"user:{me.id} (管理员甲)"], (action, actors)


@needs_chromium
def test_user_actions_in_chromium(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the behaviour is checked on both databases over HTTP above
    with browser(app, clock) as b:
        b.page_as("zhang.wei@example.cn", "editor", "张伟").close()
        page = b.page_as("admin@example.cn", "admin", "管理员甲")
        page.goto(f"{b.base}/settings/users")
        b.check(page)
        page.get_by_role("button", name="停用 张伟").click()
        page.get_by_role("button", name="启用 张伟").wait_for()
        b.check(page, "settings-users-disabled.png")
