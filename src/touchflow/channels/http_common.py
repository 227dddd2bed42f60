"""What every HTTP adapter shares: one pooled client, Retry-After parsing and the classification rule.

The rule is the same for every provider so the dispatcher can treat them alike: 5xx, timeouts and
connection errors are worth retrying; 429 is worth retrying after the provider's Retry-After; any other
4xx will never succeed. Provider-specific error codes are mapped by each adapter on top of this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from touchflow.channels.base import Delivery, Outgoing, contain

__all__ = [
    "DEFAULT_TIMEOUT",
    "all_with",
    "chunks_without_repeats",
    "delivery_for_exception",
    "delivery_for_status",
    "json_object",
    "make_client",
    "parse_retry_after",
    "send_in_batches",
]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)


def make_client(
    transport: httpx.BaseTransport | None, timeout: httpx.Timeout, headers: dict[str, str] | None = None
) -> httpx.Client:
    """A pooled client that ignores proxy settings in the environment and never follows redirects."""
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        limits=limits,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def delivery_for_status(message: Outgoing, response: httpx.Response) -> Delivery | None:
    """The outcome implied by the HTTP status alone, or ``None`` when the body must decide (2xx)."""
    code = response.status_code
    if 200 <= code < 300:
        return None
    reason = f"HTTP {code}: {response.text[:200]}"
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Delivery(message.message_id, "retry", error=reason, retry_after=retry_after)
    if code >= 500 or code in (408, 425):
        return Delivery(message.message_id, "retry", error=reason)
    if 300 <= code < 400:
        where = response.headers.get("Location", "?")
        return Delivery(message.message_id, "failed", error=f"HTTP {code} redirect to {where} not followed")
    return Delivery(message.message_id, "failed", error=reason)


def delivery_for_exception(message: Outgoing, exc: httpx.HTTPError) -> Delivery:
    """Timeouts and network errors may succeed later; anything else httpx raises is our own bug → failed."""
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        return Delivery(message.message_id, "retry", error=f"{type(exc).__name__}: {exc}")
    return Delivery(message.message_id, "failed", error=f"{type(exc).__name__}: {exc}")


def all_with(messages: Sequence[Outgoing], template: Delivery) -> list[Delivery]:
    """The same outcome for every message of a call that succeeded or failed as a whole."""
    return [
        Delivery(m.message_id, template.status, template.provider_id, template.error, template.retry_after)
        for m in messages
    ]


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when the provider answered something else."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chunks_without_repeats(messages: Sequence[Outgoing], size: int) -> list[list[Outgoing]]:
    """Chunks of ≤ ``size`` in which no recipient appears twice, for providers that answer per recipient."""
    out: list[list[Outgoing]] = []
    pending = list(messages)
    while pending:
        chunk: list[Outgoing] = []
        seen: set[str] = set()
        rest: list[Outgoing] = []
        for m in pending:
            if len(chunk) < size and m.to not in seen:
                chunk.append(m)
                seen.add(m.to)
            else:
                rest.append(m)
        out.append(chunk)
        pending = rest
    return out


def send_in_batches(channel: str, messages: Sequence[Outgoing], key: Callable[[Outgoing], Hashable],
                    batches: Callable[[list[Outgoing]], Iterable[list[Outgoing]]],
                    call: Callable[[list[Outgoing]], Iterable[Delivery]]) -> list[Delivery]:
    """Group the messages one provider call can carry together (same template, same sender and text …),
    split each group with ``batches``, make one ``call`` per batch, and answer in the messages' order.
    Each call is contained (``base.contain``): what one call raises is the outcome of its batch only."""
    groups: dict[Hashable, list[Outgoing]] = {}
    for m in messages:
        groups.setdefault(key(m), []).append(m)
    results: dict[str, Delivery] = {}
    for group in groups.values():
        for batch in batches(group):
            for d in contain(channel, batch, lambda: call(batch)):  # noqa: B023 (called at once)
                results[d.message_id] = d
    return [results.get(m.message_id) or Delivery(m.message_id, "retry", error="the provider gave no answer")
            for m in messages]
