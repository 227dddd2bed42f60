"""Signed webhooks to customer-supplied URLs, with a guard against server-side request forgery.

Each POST carries ``X-Touchflow-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` and
``X-Touchflow-Idempotency-Key``; receivers check it with ``verify_signature``.

A webhook URL comes from a marketer, so it must not reach our own network. The rules (which URLs, which
addresses) are pure and live in ``domain.webhook_urls``; publishing a journey applies them to the URL as
written, and this channel applies them again: the URL's form before the request (an odd spelling such as
``0177.0.0.1`` fails that message with the reason), every resolved address when the socket is opened. The
connect-time check is what stops a name that resolves inward: the guarded transport resolves the host
itself, checks every address, and connects to a checked address, so a DNS answer that changes between
check and connect (rebinding) cannot redirect us. TLS still verifies and sends SNI for the URL's hostname
because httpcore passes it separately from the connect address. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpcore
import httpx

from touchflow.channels.base import Delivery, Outgoing, each_message
from touchflow.channels.http_common import delivery_for_exception, delivery_for_status, make_client
from touchflow.domain.webhook_urls import AllowList, address_problem, host_address, refusal_rule, url_form_problem

__all__ = [
    "AddressGuard",
    "AddressRefused",
    "GuardedTransport",
    "WebhookChannel",
    "WebhookSettings",
    "refusal_rule",
    "sign_body",
    "verify_signature",
]

Resolver = Callable[[str, int], list[str]]


class AddressRefused(httpcore.ConnectError):
    """The guard would not connect; httpx re-raises it as ``ConnectError`` with this as ``__cause__``."""

    def __init__(self, host: str, address: str, rule: str) -> None:
        super().__init__(f"refused to connect to {host} ({address}): {rule}")
        self.host, self.address, self.rule = host, address, rule


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses a webhook may reach: public ones, plus the allow-listed hosts and networks."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[str, ...] = ()
    resolver: Resolver = system_resolver

    def vet(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, every one checked; raises ``AddressRefused`` otherwise."""
        name = host.strip("[]").lower()
        literal = host_address(name)  # also 0177.0.0.1 or 2130706433: never handed to a resolver to interpret
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolver(name, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{name} has no address")
        allow = AllowList.of(self.allow_hosts, self.allow_networks)
        if allow.allows_host(name):
            return addresses
        for text in addresses:
            rule = address_problem(ipaddress.ip_address(text.split("%")[0]), allow)
            if rule is not None:
                raise AddressRefused(name, text, rule)
        return addresses


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self._guard.vet(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                # Name the address actually tried, so an operator sees where the socket went.
                last = type(exc)(f"{host} ({address}) port {port}: {exc or type(exc).__name__}")
        assert last is not None
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose sockets go only to addresses the guard approved at connect time."""

    def __init__(self, guard: AddressGuard, *, verify: bool = True, max_connections: int = 20) -> None:
        super().__init__(verify=verify, trust_env=False)
        # The stock pool (unused, no sockets yet) is replaced by one with the guarded network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 2,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(guard),
        )


def sign_body(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now: datetime, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now`` (replays fail)."""
    parts = [p.strip().partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    signatures = [v for k, _, v in parts if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs(now.timestamp() - timestamp) > tolerance_s:
        return False
    expected = sign_body(secret, body, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass(frozen=True)
class WebhookSettings:
    secret: str
    name: str = "webhook"
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(10.0, connect=3.0))
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[str, ...] = ()
    verify_tls: bool = True


def _refusal(exc: BaseException) -> AddressRefused | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AddressRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class WebhookChannel:
    """POSTs ``Outgoing.data["body"]`` as JSON to ``Outgoing.to``, one request per message."""

    max_batch = 50

    def __init__(
        self,
        settings: WebhookSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        resolver: Resolver = system_resolver,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._now = now
        self.guard = AddressGuard(settings.allow_hosts, settings.allow_networks, resolver)
        # A caller-supplied transport (tests) cannot be guarded at connect time; the URL is vetted up front.
        self._pre_check = transport is not None
        chosen = transport or GuardedTransport(self.guard, verify=settings.verify_tls)
        self._client = make_client(chosen, settings.timeout)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        return each_message(self.name, messages, self._send_one)

    def close(self) -> None:
        self._client.close()

    def _send_one(self, m: Outgoing) -> Delivery:
        problem = url_form_problem(m.to)
        if problem is not None:  # rows queued before publishing checked URLs, or a hand-made outbox row
            return Delivery(m.message_id, "failed", error=f"webhook URL {m.to[:200]!r}: {problem}")
        url = urlsplit(m.to)
        assert url.hostname is not None
        body = json.dumps(m.data.get("body", {}), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Touchflow-Signature": sign_body(self.settings.secret, body, int(self._now().timestamp())),
            "X-Touchflow-Idempotency-Key": m.idempotency_key,
            "User-Agent": "Touchflow-Webhook/1",
        }
        try:
            if self._pre_check:
                self.guard.vet(url.hostname, url.port or (443 if url.scheme == "https" else 80))
            response = self._client.post(m.to, content=body, headers=headers)
        except (httpx.HTTPError, httpcore.ConnectError) as exc:
            refused = _refusal(exc)
            if refused is not None:
                return Delivery(m.message_id, "failed", error=str(refused))
            if isinstance(exc, httpx.HTTPError):
                return delivery_for_exception(m, exc)
            return Delivery(m.message_id, "retry", error=str(exc))
        decided = delivery_for_status(m, response)
        return decided or Delivery(m.message_id, "sent", provider_id=response.headers.get("X-Request-Id"))
