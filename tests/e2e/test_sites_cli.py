"""``touchflow site create|list|revoke``: keys shown once, the identify secret sealed, origins checked, every
change audited; what ``create`` prints works against the HTTP API."""

from __future__ import annotations

import base64
import dataclasses
import warnings

import orjson
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from tests.e2e.test_channels_cli import KEY
from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.onsite_token import make_identify_token
from touchflow.security.crypto import SecretBox
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import api_keys, audit_log, workspace_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def run(app: Application, *args: str) -> tuple[int, str]:
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url, "TOUCHFLOW_SECRET_KEY": KEY}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_site_create_prints_key_and_secret_once_and_seals_the_secret(app: Application) -> None:
    code, out = run(app, "site", "create", "www.example.cn", "--origin", "HTTPS://WWW.Example.cn:443/",
                    "--origin", "http://localhost:8080", "--json")
    assert code == 0, out
    created = orjson.loads(out)
    assert created["origins"] == ["https://www.example.cn", "http://localhost:8080"]
    secret, site_key = created["identify_secret"], created["site_key"]
    with app.engine.connect() as c:
        stored = c.execute(select(workspace_settings.c.value)
                           .where(workspace_settings.c.key == f"site:{created['key_id']}")).scalar_one()
        key_row = c.execute(select(api_keys.c.name, api_keys.c.key_hash)).one()
        audit = [(r.action, r.subject, str(r.details)) for r in c.execute(select(audit_log))]
    assert secret not in str(stored) and site_key not in str(stored) and key_row.name == "site:www.example.cn"
    box = SecretBox(base64.urlsafe_b64decode(KEY))
    assert box.open(stored["identify_secret"], f"site:{created['key_id']}") == {"identify_secret": secret}
    assert audit == [("site.create", created["key_id"],
                      str({"name": "www.example.cn", "origins": created["origins"]}))]
    for args in (("site", "list"), ("site", "list", "--json")):
        code, out = run(app, *args)
        assert code == 0 and secret not in out and site_key not in out
    [listed] = orjson.loads(run(app, "site", "list", "--json")[1])
    assert (listed["name"], listed["revoked_at"]) == ("www.example.cn", None)

    # What the command printed is what a site needs: the key for the page, the secret for its backend.
    upsert_contacts(app.services, "crm", [RawItem({"email": "ann@example.cn"})])
    app.settings = dataclasses.replace(app.settings, secret_key=KEY)
    token = make_identify_token(secret, "anon:v1", "email:ann@example.cn",
                                int(app.services.clock.now().timestamp()) + 60)
    with TestClient(create_app(app)) as client:
        linked = client.post("/v1/onsite/identify", params={"visitor": "anon:v1", "key": site_key},
                             content=orjson.dumps({"token": token}), headers={"Origin": "http://localhost:8080"})
    assert linked.status_code == 200 and linked.json()["status"] == "linked", linked.text

    code, out = run(app, "site", "revoke", "www.example.cn", "--json")
    assert code == 0 and orjson.loads(out)["revoked_at"] is not None
    with app.engine.connect() as c:
        stored = c.execute(select(workspace_settings.c.value)
                           .where(workspace_settings.c.key == f"site:{created['key_id']}")).scalar_one()
        actions = [r.action for r in c.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert stored["identify_secret"] is None and actions == ["site.create", "onsite.link", "site.revoke"]
    assert run(app, "site", "revoke", "www.example.cn")[0] == 1


def test_site_create_refuses_wildcards_paths_and_no_origin(app: Application) -> None:
    for args, field in ((("--origin", "*"), "origin"), (("--origin", "https://a.cn/shop"), "origin"),
                        (("--origin", "ftp://a.cn"), "origin"), (("--origin", "https://*.a.cn"), "origin"),
                        ((), "origin")):
        code, out = run(app, "site", "create", "a.cn", *args)
        assert code == 2 and f"{field}:" in out, (args, out)
    code, out = run(app, "site", "create", "bad name!", "--origin", "https://a.cn")
    assert code == 2 and "name:" in out
    code, out = run(app, "apikey", "create", "site:a.cn")
    assert code == 2 and "touchflow site create" in out
    with app.engine.connect() as c:
        assert c.execute(select(api_keys.c.id)).first() is None
