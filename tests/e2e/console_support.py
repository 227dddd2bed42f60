"""Console tests: a TestClient on https (the session cookie is Secure), and signing in through the login pages
(password, then enrolment or a TOTP code at the virtual clock's time)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pyotp
from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.accounts_support import PASSWORD, make_user
from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def console_client(app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def sign_in(client: TestClient, app: Application, clock: VirtualClock, email: str, role: str,
            name: str = "李娜") -> str:
    """Create the account, sign in through the pages (first time: enrol); the TOTP secret."""
    make_user(app, email, role, name)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login/enrol"), answer.text
    page = client.post("/login/enrol", data={"next": "/"})
    assert page.status_code == 200, page.text
    found = _SECRET.search(page.text)
    assert found, page.text
    secret = found.group(1)
    done = client.post("/login/verify", data={"code": pyotp.TOTP(secret).at(int(clock.now().timestamp())),
                                              "next": "/"})
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    clock.advance(timedelta(seconds=1))
    return secret
