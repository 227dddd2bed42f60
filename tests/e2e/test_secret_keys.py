"""The secret key of a database: made by ``touchflow init`` on every database kind, never a constant; ``serve``
and ``worker`` refuse to start without one; rotation keeps old links and sealed credentials working for a grace
period and not after (issue 10, item 2)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from tests.e2e.test_tracking import Sender, link_in, person
from touchflow.api import create_app
from touchflow.bootstrap import Application, bootstrap
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.content.tokens import TokenSigner
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.security.keystore import link_secret
from touchflow.services.channels import save_channel
from touchflow.store.tables import audit_log, channel_configs

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

OLD_CONSTANT = "touchflow-development-only"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def run(database_url: str, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": database_url, **env})
    return result.exit_code, result.output


def from_env(database_url: str, clock: VirtualClock | None = None) -> Application:
    """The application as every command builds it: settings from the environment, as the operator set it."""
    return bootstrap(Settings.from_env({**os.environ, "TOUCHFLOW_DATABASE_URL": database_url}), clock=clock)


@pytest.fixture
def bare(database_url: str, clock: VirtualClock) -> Iterator[Application]:
    """A migrated database nobody has run ``touchflow init`` on: no key anywhere."""
    application = from_env(database_url, clock)
    application.init_database()
    yield application
    application.close()


def test_init_makes_a_0600_key_file_on_every_database_and_links_are_signed_with_it(
        bare: Application, database_url: str, tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="touchflow init"):
        bare.token_secret()  # before: PostgreSQL fell back to a constant anyone can read in the source
    code, out = run(database_url, "init", "--json")
    assert code == 0, out
    report = orjson.loads(out)
    key_file = Path(report["secret_key"])
    assert report["secret_key_created"] is True and key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if database_url.startswith("sqlite"):
        assert key_file == tmp_path / "touchflow.db.key"
    else:
        assert key_file.parent == tmp_path / "touchflow-config" / "keys"
    ring = json.loads(key_file.read_text(encoding="ascii"))
    key = base64.urlsafe_b64decode(ring["keys"][0]["key"])
    assert len(key) == 32
    assert orjson.loads(run(database_url, "init", "--json")[1])["secret_key_created"] is False  # idempotent
    with bare.engine.connect() as c:
        made = c.execute(select(audit_log).where(audit_log.c.action == "secret.create")).one()
    assert made.subject == str(key_file) and ring["keys"][0]["key"] not in str(made.details)

    sender = Sender(bare)
    contact = person(bare, "wang.fang@example.cn")
    sender.queue(contact, "email")
    sender.dispatch()
    [mail] = sender.sent("email")
    unsubscribe = link_in(mail, "/t/u/")
    token = unsubscribe.rsplit("/", 1)[1]
    assert TokenSigner(link_secret(key)).read_token(token, "unsubscribe")["c"] == contact  # signed with the file's key

    forged = TokenSigner(OLD_CONSTANT)
    with TestClient(create_app(bare)) as client:
        attack = client.post(f"/t/u/{forged.make_token('unsubscribe', {'m': 'x', 'c': contact})}", data=ONE_CLICK)
        assert attack.status_code == 400
        redirect = client.get(f"/t/c/{forged.make_token('click', {'m': 'x', 'c': contact, 'u': 'https://evil.example'})}",
                              follow_redirects=False)
        assert redirect.status_code == 400 and "location" not in redirect.headers
        assert client.get(unsubscribe).status_code == 200  # the real link still works


def test_serve_and_worker_refuse_to_start_without_a_key_and_say_how(bare: Application, database_url: str) -> None:
    for command in (("serve", "--port", "1"), ("worker",)):
        code, out = run(database_url, *command)
        assert code == 2, out
        assert "refusing to start" in out and "touchflow init" in " ".join(out.split())
    code, out = run(database_url, "init")
    assert code == 0, out


def test_a_key_file_readable_by_others_is_refused(bare: Application, database_url: str) -> None:
    assert run(database_url, "init")[0] == 0
    key_file = Path(orjson.loads(run(database_url, "init", "--json")[1])["secret_key"])
    key_file.chmod(0o644)
    code, out = run(database_url, "worker")
    assert code == 2 and "readable by group or others" in " ".join(out.split()), out
    assert "chmod 600" in " ".join(out.split())
    with pytest.raises(SecretError, match="readable by group or others"):
        from_env(database_url).token_secret()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_original_sqlite_key_file_still_reads_and_its_links_still_verify(database_url: str,
                                                                              tmp_path: Path) -> None:
    text = base64.urlsafe_b64encode(os.urandom(32)).decode()
    key_file = tmp_path / "touchflow.db.key"
    key_file.write_text(text, encoding="ascii")
    key_file.chmod(0o600)
    application = from_env(database_url)
    application.init_database()
    try:
        before = hashlib.sha256(f"touchflow-links:{text}".encode()).hexdigest()  # how links were signed until now
        assert application.token_secret() == before
        assert run(database_url, "init", "--json")[0] == 0
        assert key_file.read_text(encoding="ascii") == text  # init leaves an existing key alone
    finally:
        application.close()


def test_rotation_keeps_old_links_for_the_grace_period_only(app: Application, clock: VirtualClock) -> None:
    contact = person(app, "zhao.lei@example.cn")
    old = TokenSigner(app.token_secret()).make_token("unsubscribe", {"m": "m1", "c": contact})
    sealed_elsewhere = app.secret_box().seal({"site": "s3cret"}, "site:www")  # e.g. a per-site secret
    save_channel(app.services, "sms", "sms_http", {"base_url": "https://sms.example.cn"},
                 app.secret_box().seal({"api_token": "t0k"}, "channel:sms"), None, 1, True, actor="test")
    with app.engine.connect() as c:
        sealed_before = c.execute(select(channel_configs.c.secret)).scalar_one()

    rotation = app.rotate_secret_key(timedelta(days=30), actor="ops:li")
    new = TokenSigner(app.token_secret()).make_token("unsubscribe", {"m": "m2", "c": contact})
    assert rotation.resealed == ("sms",)
    with app.engine.connect() as c:
        sealed_after = c.execute(select(channel_configs.c.secret)).scalar_one()
        audit = c.execute(select(audit_log).where(audit_log.c.action == "secret.rotate")).one()
    assert sealed_after != sealed_before
    assert audit.actor == "ops:li" and audit.details["new_key"] == rotation.new_key
    assert audit.details["resealed_channels"] == ["sms"] and base64.urlsafe_b64encode(
        app.key_ring().current.key).decode() not in json.dumps(audit.details)

    with TestClient(create_app(app)) as client:
        clock.advance(timedelta(days=29))
        assert client.get(f"/t/u/{old}").status_code == 200  # inside the grace period
        assert client.get(f"/t/u/{new}").status_code == 200
        assert app.secret_box().open(sealed_elsewhere, "site:www") == {"site": "s3cret"}
        clock.advance(timedelta(days=2))
        assert client.get(f"/t/u/{old}").status_code == 400  # grace over: the old key is refused
        assert client.post(f"/t/u/{old}", data=ONE_CLICK).status_code == 400
        assert client.get(f"/t/u/{new}").status_code == 200
    with pytest.raises(SecretError):
        app.secret_box().open(sealed_elsewhere, "site:www")
    assert app.secret_box().open(sealed_after, "channel:sms") == {"api_token": "t0k"}  # re-sealed: still opens
    assert app.channels().get("sms") is not None


def test_secret_rotate_command(app: Application, database_url: str) -> None:
    foreign = SecretBox(os.urandom(32)).seal({"api_token": "x"}, "channel:lost")  # sealed with a key long gone
    save_channel(app.services, "lost", "sms_http", {}, foreign, None, 1, True, actor="test")
    code, out = run(database_url, "secret", "rotate", "--grace", "7d", "--json")
    assert code == 0, out
    rotated = orjson.loads(out)
    assert len(rotated["retiring"]) == 1
    assert (rotated["resealed_channels"], rotated["unopened_channels"]) == ([], ["lost"])
    status = orjson.loads(run(database_url, "secret", "status", "--json")[1])
    assert [k["current"] for k in status["keys"]] == [True, False] and status["keys"][0]["id"] == rotated["new_key"]
    assert all("key" not in k for k in status["keys"])  # ids and dates, never the key
    assert run(database_url, "secret", "rotate", "--grace", "soon")[0] == 2
    env_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    code, out = run(database_url, "secret", "rotate", TOUCHFLOW_SECRET_KEY=env_key)
    assert code == 2 and "TOUCHFLOW_SECRET_KEY" in out


def test_rotation_reseals_the_websites_identify_secrets(app: Application, clock: VirtualClock) -> None:
    """A site made before a rotation still verifies its backend's identify tokens after the grace ends."""
    from touchflow.services.sites import create_site, list_sites, secret_context

    issued = create_site(app.services, "www.example.cn", ["https://www.example.cn"], app.secret_box().seal,
                         actor="test")
    rotation = app.rotate_secret_key(timedelta(days=1), actor="ops:li")
    assert rotation.resealed == ("site:www.example.cn",)
    clock.advance(timedelta(days=2))
    site = next(s for s in list_sites(app.services) if s.name == "www.example.cn")
    assert site.sealed_secret is not None
    opened = app.secret_box().open(site.sealed_secret, secret_context(site.key_id))
    assert opened == {"identify_secret": issued.identify_secret}
