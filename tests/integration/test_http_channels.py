"""Every HTTP channel adapter against the local fake providers (tests/fakes), over real sockets.

The fakes verify each signature scheme independently, so a test that passes here means the request would
have been accepted as signed; faults are injected from a seeded ``FaultPlan``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fakes.fixtures import fake_providers
from tests.fakes.providers import FakeProviders, FaultPlan
from touchflow.channels.base import Delivery, Outgoing
from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings
from touchflow.channels.sms_aliyun import AliyunSmsChannel, AliyunSmsSettings
from touchflow.channels.sms_tencent import TencentSmsChannel, TencentSmsSettings
from touchflow.channels.wechat_mp import WechatMpChannel, WechatMpSettings
from touchflow.channels.wecom import WeComCustomerChannel, WeComSettings, WeComStaffChannel

__all__ = ["fake_providers"]

NOW = datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)
FAST = httpx.Timeout(0.5, connect=0.5)


def msg(i: int | str, to: str, text: str = "双十一会员日，全场五折", **data: Any) -> Outgoing:
    return Outgoing(
        message_id=f"m{i}", idempotency_key=f"run{i}:step1", contact_id=f"c{i}", to=to, text=text, data=data
    )


def statuses(deliveries: list[Delivery]) -> list[str]:
    return [d.status for d in deliveries]


@pytest.fixture
def fake(fake_providers: FakeProviders) -> FakeProviders:
    fake_providers.now = lambda: NOW
    return fake_providers


# -- neutral SMS ---------------------------------------------------------------------------------
@pytest.fixture
def sms(fake: FakeProviders) -> Iterator[HttpSmsChannel]:
    channel = HttpSmsChannel(HttpSmsSettings(base_url=f"{fake.url}/sms", api_token=fake.SMS_TOKEN, timeout=FAST))
    yield channel
    channel.close()


def test_sms_splits_2500_recipients_into_three_calls(fake: FakeProviders, sms: HttpSmsChannel) -> None:
    messages = [msg(i, f"+86138{i:08d}") for i in range(2500)]
    deliveries = sms.send(messages)
    assert statuses(deliveries) == ["sent"] * 2500
    assert [d.message_id for d in deliveries] == [m.message_id for m in messages]
    calls = fake.requests("sms")
    assert [len(c.json()["messages"]) for c in calls] == [1000, 1000, 500]
    assert calls[0].headers["authorization"] == f"Bearer {fake.SMS_TOKEN}"
    assert calls[0].json()["messages"][0] == {
        "to": "+8613800000000",
        "text": messages[0].text,
        "idempotency_key": "run0:step1",
    }
    assert len({d.provider_id for d in deliveries}) == 2500


def test_sms_per_recipient_outcomes(fake: FakeProviders, sms: HttpSmsChannel) -> None:
    fake.invalid.add("+8610000000000")
    fake.throttled.add("+8613900000001")
    out = sms.send([msg(1, "+8613800000001"), msg(2, "+8610000000000"), msg(3, "+8613900000001")])
    assert statuses(out) == ["sent", "failed", "retry"]
    assert out[1].error is not None and "invalid_number" in out[1].error
    assert out[2].retry_after == 30


def test_sms_same_message_twice_carries_the_same_keys(fake: FakeProviders, sms: HttpSmsChannel) -> None:
    m = msg(7, "+8613800000007")
    first, second = sms.send([m]), sms.send([m])
    a, b = fake.requests("sms")
    assert a.json()["messages"][0]["idempotency_key"] == b.json()["messages"][0]["idempotency_key"] == "run7:step1"
    assert a.idempotency_key is not None and a.idempotency_key == b.idempotency_key
    assert first[0].provider_id == second[0].provider_id  # the gateway deduplicated


@pytest.mark.parametrize(
    ("plan", "retry_after"),
    [
        (FaultPlan(error_5xx=1.0), None),
        (FaultPlan(timeout=1.0, stall_s=1.5), None),
        (FaultPlan(rate_429=1.0, retry_after_s=7), 7.0),
    ],
    ids=["5xx", "timeout", "429"],
)
def test_sms_whole_call_faults_are_retried(
    fake: FakeProviders, sms: HttpSmsChannel, plan: FaultPlan, retry_after: float | None
) -> None:
    fake.set_faults(plan)
    out = sms.send([msg(1, "+8613800000001"), msg(2, "+8613800000002")])
    assert statuses(out) == ["retry", "retry"]
    assert [d.retry_after for d in out] == [retry_after, retry_after]
    assert fake.requests("sms") == []


def test_429_with_an_http_date_retry_after(fake: FakeProviders, sms: HttpSmsChannel) -> None:
    fake.now = lambda: datetime.now(UTC)  # an HTTP date is absolute, so the fake must use real time here
    fake.set_faults(FaultPlan(rate_429=1.0, retry_after_s=120, retry_after_as_date=True))
    (out,) = sms.send([msg(1, "+8613800000001")])
    assert out.status == "retry"
    assert out.retry_after is not None and 100 <= out.retry_after <= 121


def test_seeded_faults_are_reproducible(fake: FakeProviders, sms: HttpSmsChannel) -> None:
    def run() -> list[str]:
        fake.set_faults(FaultPlan(error_5xx=0.3, rate_429=0.2, seed=42))
        return [sms.send([msg(i, f"+86138{i:08d}")])[0].status for i in range(30)]

    first = run()
    assert first == run()
    assert {"sent", "retry"} <= set(first)


# -- Aliyun ---------------------------------------------------------------------------------------
def aliyun(fake: FakeProviders, secret: str | None = None, **kw: Any) -> AliyunSmsChannel:
    settings = AliyunSmsSettings(
        access_key_id=fake.ALIYUN_KEY_ID,
        access_key_secret=secret or fake.ALIYUN_SECRET,
        sign_name="触达科技",
        base_url=f"{fake.url}/aliyun/",
        timeout=FAST,
    )
    return AliyunSmsChannel(settings, now=lambda: NOW, **kw)


def test_aliyun_send_sms_is_signed_and_carries_out_id(fake: FakeProviders) -> None:
    channel = aliyun(fake)
    m = msg(1, "+8613800000001", template_code="SMS_1001", template_param={"name": "王芳", "code": "8"})
    (out,) = channel.send([m])
    channel.close()
    assert out.status == "sent" and out.provider_id is not None and out.provider_id.startswith("biz-")
    (call,) = fake.requests("aliyun")
    form = call.form()
    assert form["Action"] == "SendSms" and form["PhoneNumbers"] == "13800000001"
    assert form["OutId"] == "m1" and form["SignName"] == "触达科技" and form["TemplateCode"] == "SMS_1001"
    assert form["TemplateParam"] == '{"code":"8","name":"王芳"}'
    assert form["Timestamp"] == "2026-03-01T08:30:15Z" and form["Format"] == "JSON"
    assert call.headers["x-acs-request-id"] == "run1:step1"
    assert fake.rejections() == []


def test_aliyun_wrong_secret_is_refused_by_the_provider(fake: FakeProviders) -> None:
    channel = aliyun(fake, secret="not-the-secret")
    (out,) = channel.send([msg(1, "+8613800000001", template_code="SMS_1")])
    channel.close()
    assert out.status == "failed" and out.error is not None and out.error.startswith("SignatureDoesNotMatch")
    assert fake.requests("aliyun") == []


def test_aliyun_batches_by_template_and_isolates_a_bad_number(fake: FakeProviders) -> None:
    fake.invalid.add("+8613000000007")
    channel = aliyun(fake)
    messages = [msg(i, f"+86130{i:08d}", template_code="SMS_A", template_param={"n": str(i)}) for i in range(250)]
    out = channel.send(messages)
    channel.close()
    assert statuses(out).count("failed") == 1 and out[7].status == "failed"
    assert "MOBILE_NUMBER_ILLEGAL" in (out[7].error or "")
    actions = [c.form()["Action"] for c in fake.requests("aliyun")]
    # 3 batch calls (100, 100, 50): the first holds the bad number, so its 100 go one by one.
    assert actions.count("SendBatchSms") == 3 and actions.count("SendSms") == 100
    batches = [c.form() for c in fake.requests("aliyun") if c.form()["Action"] == "SendBatchSms"]
    assert [len(json.loads(b["PhoneNumberJson"])) for b in batches] == [100, 100, 50]
    assert json.loads(batches[2]["TemplateParamJson"])[0] == {"n": "200"}


def test_aliyun_throttling_and_server_errors_retry(fake: FakeProviders) -> None:
    fake.throttled.add("+8613900000009")
    channel = aliyun(fake)
    (limited,) = channel.send([msg(9, "+8613900000009", template_code="SMS_A")])
    fake.set_faults(FaultPlan(error_5xx=1.0))
    (down,) = channel.send([msg(1, "+8613800000001", template_code="SMS_A")])
    channel.close()
    assert limited.status == "retry" and "BUSINESS_LIMIT_CONTROL" in (limited.error or "")
    assert down.status == "retry"


def test_aliyun_nonce_is_fresh_per_attempt(fake: FakeProviders) -> None:
    """A retry reuses nothing that Aliyun treats as replay; a fixed nonce would be refused the second time."""
    m = msg(1, "+8613800000001", template_code="SMS_A")
    channel = aliyun(fake)
    assert statuses(channel.send([m]) + channel.send([m])) == ["sent", "sent"]
    first, second = fake.requests("aliyun")
    assert first.form()["SignatureNonce"] != second.form()["SignatureNonce"]
    assert first.form()["OutId"] == second.form()["OutId"] == "m1"
    channel.close()
    fixed = aliyun(fake, nonce=lambda: "same-nonce")
    replay = fixed.send([m]) + fixed.send([m])
    fixed.close()
    assert statuses(replay) == ["sent", "failed"] and "SignatureNonceUsed" in (replay[1].error or "")


# -- Tencent --------------------------------------------------------------------------------------
def tencent(fake: FakeProviders, secret: str | None = None) -> TencentSmsChannel:
    settings = TencentSmsSettings(
        secret_id=fake.TENCENT_ID,
        secret_key=secret or fake.TENCENT_KEY,
        sdk_app_id="1400000001",
        sign_name="触达科技",
        base_url=f"{fake.url}/tencent/",
        timeout=FAST,
    )
    return TencentSmsChannel(settings, now=lambda: NOW)


def test_tencent_per_number_results_and_fields(fake: FakeProviders) -> None:
    fake.invalid.add("+8610000000000")
    fake.throttled.add("+8613900000001")
    channel = tencent(fake)
    data: dict[str, Any] = {"template_id": "449739", "template_params": ["王芳", "5"]}
    out = channel.send(
        [msg(1, "+8613800000001", **data), msg(2, "+8610000000000", **data), msg(3, "+8613900000001", **data)]
    )
    (single,) = channel.send([msg(4, "+8613800000004", **data)])
    channel.close()
    assert statuses(out) == ["sent", "failed", "retry"]
    assert out[0].provider_id and out[0].provider_id.startswith("serial-")
    assert "IncorrectPhoneNumber" in (out[1].error or "") and "LimitExceeded" in (out[2].error or "")
    batch, one = fake.requests("tencent")
    body = batch.json()
    assert body["PhoneNumberSet"] == ["+8613800000001", "+8610000000000", "+8613900000001"]
    assert body["TemplateParamSet"] == ["王芳", "5"] and body["SmsSdkAppId"] == "1400000001"
    assert body["TemplateId"] == "449739" and "SessionContext" not in body
    assert one.json()["SessionContext"] == "m4" and single.status == "sent"
    assert batch.headers["x-tc-action"] == "SendSms" and batch.headers["x-tc-version"] == "2021-01-11"
    assert batch.headers["x-tc-timestamp"] == str(int(NOW.timestamp()))
    assert batch.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDtest/2026-03-01/sms/tc3_request")


def test_tencent_splits_at_200_numbers(fake: FakeProviders) -> None:
    channel = tencent(fake)
    out = channel.send([msg(i, f"+86137{i:08d}", template_id="1") for i in range(450)])
    channel.close()
    assert statuses(out) == ["sent"] * 450
    assert [len(c.json()["PhoneNumberSet"]) for c in fake.requests("tencent")] == [200, 200, 50]


def test_tencent_bad_signature_fails_the_whole_call(fake: FakeProviders) -> None:
    channel = tencent(fake, secret="wrong")
    out = channel.send([msg(1, "+8613800000001", template_id="1"), msg(2, "+8613800000002", template_id="1")])
    channel.close()
    assert statuses(out) == ["failed", "failed"]
    assert all("AuthFailure.SignatureFailure" in (d.error or "") for d in out)
    assert fake.requests("tencent") == []


def test_tencent_429_and_timeout_retry(fake: FakeProviders) -> None:
    channel = tencent(fake)
    fake.set_faults(FaultPlan(rate_429=1.0, retry_after_s=3))
    (limited,) = channel.send([msg(1, "+8613800000001", template_id="1")])
    fake.set_faults(FaultPlan(timeout=1.0))
    (slow,) = channel.send([msg(2, "+8613800000002", template_id="1")])
    channel.close()
    assert (limited.status, limited.retry_after) == ("retry", 3.0)
    assert slow.status == "retry" and "Timeout" in (slow.error or "")


# -- WeCom ----------------------------------------------------------------------------------------
def wecom_settings(fake: FakeProviders) -> WeComSettings:
    return WeComSettings(
        corp_id=fake.WECOM_CORP,
        corp_secret=fake.WECOM_SECRET,
        agent_id=1000002,
        default_sender="zhangsan",
        base_url=f"{fake.url}/wecom",
        timeout=FAST,
    )


def test_wecom_staff_messages_share_one_token(fake: FakeProviders) -> None:
    channel = WeComStaffChannel(wecom_settings(fake))
    out = channel.send([msg(i, f"sales{i}", text=f"线索 {i} 需要跟进") for i in range(5)])
    card = Outgoing(
        "mc", "run-c:1", "c9", "sales9", "王芳 询价", subject="新线索", data={"url": "https://crm.example/c9"}
    )
    (card_out,) = channel.send([card])
    channel.close()
    assert statuses(out) == ["sent"] * 5 and card_out.status == "sent"
    assert out[0].provider_id and out[0].provider_id.startswith("wecom-msg-")
    assert fake.token_calls("wecom") == 1
    sends = [r for r in fake.requests("wecom") if r.path.endswith("/message/send")]
    assert len(sends) == 6
    assert sends[0].json()["touser"] == "sales0" and sends[0].json()["agentid"] == 1000002
    assert sends[0].json()["text"] == {"content": "线索 0 需要跟进"}
    assert sends[-1].json()["msgtype"] == "textcard" and sends[-1].json()["textcard"]["url"] == "https://crm.example/c9"
    assert sends[0].idempotency_key == "run0:step1"


def test_wecom_refreshes_an_expired_or_invalid_token_once(fake: FakeProviders) -> None:
    channel = WeComStaffChannel(wecom_settings(fake))
    assert channel.send([msg(1, "sales1")])[0].status == "sent"
    fake.expire_tokens("wecom")  # server says 42001
    assert channel.send([msg(2, "sales2")])[0].status == "sent"
    fake.forget_tokens("wecom")  # server says 40014
    assert channel.send([msg(3, "sales3")])[0].status == "sent"
    channel.close()
    assert fake.token_calls("wecom") == 3
    assert len([r for r in fake.requests("wecom") if r.path.endswith("/message/send")]) == 3


def test_wecom_token_cache_expires_before_the_provider_does(fake: FakeProviders) -> None:
    clock = [1000.0]
    channel = WeComStaffChannel(wecom_settings(fake), monotonic=lambda: clock[0])
    channel.send([msg(1, "sales1")])
    clock[0] += 7200 - 300 - 1  # still inside expires_in minus the margin
    channel.send([msg(2, "sales2")])
    assert fake.token_calls("wecom") == 1
    clock[0] += 2
    channel.send([msg(3, "sales3")])
    channel.close()
    assert fake.token_calls("wecom") == 2


def test_wecom_staff_classification(fake: FakeProviders) -> None:
    fake.invalid.add("ghost")
    fake.throttled.add("busy")
    channel = WeComStaffChannel(wecom_settings(fake))
    out = channel.send([msg(1, "ghost"), msg(2, "busy")])
    channel.send([msg(0, "warm")])  # token in hand, so the faults below hit the message call
    fake.set_faults(FaultPlan(error_5xx=1.0))
    (down,) = channel.send([msg(3, "sales3")])
    channel.close()
    assert statuses(out) == ["failed", "retry"] and "81013" in (out[0].error or "") and "45009" in (out[1].error or "")
    assert down.status == "retry"


def test_wecom_customer_messages_batch_with_fail_list(fake: FakeProviders) -> None:
    fake.invalid.add("wmEXT-bad")
    channel = WeComCustomerChannel(wecom_settings(fake), batch_limit=2)
    out = channel.send(
        [msg(1, "wmEXT-1"), msg(2, "wmEXT-bad"), msg(3, "wmEXT-3"), msg(4, "wmEXT-4", text="另一条内容")]
    )
    fake.throttled.add("wmEXT-9")
    (limited,) = channel.send([msg(9, "wmEXT-9")])
    channel.close()
    assert statuses(out) == ["sent", "failed", "sent", "sent"] and "fail_list" in (out[1].error or "")
    assert limited.status == "retry" and "45033" in (limited.error or "")
    calls = [r.json() for r in fake.requests("wecom") if r.path.endswith("add_msg_template")]
    assert [c["external_userid"] for c in calls[:3]] == [["wmEXT-1", "wmEXT-bad"], ["wmEXT-3"], ["wmEXT-4"]]
    assert calls[0]["sender"] == "zhangsan" and calls[0]["chat_type"] == "single"


# -- WeChat official account ----------------------------------------------------------------------
@pytest.fixture
def mp(fake: FakeProviders) -> Iterator[WechatMpChannel]:
    settings = WechatMpSettings(app_id=fake.MP_APP, app_secret=fake.MP_SECRET, base_url=f"{fake.url}/mp", timeout=FAST)
    channel = WechatMpChannel(settings)
    yield channel
    channel.close()


def template(i: int, openid: str, **extra: Any) -> Outgoing:
    data = {"template_id": "TPL-1", "fields": {"thing1": "会员日", "time2": "3月1日"}, "url": "https://m.example/x"}
    return msg(i, openid, **{**data, **extra})


def test_mp_template_message_and_dedup(fake: FakeProviders, mp: WechatMpChannel) -> None:
    out = mp.send([template(1, "oA1"), template(2, "oA2"), template(1, "oA1")])
    assert statuses(out) == ["sent"] * 3
    assert out[0].provider_id == out[2].provider_id != out[1].provider_id  # same client_msg_id → one message
    assert fake.token_calls("mp") == 1
    first = fake.requests("mp")[1].json()
    assert first == {
        "touser": "oA1",
        "template_id": "TPL-1",
        "url": "https://m.example/x",
        "client_msg_id": "run1:step1",
        "data": {"thing1": {"value": "会员日"}, "time2": {"value": "3月1日"}},
    }


def test_mp_subscribe_message(fake: FakeProviders, mp: WechatMpChannel) -> None:
    (out,) = mp.send([template(1, "oA1", kind="subscribe", page="pages/index")])
    assert out.status == "sent"
    call = fake.requests("mp")[-1]
    assert call.path == "/mp/cgi-bin/message/subscribe/bizsend" and call.json()["page"] == "pages/index"
    assert call.idempotency_key == "run1:step1"


def test_mp_classification_and_token_refresh(fake: FakeProviders, mp: WechatMpChannel) -> None:
    fake.unfollowed.add("oGone")
    fake.invalid.add("oBad")
    fake.throttled.add("oBusy")
    out = mp.send([template(1, "oGone"), template(2, "oBad"), template(3, "oBusy")])
    assert statuses(out) == ["failed", "failed", "retry"]
    assert ["43004" in (out[0].error or ""), "40003" in (out[1].error or ""), "45009" in (out[2].error or "")] == [
        True,
        True,
        True,
    ]
    fake.expire_tokens("mp")
    assert mp.send([template(4, "oA4")])[0].status == "sent"
    assert fake.token_calls("mp") == 2


def test_mp_wrong_secret_fails_without_sending(fake: FakeProviders) -> None:
    settings = WechatMpSettings(app_id=fake.MP_APP, app_secret="wrong", base_url=f"{fake.url}/mp", timeout=FAST)
    channel = WechatMpChannel(settings)
    (out,) = channel.send([template(1, "oA1")])
    channel.close()
    assert out.status == "failed" and "40125" in (out.error or "")
