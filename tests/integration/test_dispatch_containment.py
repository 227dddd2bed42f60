"""One bad message never stalls or duplicates the others (issue 10, item 4).

A per-message error in any channel (a malformed webhook URL, a value the HTTP client cannot encode) is that
message's outcome; the dispatcher never retries a chunk whose messages may already have left. And a journey
whose webhook points into our own network, in any spelling, is refused at publish.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.fakes.fixtures import fake_providers
from tests.fakes.providers import FakeProviders
from tests.integration.test_http_channels import FAST, aliyun, msg, tencent, wecom_settings
from touchflow.bootstrap import Application
from touchflow.channels.base import Delivery, Outgoing
from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
from touchflow.channels.webhook import WebhookChannel, WebhookSettings
from touchflow.channels.wechat_mp import WechatMpChannel, WechatMpSettings
from touchflow.channels.wecom import WeComCustomerChannel, WeComStaffChannel
from touchflow.clock import VirtualClock
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.channels import save_channel
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journeys import JourneyError, publish_journey
from touchflow.store.tables import events, outbox

__all__ = ["fake_providers"]

BROKEN = "王\ud800芳"  # a lone surrogate: httpx cannot encode it, so the call raises UnicodeEncodeError


def contacts(app: Application, count: int) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem({"email": f"h{n}@hooks.test"}) for n in range(count)])
    return [c for c in report.contact_ids if c is not None]


def queue_webhooks(app: Application, urls: Sequence[str]) -> list[str]:
    now = app.services.clock.now()
    people = contacts(app, len(urls))
    rows = [OutboxMessage(app.services.ids.new(now), f"hook:{n}", None, people[n], None, f"hook{n}", "webhook", None,
                          {"url": url, "body": {"n": n}, "retry": {"attempts": 3, "backoff_s": 60}}, "queued", 0,
                          now + timedelta(milliseconds=n), now)
            for n, url in enumerate(urls)]
    with app.services.uow() as uow:
        uow.messages.enqueue(rows)
        uow.commit()
    return [r.id for r in rows]


def drain(app: Application, clock: VirtualClock, dispatcher: Dispatcher) -> dict[str, Any]:
    try:
        for _ in range(12):
            dispatcher.dispatch_all()
            with app.engine.connect() as c:
                rows = {r.id: r for r in c.execute(select(outbox))}
            if not any(r.status in ("queued", "sending") for r in rows.values()):
                return rows
            clock.advance(timedelta(hours=1))
    finally:
        dispatcher.close()
    raise AssertionError("the outbox did not drain")


def hook_paths(fake: FakeProviders) -> Counter[str]:
    return Counter(path for _, path, _ in fake.arrivals if path.startswith("/hook"))


def test_a_malformed_webhook_url_fails_alone_and_no_good_url_is_called_twice(
        app: Application, clock: VirtualClock, fake_providers: FakeProviders) -> None:
    fake = fake_providers
    good = [f"{fake.url}/hook/{name}" for name in ("crm", "erp", "bi", "sales")]
    bad = ["http://0177.0.0.1/", f"http://crm.example.cn@127.0.0.1:{fake.port}/hook/userinfo"]
    ids = queue_webhooks(app, [good[0], good[1], bad[0], good[2], bad[1], good[3]])
    channels = ChannelRegistry()
    channels.add("webhook", WebhookChannel(WebhookSettings(secret=fake.HOOK_SECRET, timeout=FAST,
                                                           allow_networks=("127.0.0.1/32",))), kind="webhook")
    rows = drain(app, clock, Dispatcher(app.services, batch_size=50, channels=channels))

    assert hook_paths(fake) == Counter({f"/hook/{name}": 1 for name in ("crm", "erp", "bi", "sales")})
    assert len(fake.requests("hook")) == 4  # each accepted with a valid signature, once
    by_url = {rows[i].payload["url"]: rows[i] for i in ids}
    assert all(by_url[u].status == "sent" and by_url[u].attempts == 1 for u in good)
    octal, userinfo = by_url[bad[0]], by_url[bad[1]]
    assert octal.status == "dead" and octal.reason == "provider_rejected" and octal.attempts == 1
    assert "0177.0.0.1" in octal.last_error and "octal" in octal.last_error and "127.0.0.1" in octal.last_error
    assert userinfo.status == "dead" and "user name or password" in userinfo.last_error
    with app.engine.connect() as c:
        failed = list(c.execute(select(events.c.properties).where(events.c.type == "message_failed")))
    assert sorted(f.properties["message_id"] for f in failed) == sorted([octal.id, userinfo.id])
    assert all("provider_rejected" in f.properties["reason"] for f in failed)


class _HalfwayBug:
    """An adapter with a bug: it delivers the first message for real, then raises."""

    name, max_batch = "webhook", 50

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=FAST)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        self.client.post(f"{self.url}/hook/{messages[0].message_id}", json={})
        raise RuntimeError("adapter bug after the first message")

    def close(self) -> None:
        self.client.close()


def test_an_adapter_that_raises_after_sending_is_not_retried(
        app: Application, clock: VirtualClock, fake_providers: FakeProviders) -> None:
    ids = queue_webhooks(app, ["https://a.example.cn/h", "https://b.example.cn/h", "https://c.example.cn/h"])
    channels = ChannelRegistry()
    channels.add("webhook", _HalfwayBug(fake_providers.url), kind="webhook")
    rows = drain(app, clock, Dispatcher(app.services, batch_size=50, channels=channels))
    assert sum(hook_paths(fake_providers).values()) == 1  # the chunk was not sent again
    assert {rows[i].status for i in ids} == {"dead"}
    assert all("RuntimeError: adapter bug" in rows[i].last_error for i in ids)


# -- every adapter contains a per-message error --------------------------------------------------------------
def _sent_once(deliveries: list[Delivery], good: set[str]) -> None:
    assert {d.message_id for d in deliveries if d.status == "sent"} == good
    bad = [d for d in deliveries if d.message_id not in good]
    assert bad and all(d.status == "failed" and "UnicodeEncodeError" in (d.error or "") for d in bad)


def test_sms_gateway_a_bad_batch_fails_alone(fake_providers: FakeProviders) -> None:
    fake = fake_providers
    channel = HttpSmsChannel(HttpSmsSettings(base_url=f"{fake.url}/sms", api_token=fake.SMS_TOKEN, max_batch=2,
                                             timeout=FAST))
    out = channel.send([msg(0, "+8613800000000"), msg(1, "+8613800000001"), msg(2, "+8613800000002", BROKEN),
                        msg(3, "+8613800000003")])
    channel.close()
    _sent_once(out, {"m0", "m1"})
    assert len(fake.requests("sms")) == 1


def test_aliyun_and_tencent_a_bad_group_fails_alone(fake_providers: FakeProviders) -> None:
    fake = fake_providers
    ali = aliyun(fake)
    out = ali.send([msg(0, "+8613800000000", template_code="SMS_1", template_param={"name": "李雷"}),
                    msg(1, "+8613800000001", template_code="SMS_2", template_param={"name": BROKEN}),
                    msg(2, "+8613800000002", template_code="SMS_1", template_param={"name": "韩梅梅"})])
    ali.close()
    _sent_once(out, {"m0", "m2"})
    ten = tencent(fake)
    out = ten.send([msg(3, "+8613800000003", template_id="1", template_params=["李雷"]),
                    msg(4, "+8613800000004", template_id="1", template_params=[BROKEN]),
                    msg(5, "+8613800000005", template_id="2", template_params=["韩梅梅"])])
    ten.close()
    _sent_once(out, {"m3", "m5"})


def test_wecom_and_official_account_a_bad_message_fails_alone(fake_providers: FakeProviders) -> None:
    fake = fake_providers
    staff = WeComStaffChannel(wecom_settings(fake))
    out = staff.send([msg(0, "sales0"), msg(1, "sales1", BROKEN), msg(2, "sales2")])
    staff.close()
    _sent_once(out, {"m0", "m2"})
    customer = WeComCustomerChannel(wecom_settings(fake))
    out = customer.send([msg(3, "wmA"), msg(4, "wmB", BROKEN), msg(5, "wmC")])
    customer.close()
    _sent_once(out, {"m3", "m5"})
    mp = WechatMpChannel(WechatMpSettings(app_id=fake.MP_APP, app_secret=fake.MP_SECRET, base_url=f"{fake.url}/mp",
                                          timeout=FAST))
    out = mp.send([msg(6, "oA6", template_id="T", fields={"a": "会员日"}),
                   msg(7, "oA7", template_id="T", fields={"a": BROKEN}),
                   msg(8, "oA8", template_id="T", fields={"a": "会员日"})])
    mp.close()
    _sent_once(out, {"m6", "m8"})


# -- publish refuses internal webhook targets ----------------------------------------------------------------
JOURNEY = """
key: crm_sync
name: 同步线索到 CRM
trigger: {{kind: event, event: signup}}
start: call_crm
nodes:
  call_crm: {{kind: webhook, url: "{url}", next: done}}
  done: {{kind: exit}}
