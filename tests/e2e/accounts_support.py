"""Logging in through the HTTP API in tests: cookies by hand (the session cookie is Secure, the test client
speaks http), TOTP codes from the provisioning URI at the virtual clock's time."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.services.accounts import create_user
from touchflow.services.sessions import SESSION_COOKIE

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSWORD = "correct horse 42 battery"
ADMIN = Actor("os:tester")


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def set_cookie(response: Any) -> str:
    """The value of the session cookie the response sets (fails when it sets none)."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == SESSION_COOKIE:
            return str(rest.split(";", 1)[0])
    raise AssertionError(f"no {SESSION_COOKIE} cookie set: {response.status_code} {response.text}")


def code_at(secret: str, clock: VirtualClock, offset: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(int(clock.now().timestamp()) + offset))


@dataclass
class LoggedIn:
    token: str
    csrf: str
    secret: str
    recovery_codes: list[str]


def make_user(app: Application, email: str = "li.na@example.cn", role: str = "strategist",
              name: str = "Li Na") -> str:
    return create_user(app.services, email, name, role, PASSWORD, actor=ADMIN).id


def password_step(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def first_login(client: TestClient, clock: VirtualClock, email: str = "li.na@example.cn") -> LoggedIn:
    """Password, enrolment, first code: an active session."""
    pending = password_step(client, email)
    assert pending.status_code == 200, pending.text
    assert pending.json()["stage"] == "needs_enrolment"
    token = set_cookie(pending)
    enrolment = client.post("/v1/auth/enrol", headers=cookie(token))
    assert enrolment.status_code == 200, enrolment.text
    secret = pyotp.parse_uri(enrolment.json()["provisioning_uri"]).secret
    verified = client.post("/v1/auth/verify", json={"code": code_at(secret, clock)}, headers=cookie(token))
    assert verified.status_code == 200, verified.text
    return LoggedIn(set_cookie(verified), verified.json()["csrf_token"], secret, enrolment.json()["recovery_codes"])


def login(client: TestClient, clock: VirtualClock, secret: str, email: str = "li.na@example.cn",
          code: str | None = None) -> Any:
    """A later login: password, then a TOTP code (a new time step: the clock moves 30 s first)."""
    clock.advance(timedelta(seconds=30))
    pending = password_step(client, email)
    assert pending.status_code == 200, pending.text
    return client.post("/v1/auth/verify", json={"code": code or code_at(secret, clock)},
                       headers=cookie(set_cookie(pending)))
