"""Provider callbacks carry a per-channel callback token, never an API key in the URL; tokens and keys in
query strings are redacted in the access log (issue 10, item 6)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.apikeys import create_api_key
from touchflow.services.channels import save_channel
from touchflow.store.tables import audit_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def callback_url(app: Application, channel: str, path: str = "sms/inbound") -> str:
    code, out = run(app, "channel", "callback-url", channel, "--json")
    assert code == 0, out
    url = orjson.loads(out)["urls"][path]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def channels(app: Application) -> None:
    for name in ("sms", "sms_backup"):
        save_channel(app.services, name, "capture", {}, None, None, 1, True, actor="test")


REPLY = {"from": "+8613800138000", "text": "你好"}


def test_a_callback_token_works_only_on_its_own_channel(app: Application, client: TestClient, channels: None) -> None:
    own = callback_url(app, "sms")
    other = callback_url(app, "sms_backup")
    token = own.split("token=")[1]
    assert own.startswith("/v1/callbacks/sms/sms/inbound?token=tfcb_")

    assert client.post(own, json=REPLY).status_code == 200
    assert client.post(f"/v1/callbacks/sms/sms/receipt?token={token}",
                       json=[{"provider_id": "p1", "status": "delivered"}]).status_code == 200
    assert client.post(own.replace("/sms/sms/", "/sms_backup/sms/"), json=REPLY).status_code == 401  # A on B
    assert client.post(other.replace("/sms_backup/sms/", "/sms/sms/"), json=REPLY).status_code == 401  # B on A
    forged = "tfcb_" + "0" * 12 + "_" + "A" * 43
    assert client.post(f"/v1/callbacks/sms/sms/inbound?token={forged}", json=REPLY).status_code == 401
    assert client.post("/v1/callbacks/sms/sms/inbound", json=REPLY).status_code == 401  # no token at all

    bare = TestClient(client.app)
    for path in ("/v1/contacts/email:x@example.cn", "/v1/journeys"):  # a callback token is no API key
        assert bare.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert bare.post("/v1/callbacks/sms/inbound", json=REPLY, headers={"X-API-Key": token}).status_code == 401


def test_an_api_key_in_the_url_is_refused_on_callbacks(app: Application, client: TestClient, channels: None) -> None:
    admin = create_api_key(app.services, "provider", actor="test").secret
    bare = TestClient(client.app)
    for query in (f"key={admin}", f"KEY={admin}", f"token={admin}"):
        answer = bare.post(f"/v1/callbacks/sms/inbound?{query}", json=REPLY)
        assert answer.status_code == 401 and "in the URL is refused" in answer.json()["detail"]
    assert bare.post(f"/v1/callbacks/sms/sms/inbound?token={admin}", json=REPLY).status_code == 401
    assert bare.post("/v1/callbacks/sms/inbound", json=REPLY, headers={"X-API-Key": admin}).status_code == 200


def test_revoked_tokens_stop_at_once_and_every_change_is_audited(app: Application, client: TestClient,
                                                                 channels: None) -> None:
    first, second = callback_url(app, "sms"), callback_url(app, "sms")
    assert client.post(first, json=REPLY).status_code == 200
    first_id = first.split("tfcb_")[1].split("_")[0]
    code, out = run(app, "channel", "callback-revoke", "sms", "--id", first_id, "--json")
    assert code == 0 and orjson.loads(out)["revoked"] == [first_id]
    assert client.post(first, json=REPLY).status_code == 401
    assert client.post(second, json=REPLY).status_code == 200
    assert run(app, "channel", "callback-revoke", "sms")[0] == 0
    assert client.post(second, json=REPLY).status_code == 401
    assert run(app, "channel", "callback-url", "nope")[0] == 2  # only a configured channel gets a token
    with app.engine.connect() as c:
        actions = [(r.action, r.subject) for r in c.execute(select(audit_log).where(
            audit_log.c.action.like("callback_token.%")).order_by(audit_log.c.id))]
    assert actions == [("callback_token.create", "sms")] * 2 + [("callback_token.revoke", "sms")] * 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_redacts_keys_and_tokens_in_the_access_log(app: Application, tmp_path: Path) -> None:
    port = _free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "TOUCHFLOW_DATABASE_URL": app.settings.database_url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "touchflow", "serve", "--port", str(port), "--access-log", "--no-worker"]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            httpx.post(f"http://127.0.0.1:{port}/v1/callbacks/sms/sms/inbound?token=tfcb_SECRET1_x&lang=zh",
                       json=REPLY)
            httpx.post(f"http://127.0.0.1:{port}/v1/callbacks/sms/inbound?Key=tf_SECRET2&api_key=SECRET3", json=REPLY)
            httpx.get(f"http://127.0.0.1:{port}/health?access_token=SECRET4&visible=yes")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "/v1/callbacks/sms/sms/inbound?token=[redacted]&lang=zh" in text, text
    assert "?Key=[redacted]&api_key=[redacted]" in text and "access_token=[redacted]&visible=yes" in text
    assert not any(f"SECRET{n}" in text for n in range(1, 5)), text
