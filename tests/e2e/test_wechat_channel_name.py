"""The WeChat official account is ``wechat`` everywhere; ``wechat_mp`` is accepted with a warning
(issue 11, item 12): journeys, templates, ``channel set``, guardrail policies, and stored data under the old name."""

from __future__ import annotations

import base64
import warnings
from pathlib import Path

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.channels.capture import CaptureChannel
from touchflow.cli import app as cli
from touchflow.domain.guardrails.ports import Suppression
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.channels import save_channel
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import channel_configs, outbox, templates

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
JOURNEY = """
key: wx_welcome
name: 公众号欢迎
trigger: {event: signup}
nodes:
  hello: {kind: send, channel: wechat_mp, template: wx_hello, fallback: [wechat_mp]}
"""


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url,
                                                            "TOUCHFLOW_SECRET_KEY": KEY})
    return result.exit_code, result.output


def test_old_name_in_journeys_templates_and_channel_set_is_saved_as_wechat(app: Application, tmp_path: Path) -> None:
    journey = tmp_path / "wx.yaml"
    journey.write_text(JOURNEY, encoding="utf-8")
    code, out = run(app, "journey", "validate", str(journey), "--json")
    assert code == 0, out
    findings = orjson.loads(out)["findings"]
    assert {(f["code"], f["path"]) for f in findings} >= {("channel-alias", "nodes.hello.channel"),
                                                          ("channel-alias", "nodes.hello.fallback[0]")}

    body = tmp_path / "hello.txt"
    body.write_text("欢迎关注！", encoding="utf-8")
    code, out = run(app, "template", "save", "wx_hello", "--file", str(body), "--channel", "wechat_mp")
    assert code == 0 and "warning" in out and "wechat_mp" in out, out
    code, out = run(app, "channel", "set", "wechat_mp", "--kind", "capture")
    assert code == 0 and "warning" in out, out
    with app.engine.connect() as c:
        assert c.execute(select(templates.c.channel)).scalars().all() == ["wechat"]
        assert c.execute(select(channel_configs.c.name)).scalars().all() == ["wechat"]

    code, out = run(app, "journey", "publish", str(journey))
    assert code == 0 and "channel-alias" in out, out
    upsert_contacts(app.services, "crm", [RawItem({"wechat_openid": "oWx0001", "email": "wx@example.cn"})])
    record_events(app.services, "web", [RawItem({"id": "wx1", "type": "signup", "wechat_openid": "oWx0001",
                                                 "occurred_at": app.services.clock.now().isoformat()})])
    JourneyRuntime(app.services).tick()
    with app.engine.connect() as c:
        row = c.execute(select(outbox.c.channel, outbox.c.payload)).one()
    assert row.channel == "wechat" and row.payload.get("fallback") == ["wechat"]


def test_data_stored_under_the_old_name_still_applies(app: Application) -> None:
    """A channel configured as wechat_mp carries wechat messages; a wechat_mp suppression stops them."""
    save_channel(app.services, "wechat", "capture", {}, None, None, 1, True, actor="test")  # canonical row
    with app.engine.begin() as c:
        c.execute(channel_configs.update().values(name="wechat_mp"))  # as saved before the rename
    publish_journey(app.services, JOURNEY, actor="test")
    upsert_contacts(app.services, "crm", [RawItem({"wechat_openid": f"oWx000{n}"}) for n in (1, 2)])
    with app.services.uow() as uow:
        uow.guards.suppress([Suppression("wechat_mp", "oWx0002", "unsubscribed", "preferences",
                                         app.services.clock.now())])
        uow.commit()
    record_events(app.services, "web", [RawItem({"id": f"wx{n}", "type": "signup", "wechat_openid": f"oWx000{n}",
                                                 "occurred_at": app.services.clock.now().isoformat()})
                                        for n in (1, 2)])
    JourneyRuntime(app.services).tick()
    with app.services.reader() as uow:
        configs = uow.guards.channel_configs()
    registry = ChannelRegistry.from_configs(configs, lambda sealed, aad: {})
    assert isinstance(registry.get("wechat").channel, CaptureChannel)  # type: ignore[union-attr]
    dispatcher = Dispatcher(app.services, batch_size=50, channels=registry)
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    with app.engine.connect() as c:
        done = {r.address or r.reason: r.status for r in c.execute(select(outbox))}
    assert done == {"oWx0001": "sent", "suppressed": "skipped"}, done


def test_the_api_saves_a_wechat_mp_template_as_wechat_and_says_so(client: TestClient) -> None:
    saved = client.post("/v1/templates", json={"name": "wx_api", "channel": "wechat_mp", "subject": "",
                                               "body": "欢迎关注！", "layout": "text"})
    assert saved.status_code == 201, saved.text
    assert saved.json()["channel"] == "wechat" and "wechat_mp" in saved.json()["warnings"][0]
    plain = client.post("/v1/templates", json={"name": "wx_api2", "channel": "wechat", "subject": "",
                                               "body": "欢迎关注！", "layout": "text"})
    assert plain.status_code == 201 and "warnings" not in plain.json()
