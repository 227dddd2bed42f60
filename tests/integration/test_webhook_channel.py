"""The webhook channel against the fake receiver: signatures, and the guard against reaching our own network.

The fake listens on 127.0.0.1, which the guard refuses by default; the happy path allow-lists it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes.fixtures import fake_providers
from tests.fakes.providers import FakeProviders
from touchflow.channels.base import Outgoing
from touchflow.channels.webhook import WebhookChannel, WebhookSettings

__all__ = ["fake_providers"]

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
FAST = httpx.Timeout(0.5, connect=0.5)


def hook(url: str, i: int = 1) -> Outgoing:
    body = {"event": "lead_hot", "contact": {"id": f"c{i}", "name": "王芳"}}
    return Outgoing(f"m{i}", f"run{i}:webhook", f"c{i}", url, "", data={"body": body})


@pytest.fixture
def fake(fake_providers: FakeProviders) -> FakeProviders:
    fake_providers.now = lambda: NOW
    return fake_providers


def channel(fake: FakeProviders, secret: str | None = None, **settings: object) -> WebhookChannel:
    return WebhookChannel(
        WebhookSettings(secret=secret or fake.HOOK_SECRET, timeout=FAST, **settings),  # type: ignore[arg-type]
        now=lambda: NOW,
    )


@pytest.fixture
def allowed(fake: FakeProviders) -> Iterator[WebhookChannel]:
    ch = channel(fake, allow_networks=("127.0.0.1/32",))
    yield ch
    ch.close()


def test_signed_post_reaches_an_allow_listed_receiver(fake: FakeProviders, allowed: WebhookChannel) -> None:
    (out,) = allowed.send([hook(f"{fake.url}/hook/crm")])
    assert out.status == "sent" and out.provider_id is not None and out.provider_id.startswith("hook-")
    (call,) = fake.requests("hook")
    assert call.json() == {"event": "lead_hot", "contact": {"id": "c1", "name": "王芳"}}
    assert call.headers["x-touchflow-idempotency-key"] == "run1:webhook"
    assert call.headers["x-touchflow-signature"].startswith(f"t={int(NOW.timestamp())},v1=")


def test_same_message_twice_has_the_same_idempotency_key(fake: FakeProviders, allowed: WebhookChannel) -> None:
    allowed.send([hook(f"{fake.url}/hook")])
    allowed.send([hook(f"{fake.url}/hook")])
    assert [r.idempotency_key for r in fake.requests("hook")] == ["run1:webhook", "run1:webhook"]


def test_wrong_secret_is_rejected_by_the_receiver(fake: FakeProviders) -> None:
    ch = channel(fake, secret="other", allow_networks=("127.0.0.1/32",))
    (out,) = ch.send([hook(f"{fake.url}/hook")])
    ch.close()
    assert out.status == "failed" and "401" in (out.error or "")
    assert fake.requests("hook") == [] and len(fake.rejections()) == 1


def test_redirects_are_not_followed(fake: FakeProviders, allowed: WebhookChannel) -> None:
    (out,) = allowed.send([hook(f"{fake.url}/hook/redirect")])
    assert out.status == "failed" and "169.254.169.254" in (out.error or "") and "not followed" in (out.error or "")


@pytest.mark.parametrize(
    ("host", "rule"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.100.100.200", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("[fd00::1]", "private"),
        ("[fe80::1]", "link-local"),
        ("localhost", "loopback"),
    ],
)
def test_guard_refuses_internal_addresses(fake: FakeProviders, host: str, rule: str) -> None:
    ch = channel(fake)
    (out,) = ch.send([hook(f"http://{host}:{fake.port}/hook")])
    ch.close()
    assert out.status == "failed"
    assert out.error is not None and rule in out.error and "refused to connect" in out.error
    assert fake.requests("hook") == [] and fake.rejections() == []


def test_allow_listed_host_name_is_reachable(fake: FakeProviders) -> None:
    ch = channel(fake, allow_hosts=frozenset({"localhost"}))
    (out,) = ch.send([hook(f"http://localhost:{fake.port}/hook")])
    ch.close()
    assert out.status == "sent"


def test_dns_rebinding_cannot_switch_the_checked_address(fake: FakeProviders) -> None:
    """The first answer is public (TEST-NET-3), the next would be loopback: the socket goes to the checked
    public address (and times out there), never to the fake on loopback."""
    answers = [["203.0.113.7"], ["127.0.0.1"]]
    calls: list[str] = []
    lock = threading.Lock()

    def resolver(host: str, port: int) -> list[str]:
        with lock:
            calls.append(host)
            return answers[min(len(calls) - 1, 1)]

    ch = WebhookChannel(
        WebhookSettings(secret=fake.HOOK_SECRET, timeout=httpx.Timeout(0.3)), resolver=resolver, now=lambda: NOW
    )
    (out,) = ch.send([hook(f"http://rebind.example:{fake.port}/hook")])
    (again,) = ch.send([hook(f"http://rebind.example:{fake.port}/hook", 2)])
    ch.close()
    assert out.status == "retry" and "Connect" in (out.error or "")
    assert "(203.0.113.7)" in (out.error or ""), out.error
    assert calls[0] == "rebind.example"
    # The second connection resolves afresh, gets loopback, and is refused at connect time.
    assert again.status == "failed" and "127.0.0.1" in (again.error or "") and "loopback" in (again.error or "")
    assert fake.requests("hook") == []