"""


@pytest.mark.parametrize(("url", "reason"), [
    ("http://0177.0.0.1/", "octal, hex, integer or shortened form (127.0.0.1: loopback)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: link-local (incl. cloud metadata)"),
    ("http://2130706433/", "127.0.0.1: loopback"),
    ("http://crm.example.cn@10.0.0.1/", "user name or password"),
])
def test_publish_refuses_a_webhook_into_our_network_naming_node_and_reason(app: Application, url: str,
                                                                           reason: str) -> None:
    with pytest.raises(JourneyError) as refused:
        publish_journey(app.services, JOURNEY.format(url=url), actor="test")
    assert "nodes.call_crm.url" in str(refused.value) and reason in str(refused.value)
    assert "webhook 'call_crm'" in str(refused.value)


def test_publish_honours_the_webhook_channels_allow_list(app: Application) -> None:
    save_channel(app.services, "webhook", "webhook", {"allow_networks": ["10.0.0.0/8"]}, None, None, 4, True,
                 actor="test")
    assert publish_journey(app.services, JOURNEY.format(url="http://10.2.3.4/hook"), actor="test").version == 1
    with pytest.raises(JourneyError, match="link-local"):
        publish_journey(app.services, JOURNEY.format(url="http://169.254.169.254/"), actor="test")
