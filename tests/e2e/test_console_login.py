"""Signing in to the console: password → enrol → code → the reader's first page; expiry → the login page;
logout needs the CSRF token; an open redirect through ``next`` is refused."""

from __future__ import annotations

from datetime import timedelta

import pyotp

from tests.e2e.accounts_support import PASSWORD
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock


def test_sign_in_enrol_and_land_on_the_first_page(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        assert client.get("/").headers["location"].startswith("/login?next=/")
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        home = client.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/dashboard"
        page = client.get("/preferences")
        assert page.status_code == 200 and "李娜" in page.text and "策略设计师" in page.text
        assert "Content-Security-Policy" in page.headers


def test_second_login_with_totp_and_a_recovery_code_is_refused_when_wrong(app: Application,
                                                                          clock: VirtualClock) -> None:
    with console_client(app) as client:
        secret = sign_in(client, app, clock, "li.na@example.cn", "viewer")
        client.cookies.clear()
        clock.advance(timedelta(seconds=31))
        step = client.post("/login", data={"email": "li.na@example.cn", "password": PASSWORD, "next": "/dashboard"})
        assert step.headers["location"] == "/login/verify?next=/dashboard"
        wrong = client.post("/login/verify", data={"code": "000000", "next": "/dashboard"})
        assert wrong.status_code == 401 and "邮箱、密码或验证码错误" in wrong.text
        right = client.post("/login/verify", data={"code": pyotp.TOTP(secret).at(int(clock.now().timestamp())),
                                                   "next": "/dashboard"})
        assert right.status_code == 303 and right.headers["location"] == "/dashboard"


def test_expiry_sends_the_reader_to_the_login_page(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        assert client.get("/preferences").status_code == 200
        clock.advance(timedelta(hours=13))
        gone = client.get("/preferences?x=1")
        assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/preferences%3Fx%3D1&expired=1"
        htmx = client.get("/preferences", headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/login?next=")


def test_logout_needs_the_csrf_token(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/preferences")
        refused = client.post("/logout", data={"csrf_token": "forged"})
        assert refused.status_code == 403 and client.get("/preferences").status_code == 200
        done = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/login"
        assert client.get("/preferences").status_code == 303


def test_next_never_leaves_the_site(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            page = client.get("/login", params={"next": hostile})
            assert page.status_code == 200 and 'name="next" value="/"' in page.text


def test_a_cross_site_login_post_is_refused(app: Application) -> None:
    with console_client(app) as client:
        answer = client.post("/login", data={"email": "a@b.cn", "password": "x"},
                             headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403
