"""After a message leaves: the pixel, the click redirect, RFC 8058 one-click unsubscribe, SMS replies,
receipts and returned mail — over HTTP against a real database, with the links the real composer wrote."""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.channels.base import Outgoing
from touchflow.channels.capture import CaptureChannel
from touchflow.clock import VirtualClock
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.compose import Composer
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.apikeys import create_api_key
from touchflow.services.contacts import get_contact_profile
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import contact_freezes, events, outbox, suppressions, tasks

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"
LINK = "https://shop.example.cn/spring?utm_source=edm"


@pytest.fixture
def client(app: Application) -> Iterator[TestClient]:
    key = create_api_key(app.services, "provider", actor="test").secret
    with TestClient(create_app(app)) as test_client:
        test_client.headers["X-API-Key"] = key
        yield test_client


class Sender:
    """The real dispatcher and composer (signing links as ``touchflow serve`` checks them), capture channels."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.channels = ChannelRegistry.capture_all(("email", "sms"))
        save_template(app.services, "spring_email", "email", "春季上新",
                      f'<p>您好，春季新品已上市。</p><p><a href="{LINK}">去看看 Shop now</a></p>', "html", by="test")
        save_template(app.services, "spring_sms", "sms", "", "春季新品已上市，详情见官网。", "text", by="test")

    def queue(self, contact_id: str, channel: str) -> str:
        now = self.app.services.clock.now()
        message_id = self.app.services.ids.new(now)
        row = OutboxMessage(message_id, f"test:{message_id}", None, contact_id, None, "n1", channel,
                            f"spring_{channel}", {}, "queued", 0, now, now)
        with self.app.services.uow() as uow:
            uow.messages.enqueue([row])
            uow.commit()
        return message_id

    def dispatch(self) -> None:
        composer = Composer(self.app.services, self.app.settings.public_url, self.app.token_secret())
        dispatcher = Dispatcher(self.app.services, channels=self.channels, composer=composer)
        try:
            dispatcher.dispatch_all()
        finally:
            dispatcher.close()

    def sent(self, channel: str) -> list[Outgoing]:
        configured = self.channels.get(channel)
        assert configured is not None and isinstance(configured.channel, CaptureChannel)
        return configured.channel.sent


def person(app: Application, email: str, phone: str | None = None) -> str:
    report = upsert_contacts(app.services, "crm", [RawItem({"email": email, **({"phone": phone} if phone else {})})])
    contact_id = report.contact_ids[0]
    assert contact_id is not None
    return contact_id


def path_of(url: str) -> str:
    return urlsplit(url).path


def link_in(mail: Outgoing, prefix: str) -> str:
    assert mail.html is not None
    found = [html.unescape(u) for u in re.findall(r'(?:href|src)="([^"]+)"', mail.html) if f"{prefix}" in u]
    assert found, f"no {prefix} link in the email"
    return path_of(found[0])


def stored(app: Application, event_type: str) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(select(events).where(events.c.type == event_type).order_by(events.c.id)))


def row(app: Application, message_id: str) -> Any:
    with app.engine.connect() as c:
        return c.execute(select(outbox).where(outbox.c.id == message_id)).one()


def test_repeated_opens_are_one_event_and_clicks_redirect_to_the_original(app: Application,
                                                                         client: TestClient) -> None:
    sender = Sender(app)
    contact = person(app, "li.na@example.cn")
    message_id = sender.queue(contact, "email")
    sender.dispatch()
    [mail] = sender.sent("email")
    pixel, click = link_in(mail, "/t/o/"), link_in(mail, "/t/c/")

    for _ in range(3):
        answer = client.get(pixel)
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/gif"
        assert answer.content.startswith(b"GIF89a") and "no-store" in answer.headers["cache-control"]
    opened = stored(app, "message_opened")
    assert [(e.contact_id, e.properties["message_id"], e.properties["channel"]) for e in opened] == [
        (contact, message_id, "email")]

    for _ in range(2):
        answer = client.get(click, follow_redirects=False)
        assert answer.status_code == 302 and answer.headers["location"] == LINK
    clicked = stored(app, "message_clicked")
    assert [(e.properties["url"], e.properties["message_id"], e.properties["node_id"]) for e in clicked] == [
        (LINK, message_id, "n1")]
    assert len(stored(app, "message_opened")) == 1  # the click's implied open is the same open


def test_a_tampered_or_misused_token_is_a_400_page_and_never_a_redirect(app: Application,
                                                                       client: TestClient) -> None:
    sender = Sender(app)
    sender.queue(person(app, "li.na@example.cn"), "email")
    sender.dispatch()
    [mail] = sender.sent("email")
    click = link_in(mail, "/t/c/")
    token = click.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for path in (f"/t/c/{tampered}", f"/t/c/{link_in(mail, '/t/o/').rsplit('/', 1)[1]}", "/t/c/not-a-token"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 400 and "location" not in answer.headers
        assert "链接无效" in answer.text
    assert client.get(f"/t/u/{tampered}").status_code == 400
    assert stored(app, "message_clicked") == []


def test_rfc8058_one_click_unsubscribes_and_stops_the_next_email(app: Application, client: TestClient) -> None:
    sender = Sender(app)
    leaving, staying = person(app, "wang.fang@example.cn"), person(app, "zhao.lei@example.cn")
    sender.queue(leaving, "email")
    sender.dispatch()
    [mail] = sender.sent("email")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = path_of(mail.headers["List-Unsubscribe"].strip("<>"))

    page = client.get(unsubscribe)  # a link scanner's GET changes nothing
    assert page.status_code == 200 and "退订" in page.text and 'method="post"' in page.text
    assert get_contact_profile(app.services, leaving).state.consents.get("email") is None

    answer = client.post(unsubscribe, content=b"List-Unsubscribe=One-Click", follow_redirects=False,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and "location" not in answer.headers
    again = client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200
    assert [e.properties["method"] for e in stored(app, "unsubscribe")] == ["one_click"]
    assert get_contact_profile(app.services, leaving).state.consents["email"].status == "denied"

    blocked, allowed = sender.queue(leaving, "email"), sender.queue(staying, "email")
    sender.dispatch()
    assert row(app, blocked).status == "skipped" and row(app, blocked).reason in ("consent", "suppressed")
    assert row(app, allowed).status == "sent"
    assert [m.to for m in sender.sent("email")] == ["wang.fang@example.cn", "zhao.lei@example.cn"]
    with app.engine.connect() as c:
        assert list(c.execute(select(suppressions.c.channel, suppressions.c.address, suppressions.c.reason))) == [
            ("email", "wang.fang@example.cn", "unsubscribed")]


def test_a_td_reply_unsubscribes_and_stops_the_next_sms(app: Application, client: TestClient) -> None:
    sender = Sender(app)
    leaving = person(app, "chen.jie@example.cn", "+8613800138000")
    staying = person(app, "sun.li@example.cn", "+8613900139000")
    answer = client.post("/v1/callbacks/sms/inbound", json={"from": "13800138000", "text": "ＴＤ"})
    assert answer.status_code == 200
    assert answer.json()["items"] == [{"from": "13800138000", "contact_id": leaving, "unsubscribed": True}]
    chatter = client.post("/v1/callbacks/sms/inbound", json={"from": "+8613900139000", "text": "TD是什么意思?"})
    assert chatter.json()["items"][0]["unsubscribed"] is False

    blocked, allowed = sender.queue(leaving, "sms"), sender.queue(staying, "sms")
    sender.dispatch()
    assert row(app, blocked).status == "skipped" and row(app, blocked).reason in ("consent", "suppressed")
    assert row(app, allowed).status == "sent"
    assert [m.to for m in sender.sent("sms")] == ["+8613900139000"]
    assert [e.properties["text"] for e in stored(app, "sms_replied")] != []
    assert [e.contact_id for e in stored(app, "unsubscribe")] == [leaving]


def test_provider_shapes_are_acknowledged_the_way_each_provider_expects(app: Application,
                                                                        client: TestClient) -> None:
    leaving = person(app, "he.min@example.cn", "+8613700137000")
    aliyun = client.post("/v1/callbacks/sms/inbound", json=[{
        "phone_number": "13700137000", "send_time": "2026-03-02 09:10:00", "content": "退订",
        "sign_name": "触达", "dest_code": "1234", "sequence_id": 778}])
    assert aliyun.json() == {"code": 0, "msg": "成功"}
    assert get_contact_profile(app.services, leaving).state.consents["sms"].status == "denied"
    tencent = client.post("/v1/callbacks/sms/inbound", json={
        "extend": "", "mobile": "13700137000", "nationcode": "86", "sign": "触达", "text": "好的", "time": 1772413800})
    assert tencent.json() == {"result": 0, "errmsg": "OK"}
    assert len(stored(app, "sms_replied")) == 2
    anonymous = TestClient(create_app(app))
    assert anonymous.post("/v1/callbacks/sms/inbound", json={"from": "1", "text": "TD"}).status_code == 401


def test_a_delivery_receipt_records_message_delivered(app: Application, client: TestClient) -> None:
    sender = Sender(app)
    contact = person(app, "qian.yu@example.cn", "+8613600136000")
    message_id = sender.queue(contact, "sms")
    sender.dispatch()
    provider_id = row(app, message_id).provider_id
    assert provider_id
    answer = client.post("/v1/callbacks/sms/receipt", json=[
        {"provider_id": provider_id, "status": "delivered"}, {"provider_id": "nobody-knows", "status": "failed"}])
    assert answer.status_code == 200
    assert answer.json()["items"] == [
        {"provider_id": provider_id, "message_id": message_id, "matched": True},
        {"provider_id": "nobody-knows", "message_id": None, "matched": False}]
    client.post("/v1/callbacks/sms/receipt", json=[{"provider_id": provider_id, "status": "delivered"}])
    delivered = stored(app, "message_delivered")
    assert [(e.contact_id, e.properties["message_id"]) for e in delivered] == [(contact, message_id)]
    bad = client.post("/v1/callbacks/sms/receipt", json=[{"provider_id": provider_id, "status": "read"}])
    assert bad.status_code == 422


def _report_about(fixture: str, message_id: str, recipient: str) -> bytes:
    raw = (FIXTURES / fixture).read_bytes()
    raw = re.sub(rb"X-Touchflow-Message: \S+", f"X-Touchflow-Message: {message_id}".encode(), raw)
    for old in (b"wang.fang@example-corp.cn", b"zhang.wei@mail.example"):
        raw = raw.replace(old, recipient.encode())
    return raw


def test_a_hard_bounce_suppresses_the_address(app: Application, client: TestClient) -> None:
    sender = Sender(app)
    contact = person(app, "gone@example-corp.cn")
    message_id = sender.queue(contact, "email")
    sender.dispatch()
    answer = client.post("/v1/callbacks/email/report", headers={"Content-Type": "message/rfc822"},
                         content=_report_about("postfix_hard_bounce.eml", message_id, "gone@example-corp.cn"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["kind"], body["hard"], body["matched"], body["found_by"], body["event"]) == (
        "bounce", True, True, "message_id", "message_bounced")
    [bounce] = stored(app, "message_bounced")
    assert bounce.properties["hard"] is True and bounce.properties["message_id"] == message_id
    with app.engine.connect() as c:
        assert list(c.execute(select(suppressions.c.address, suppressions.c.reason))) == [
            ("gone@example-corp.cn", "hard_bounce")]
    later = sender.queue(contact, "email")
    sender.dispatch()
    assert row(app, later).status == "skipped" and row(app, later).reason == "suppressed"

    not_a_report = client.post("/v1/callbacks/email/report",
                               content=(FIXTURES / "auto_reply_not_a_report.eml").read_bytes())
    assert not_a_report.status_code == 422


def test_an_arf_complaint_freezes_the_contact_with_a_service_task_due_in_2h(app: Application, client: TestClient,
                                                                           clock: VirtualClock) -> None:
    sender = Sender(app)
    contact = person(app, "angry@mail.example")
    message_id = sender.queue(contact, "email")
    sender.dispatch()
    clock.advance(timedelta(hours=20))
    answer = client.post("/v1/callbacks/email/report",
                         content=_report_about("arf_abuse_complaint.eml", message_id, "angry@mail.example"))
    assert answer.status_code == 202 and answer.json()["event"] == "message_complained"
    with app.engine.connect() as c:
        freeze = c.execute(select(contact_freezes)).one()
        task = c.execute(select(tasks)).one()
    assert freeze.contact_id == contact and freeze.lifted_at is None
    assert task.queue == "service" and task.contact_id == contact and task.due_at == clock.now() + timedelta(hours=2)
    later = sender.queue(contact, "email")
    sender.dispatch()
    assert row(app, later).status == "skipped" and row(app, later).reason == "complaint_freeze"
    again = client.post("/v1/callbacks/email/report",
                        content=_report_about("arf_abuse_complaint.eml", message_id, "angry@mail.example"))
    assert again.json()["duplicate"] is True


def test_the_preference_page_withdraws_and_restores_consent(app: Application, client: TestClient,
                                                           clock: VirtualClock) -> None:
    sender = Sender(app)
    contact = person(app, "pref@example.cn", "+8613500135000")
    sender.queue(contact, "email")
    sender.dispatch()
    [mail] = sender.sent("email")
    preferences = link_in(mail, "/t/p/")
    page = client.get(preferences)
    assert page.status_code == 200 and 'value="email" checked' in page.text and 'value="sms" checked' in page.text
    assert "pref@example.cn" not in page.text  # the address is masked
    saved = client.post(preferences, content=b"shown=email%2Csms&on=email",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert saved.status_code == 200 and 'value="sms">' in saved.text
    consents = get_contact_profile(app.services, contact).state.consents
    assert consents["sms"].status == "denied" and "email" not in consents
    clock.advance(timedelta(days=1))  # a change of mind; at one instant a denial would win
    client.post(preferences, content=b"shown=email%2Csms&on=email&on=sms",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert get_contact_profile(app.services, contact).state.consents["sms"].status == "granted"
    with app.engine.connect() as c:
        assert list(c.execute(select(suppressions))) == []  # the opt-out's suppression was lifted
