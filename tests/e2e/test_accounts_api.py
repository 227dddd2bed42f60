"""Accounts through the HTTP API (issue 12, P3): password + mandatory TOTP, session cookies, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests.e2e.accounts_support import (
    ADMIN,
    PASSWORD,
    TestClient,
    code_at,
    cookie,
    first_login,
    login,
    make_user,
    password_step,
    set_cookie,
)
from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.accounts import disable_user, reset_2fa, set_role
from touchflow.services.sessions import authenticate_session
from touchflow.store.tables import audit_log, users

EMAIL = "li.na@example.cn"


@pytest.fixture
def web(app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as client:
        yield client


def actions(app: Application) -> list[str]:
    with app.engine.connect() as c:
        return [r.action for r in c.execute(select(audit_log.c.action).order_by(audit_log.c.id))]


def test_first_login_enrols_totp_and_only_then_the_session_is_active(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    pending = password_step(web, EMAIL)
    assert pending.status_code == 200 and pending.json() == {"stage": "needs_enrolment", "next": "/v1/auth/enrol"}
    flags = next(h for h in pending.headers.get_list("set-cookie") if h.startswith("touchflow_session="))
    attributes = {part.strip().lower() for part in flags.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= attributes
    token = set_cookie(pending)
    assert web.get("/v1/auth/me", headers=cookie(token)).status_code == 401  # pending: not authenticated
    assert authenticate_session(app.services, token) is None
    assert web.post("/v1/auth/verify", json={"code": "123456"}, headers=cookie(token)).status_code == 409

    enrolment = web.post("/v1/auth/enrol", headers=cookie(token)).json()
    assert enrolment["provisioning_uri"].startswith("otpauth://totp/Touchflow:li.na%40example.cn?")
    assert "issuer=Touchflow" in enrolment["provisioning_uri"]
    assert enrolment["qr_svg"].startswith("<svg") and len(enrolment["recovery_codes"]) == 10
    secret = pyotp.parse_uri(enrolment["provisioning_uri"]).secret
    assert secret == enrolment["secret"]
    assert web.post("/v1/auth/verify", json={"code": code_at(secret, clock, 300)},
                    headers=cookie(token)).status_code == 401  # a code ten steps away
    verified = web.post("/v1/auth/verify", json={"code": code_at(secret, clock)}, headers=cookie(token))
    assert verified.status_code == 200
    active = set_cookie(verified)
    assert active != token
    me = web.get("/v1/auth/me", headers=cookie(active)).json()
    assert me["display_name"] == "Li Na" and me["role"] == "strategist" and "journeys.publish" in me["permissions"]
    assert me["csrf_token"] == verified.json()["csrf_token"]
    who = authenticate_session(app.services, active)
    assert who is not None and who.principal.actor.id == f"user:{me['user_id']}"
    assert who.principal.session_id is not None and who.principal.can("segments.write")
    with app.engine.connect() as c:
        row = c.execute(select(users)).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert row.totp_secret.startswith("v1.") and secret not in row.totp_secret  # sealed with the key ring
    assert row.totp_enrolled_at is not None

    later = login(web, clock, secret)  # the next login asks for a code straight away
    assert later.status_code == 200 and set_cookie(later) != active
    assert {"auth.password_ok", "auth.2fa_enrolment_started", "auth.2fa_enrolled", "auth.login"} <= set(actions(app))


def test_a_replayed_totp_code_is_refused_even_inside_its_window(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    clock.advance(timedelta(seconds=35))  # a new time step
    code = code_at(first.secret, clock)
    pending = set_cookie(password_step(web, EMAIL))
    assert web.post("/v1/auth/verify", json={"code": code}, headers=cookie(pending)).status_code == 200
    again = set_cookie(password_step(web, EMAIL))
    replay = web.post("/v1/auth/verify", json={"code": code}, headers=cookie(again))
    assert replay.status_code == 401 and "used" in replay.json()["detail"]
    older = code_at(first.secret, clock, -30)  # the previous step: inside the ±1 window, but before the last used
    assert web.post("/v1/auth/verify", json={"code": older}, headers=cookie(again)).status_code == 401
    clock.advance(timedelta(seconds=30))
    assert web.post("/v1/auth/verify", json={"code": code_at(first.secret, clock)},
                    headers=cookie(again)).status_code == 200


def test_a_recovery_code_works_once(app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    code = first.recovery_codes[0]
    pending = set_cookie(password_step(web, EMAIL))
    used = web.post("/v1/auth/verify", json={"code": code.upper()}, headers=cookie(pending))
    assert used.status_code == 200
    pending = set_cookie(password_step(web, EMAIL))
    assert web.post("/v1/auth/verify", json={"code": code}, headers=cookie(pending)).status_code == 401
    assert web.post("/v1/auth/verify", json={"code": first.recovery_codes[1]},
                    headers=cookie(pending)).status_code == 200
    assert "auth.recovery_code_used" in actions(app)


def test_repeated_failures_lock_the_account_with_back_off(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    for _ in range(5):
        assert password_step(web, EMAIL, "wrong password 123").status_code == 401
    locked = password_step(web, EMAIL)  # even the right password now
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 15 * 60 + 1
    clock.advance(timedelta(minutes=15))
    for _ in range(5):
        assert password_step(web, EMAIL, "wrong password 123").status_code == 401
    locked = password_step(web, EMAIL)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 30 * 60 + 1  # doubled
    clock.advance(timedelta(minutes=30))
    assert login(web, clock, first.secret).status_code == 200  # the lock ended; success resets the count
    assert password_step(web, EMAIL, "wrong password 123").status_code == 401
    assert password_step(web, EMAIL).status_code == 200
    done = actions(app)
    assert done.count("auth.lockout") == 2 and done.count("auth.login_failed") == 9
    with app.engine.connect() as c:
        rows = c.execute(select(audit_log).where(audit_log.c.action.in_(("auth.lockout", "auth.login_failed"))))
        recorded = [(r.actor, r.details) for r in rows]
    assert {actor for actor, _ in recorded} == {"anonymous"} and all(d["email"] == EMAIL for _, d in recorded)
    everything = str(recorded) + str(actions(app))
    assert "wrong password 123" not in everything and PASSWORD not in everything and first.secret not in everything


def test_wrong_second_factor_codes_count_towards_the_lock(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first_login(web, clock)
    pending = set_cookie(password_step(web, EMAIL))
    for _ in range(5):
        assert web.post("/v1/auth/verify", json={"code": "000000"}, headers=cookie(pending)).status_code == 401
    assert web.post("/v1/auth/verify", json={"code": "000001"}, headers=cookie(pending)).status_code == 429


def test_unknown_email_and_wrong_password_answer_alike(app: Application, web: TestClient) -> None:
    make_user(app)
    unknown = password_step(web, "nobody@example.cn", "wrong password 123")
    wrong = password_step(web, EMAIL, "wrong password 123")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"detail": "wrong email or password", "errors": []}
    for _ in range(4):
        password_step(web, "nobody@example.cn", "wrong password 123")
    assert password_step(web, "nobody@example.cn", "x").status_code == 429  # locks like a real account


def test_one_address_trying_many_accounts_is_throttled(app: Application, web: TestClient) -> None:
    make_user(app)
    for i in range(20):
        assert password_step(web, f"guess{i}@example.cn", "wrong password 123").status_code == 401
    assert password_step(web, EMAIL).status_code == 429  # per IP: the real account too, from this address


def test_session_fixation_tokens_change_and_foreign_tokens_do_not_work(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    make_user(app, "wang.fang@example.cn", name="Wang Fang")
    planted = "attacker-chosen-token-value"
    pending = web.post("/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, headers=cookie(planted))
    token = set_cookie(pending)
    assert token != planted
    assert web.post("/v1/auth/enrol", headers=cookie(planted)).status_code == 401  # never issued: no session
    secret = pyotp.parse_uri(web.post("/v1/auth/enrol", headers=cookie(token)).json()["provisioning_uri"]).secret
    verified = web.post("/v1/auth/verify", json={"code": code_at(secret, clock)}, headers=cookie(token))
    active = set_cookie(verified)
    assert active not in (token, planted)
    assert web.get("/v1/auth/me", headers=cookie(token)).status_code == 401  # the pre-2FA token is dead
    assert web.post("/v1/auth/enrol", headers=cookie(token)).status_code == 401
    assert web.post("/v1/auth/verify", json={"code": code_at(secret, clock, 30)},
                    headers=cookie(token)).status_code == 401
    # another person's pending session cannot be finished with this person's codes
    other = set_cookie(password_step(web, "wang.fang@example.cn"))
    assert web.post("/v1/auth/verify", json={"code": code_at(secret, clock, 30)},
                    headers=cookie(other)).status_code == 409  # Wang Fang has not enrolled: no code fits
    assert web.get("/v1/auth/me", headers=cookie(active)).json()["display_name"] == "Li Na"


def test_idle_and_absolute_timeouts(app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    for _ in range(3):  # used every 20 minutes: the idle timer restarts
        clock.advance(timedelta(minutes=20))
        assert web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 200
    clock.advance(timedelta(minutes=30))
    assert web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 401  # idle

    token = set_cookie(login(web, clock, first.secret))
    for _ in range(47):  # 11 h 45 min of steady use
        clock.advance(timedelta(minutes=15))
        assert web.get("/v1/auth/me", headers=cookie(token)).status_code == 200
    clock.advance(timedelta(minutes=15))
    assert web.get("/v1/auth/me", headers=cookie(token)).status_code == 401  # 12 h: absolute

    clock.advance(timedelta(seconds=30))
    pending = set_cookie(password_step(web, EMAIL))
    clock.advance(timedelta(minutes=10))
    assert web.post("/v1/auth/verify", json={"code": code_at(first.secret, clock)},
                    headers=cookie(pending)).status_code == 401  # a pending login lasts 10 minutes


def test_logout_needs_the_csrf_token_and_logout_all_ends_every_session(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    second = login(web, clock, first.secret)
    other, other_csrf = set_cookie(second), second.json()["csrf_token"]
    assert web.post("/v1/auth/logout", headers=cookie(first.token)).status_code == 403
    wrong = web.post("/v1/auth/logout", headers={**cookie(first.token), "X-CSRF-Token": other_csrf})
    assert wrong.status_code == 403 and wrong.json()["errors"][0]["field"] == "X-CSRF-Token"
    assert web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 200  # still logged in
    ended = web.post("/v1/auth/logout", headers={**cookie(first.token), "X-CSRF-Token": first.csrf})
    assert ended.status_code == 200 and web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 401
    assert 'touchflow_session=""' in ended.headers["set-cookie"] or "Max-Age=0" in ended.headers["set-cookie"]
    assert web.get("/v1/auth/me", headers=cookie(other)).status_code == 200

    third = set_cookie(login(web, clock, first.secret))
    assert web.post("/v1/auth/logout-all", headers=cookie(other)).status_code == 403
    everywhere = web.post("/v1/auth/logout-all", headers={**cookie(other), "X-CSRF-Token": other_csrf})
    assert everywhere.status_code == 200 and everywhere.json()["sessions_ended"] == 2
    assert web.get("/v1/auth/me", headers=cookie(other)).status_code == 401
    assert web.get("/v1/auth/me", headers=cookie(third)).status_code == 401
    assert {"auth.logout", "auth.logout_all"} <= set(actions(app))


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    make_user(app, "boss@example.cn", role="admin", name="Boss")
    first = first_login(web, clock)
    set_role(app.services, EMAIL, "viewer", actor=ADMIN)  # a privilege change: a new login, a new token
    assert web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 401
    token = set_cookie(login(web, clock, first.secret))
    assert web.get("/v1/auth/me", headers=cookie(token)).json()["permissions"] == ["journeys.read", "reports.read"]

    reset_2fa(app.services, EMAIL, actor=ADMIN)
    assert web.get("/v1/auth/me", headers=cookie(token)).status_code == 401
    assert password_step(web, EMAIL).json()["stage"] == "needs_enrolment"  # enrols again
    first = first_login(web, clock)

    disable_user(app.services, EMAIL, actor=ADMIN)
    assert web.get("/v1/auth/me", headers=cookie(first.token)).status_code == 401
    refused = password_step(web, EMAIL)
    assert refused.status_code == 401 and refused.json()["detail"] == "wrong email or password"
    assert {"user.set_role", "user.2fa_reset", "user.disable"} <= set(actions(app))


def test_totp_secrets_are_resealed_when_the_key_rotates(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    make_user(app)
    first = first_login(web, clock)
    with app.engine.connect() as c:
        before = c.execute(select(users.c.totp_secret)).scalar_one()
    app.rotate_secret_key(timedelta(0), actor="test")  # no grace: only the new key opens anything
    with app.engine.connect() as c:
        after = c.execute(select(users.c.totp_secret)).scalar_one()
    assert after != before
    assert login(web, clock, first.secret).status_code == 200


def test_hostile_input_gets_a_clear_4xx(app: Application, web: TestClient) -> None:
    assert web.post("/v1/auth/login", json={"email": "x" * 400, "password": "p"}).status_code == 422
    bad = web.post("/v1/auth/login", json={"email": "not-an-address", "password": "p"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    assert web.post("/v1/auth/enrol").status_code == 401
    assert web.post("/v1/auth/verify", json={"code": "123456"}).status_code == 401
    assert web.post("/v1/auth/logout").status_code == 401
    assert web.get("/v1/auth/me", headers=cookie("a" * 500)).status_code == 422
    assert web.get("/v1/auth/me", headers=cookie("not-a-session")).status_code == 401


def test_the_idle_timer_is_written_at_most_once_a_minute(
        app: Application, web: TestClient, clock: VirtualClock) -> None:
    from touchflow.store.tables import sessions

    make_user(app)
    first = first_login(web, clock)

    def last_seen() -> object:
        with app.engine.connect() as c:
            return c.execute(select(sessions.c.last_seen_at).where(sessions.c.revoked_at.is_(None))).scalar_one()

    start = last_seen()
    clock.advance(timedelta(seconds=50))
    assert authenticate_session(app.services, first.token) is not None
    assert last_seen() == start  # not a write on every request
    clock.advance(timedelta(seconds=20))
    assert authenticate_session(app.services, first.token) is not None
    assert last_seen() == clock.now()
