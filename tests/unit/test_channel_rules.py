"""The pure rules inside the channel adapters: SMS opt-out text, signing, the SSRF address rules."""

from __future__ import annotations

import ipaddress
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.provider_rules import aliyun_encode, aliyun_expected_signature
from touchflow.channels.access_token import AccessToken, TokenCache
from touchflow.channels.base import Outgoing
from touchflow.channels.capture import CaptureChannel
from touchflow.channels.http_common import parse_retry_after
from touchflow.channels.sms import is_unsubscribe_reply, with_unsubscribe_suffix
from touchflow.channels.sms_aliyun import canonical_query, percent_encode, rpc_signature
from touchflow.channels.webhook import refusal_rule, sign_body, verify_signature

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


# -- SMS opt-out ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("【触达】会员日全场五折", "【触达】会员日全场五折，回复TD退订"),
        ("【触达】会员日全场五折。", "【触达】会员日全场五折。回复TD退订"),
        ("【触达】会员日全场五折，回复TD退订", "【触达】会员日全场五折，回复TD退订"),
        ("【触达】会员日全场五折 回复 td 退订", "【触达】会员日全场五折 回复 td 退订"),
        ("【触达】会员日，退订回T", "【触达】会员日，退订回T"),
        ("会员日全场五折【触达】", "会员日全场五折，回复TD退订【触达】"),
        ("如需退订请登录官网", "如需退订请登录官网，回复TD退订"),
    ],
)
def test_unsubscribe_suffix_is_added_once(text: str, expected: str) -> None:
    assert with_unsubscribe_suffix(text) == expected
    assert with_unsubscribe_suffix(with_unsubscribe_suffix(text)) == expected


def test_custom_suffix() -> None:
    assert (
        with_unsubscribe_suffix("Sale today.", suffix=" Reply STOP to opt out") == "Sale today. Reply STOP to opt out"
    )


@pytest.mark.parametrize(
    "reply", ["TD", "td", "Td", " TD ", "Ｔ Ｄ", "ＴＤ", "退订", "TD退订", "td 退订!", "退订。", "“TD”", "退订TD"]
)
def test_unsubscribe_replies(reply: str) -> None:
    assert is_unsubscribe_reply(reply)


@pytest.mark.parametrize("reply", ["TDD", "std", "todo", "T", "D", "好的", "不要退订", "td123", "", "TD TD"])
def test_not_unsubscribe_replies(reply: str) -> None:
    assert not is_unsubscribe_reply(reply)


# -- Aliyun RPC signature -------------------------------------------------------------------------
def test_percent_encoding_follows_rfc3986_with_aliyun_rules() -> None:
    assert percent_encode("a b") == "a%20b"
    assert percent_encode("*") == "%2A"
    assert percent_encode("~-_.") == "~-_."
    assert percent_encode("/=&+:") == "%2F%3D%26%2B%3A"
    assert percent_encode("阿") == "%E9%98%BF"
    assert canonical_query({"b": "2", "a": "x y", "Signature": "ignored"}) == "a=x%20y&b=2"


def test_documented_sms_signature_vector() -> None:
    """The worked example in Aliyun's SMS signing documentation (GET, secret "testSecret")."""
    params = {
        "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
        "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
    }  # fmt: skip
    assert rpc_signature(params, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_documented_rpc_signature_vector() -> None:
    """The example in Aliyun's RPC signature documentation (DescribeRegions, secret "testsecret")."""
    params = {
        "Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
        "Version": "2014-05-26", "Timestamp": "2016-02-23T12:46:24Z",
    }  # fmt: skip
    assert rpc_signature(params, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


@pytest.mark.parametrize("value", ["a+b*c~d", "空 格/斜杠", "!'()*", "%7E", "é€😀"])
def test_adapter_and_fake_encode_alike(value: str) -> None:
    assert percent_encode(value) == aliyun_encode(value)
    params = {"K": value, "Action": "SendSms"}
    assert rpc_signature(params, "s3cret") == aliyun_expected_signature(params, "s3cret", "POST")


# -- webhook signature and address rules -----------------------------------------------------------
def test_webhook_signature_round_trip() -> None:
    body = b'{"event":"lead_hot"}'
    header = sign_body("k", body, int(NOW.timestamp()))
    assert verify_signature("k", header, body, NOW)
    assert verify_signature("k", header, body, NOW + timedelta(seconds=299))
    assert not verify_signature("k", header, body, NOW + timedelta(seconds=301))  # replayed later
    assert not verify_signature("k", header, body, NOW - timedelta(seconds=301))
    assert not verify_signature("other", header, body, NOW)
    assert not verify_signature("k", header, body + b" ", NOW)
    assert not verify_signature("k", "v1=abc", body, NOW)
    rotated = header + ",v1=" + "0" * 64  # a second signature (key rotation) does not hurt
    assert verify_signature("k", rotated, body, NOW)


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.0.0.1", "private"),
        ("172.31.255.255", "private"), ("192.168.0.1", "private"), ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"), ("::1", "loopback"), ("::", "unspecified"), ("fc00::1", "private"),
        ("fe80::1", "link-local"), ("ff02::1", "multicast"), ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"), ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"),
        ("::127.0.0.1", "loopback"),
    ],
)  # fmt: skip
def test_internal_addresses_are_refused(address: str, rule: str) -> None:
    reason = refusal_rule(ipaddress.ip_address(address))
    assert reason is not None and rule in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "203.0.113.7", "172.32.0.1", "100.128.0.1", "2001:4860::8888",
                                     "::ffff:8.8.8.8"])  # fmt: skip
def test_public_addresses_pass(address: str) -> None:
    assert refusal_rule(ipaddress.ip_address(address)) is None


# -- Retry-After, token cache, capture --------------------------------------------------------------
def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Sun, 01 Mar 2026 08:02:00 GMT", now=NOW) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 07:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_token_cache_fetches_once_for_concurrent_senders() -> None:
    fetches: list[int] = []

    def fetch() -> AccessToken:
        time.sleep(0.05)
        fetches.append(1)
        return AccessToken(f"t{len(fetches)}", 7200)

    cache = TokenCache(fetch)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(cache.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["t1"] * 8 and len(fetches) == 1
    assert cache.invalidate("t1") == "t2"
    assert cache.invalidate("t1") == "t2"  # a second thread holding the stale token does not refetch
    assert len(fetches) == 2


def test_capture_channel_records_in_order_across_threads() -> None:
    channel = CaptureChannel("demo")
    batches = [[Outgoing(f"m{t}-{i}", f"k{t}-{i}", "c", f"to{t}", "hi") for i in range(50)] for t in range(4)]
    threads = [threading.Thread(target=channel.send, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(channel.sent) == 200 and len(channel.sent_to("to2")) == 50
    out = channel.send([Outgoing("x", "kx", "c", "to", "hi")])
    assert out[0].status == "sent" and out[0].provider_id == "demo-201"
