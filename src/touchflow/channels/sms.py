"""SMS: a provider-neutral JSON adapter, and the two rules every Chinese marketing SMS lives by.

Marketing SMS must tell the recipient how to opt out (``回复TD退订``), and a reply of "TD" must stop
further marketing. ``with_unsubscribe_suffix`` and ``is_unsubscribe_reply`` are those rules; the provider
adapters (this one, ``sms_aliyun``, ``sms_tencent``) only carry text.

The neutral wire shape (for gateways that resell several carriers) is::

    POST {base_url}/messages   Authorization: Bearer …   Idempotency-Key: <hash of the batch's keys>
    {"messages": [{"to": "+86…", "text": "…", "idempotency_key": "…"}, …]}          (≤ 1,000)
    200 {"results": [{"idempotency_key": "…", "status": "accepted", "id": "…"}
                     | {"idempotency_key": "…", "status": "rejected", "code": "invalid_number", …}]}
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from touchflow.channels.base import Delivery, Outgoing, contain
from touchflow.channels.http_common import (
    DEFAULT_TIMEOUT,
    all_with,
    delivery_for_exception,
    delivery_for_status,
    json_object,
    make_client,
)

__all__ = ["HttpSmsChannel", "HttpSmsSettings", "is_unsubscribe_reply", "with_unsubscribe_suffix"]

DEFAULT_SUFFIX = "回复TD退订"
_CLOSING = "。！？!?.，,；;）)…~"
# An opt-out instruction already in the text, in the forms carriers accept: 回复TD退订, 回T退订, 退订回TD, 拒收请回复R.
_EXISTING_OPT_OUT = re.compile(r"回复?[A-Z0-9]{0,2}退订|退订回复?[A-Z]{1,2}|拒收请?回复?[A-Z]")
_TRAILING_SIGNATURE = re.compile(r"【[^【】]{1,20}】$")
_OPT_OUT_REPLIES = frozenset({"TD", "退订", "TD退订", "退订TD"})


def _compact(text: str) -> str:
    """Full-width folded (NFKC), upper-cased, without whitespace: how carriers compare short codes."""
    return "".join(unicodedata.normalize("NFKC", text).upper().split())


def with_unsubscribe_suffix(text: str, suffix: str = DEFAULT_SUFFIX) -> str:
    """``text`` with the opt-out instruction appended once.

    Text that already carries an instruction is returned as it is. A brand signature (【品牌】) stays where
    it is: at the start it is untouched, at the end the instruction goes before it.
    """
    compact = _compact(text)
    if _compact(suffix) in compact or _EXISTING_OPT_OUT.search(compact):
        return text
    body, signature = text.rstrip(), ""
    if not body.startswith("【") and (match := _TRAILING_SIGNATURE.search(body)):
        body, signature = body[: match.start()].rstrip(), match.group(0)
    separator = "" if not body or body[-1] in _CLOSING else "，"
    return f"{body}{separator}{suffix}{signature}"


def is_unsubscribe_reply(text: str) -> bool:
    """Whether an inbound SMS asks to stop marketing: TD, td, Ｔ Ｄ, 退订, TD退订 (punctuation ignored).

    The whole reply must be the request: "TDD", "STD" or a sentence that merely contains "td" do not count.
    """
    folded = unicodedata.normalize("NFKC", text).upper()
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PZSC")
    return kept in _OPT_OUT_REPLIES


@dataclass(frozen=True)
class HttpSmsSettings:
    base_url: str
    api_token: str
    name: str = "sms"
    max_batch: int = 1000
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    # When set, every message gets this opt-out instruction (once); leave None if rendering adds it.
    unsubscribe_suffix: str | None = None


_FAILED_CODES = frozenset({"invalid_number", "blocked", "unsubscribed", "invalid_text", "unroutable"})
_RETRY_CODES = frozenset({"throttled", "rate_limited", "carrier_unavailable", "temporarily_unavailable"})


class HttpSmsChannel:
    """Sends batches of up to ``max_batch`` recipients per call; one ``Delivery`` per recipient."""

    def __init__(self, settings: HttpSmsSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.max_batch = settings.max_batch
        self._url = settings.base_url.rstrip("/") + "/messages"
        headers = {"Authorization": f"Bearer {settings.api_token}"}
        self._client = make_client(transport, settings.timeout, headers)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        out: list[Delivery] = []
        for start in range(0, len(messages), self.max_batch):
            batch = messages[start : start + self.max_batch]
            out.extend(contain(self.name, batch, lambda: self._send_batch(batch)))  # noqa: B023 (called at once)
        return out

    def close(self) -> None:
        self._client.close()

    def _text(self, message: Outgoing) -> str:
        suffix = self.settings.unsubscribe_suffix
        return with_unsubscribe_suffix(message.text, suffix) if suffix else message.text

    def _send_batch(self, batch: Sequence[Outgoing]) -> list[Delivery]:
        if not batch:
            return []
        payload = {
            "messages": [{"to": m.to, "text": self._text(m), "idempotency_key": m.idempotency_key} for m in batch]
        }
        batch_key = hashlib.sha256("\n".join(m.idempotency_key for m in batch).encode()).hexdigest()
        try:
            response = self._client.post(self._url, json=payload, headers={"Idempotency-Key": batch_key})
        except httpx.HTTPError as exc:
            return all_with(batch, delivery_for_exception(batch[0], exc))
        whole = delivery_for_status(batch[0], response)
        if whole is not None:
            return all_with(batch, whole)
        body = json_object(response)
        results = body.get("results") if body else None
        if not isinstance(results, list):
            return all_with(batch, Delivery("", "retry", error="SMS gateway answered without results"))
        by_key = {r.get("idempotency_key"): r for r in results if isinstance(r, dict)}
        return [self._one(m, by_key.get(m.idempotency_key)) for m in batch]

    @staticmethod
    def _one(message: Outgoing, result: dict[str, Any] | None) -> Delivery:
        if result is None:
            # Unknown fate: retrying is safe because the gateway deduplicates by idempotency key.
            return Delivery(message.message_id, "retry", error="no result for this recipient")
        if result.get("status") == "accepted":
            return Delivery(message.message_id, "sent", provider_id=str(result.get("id") or "") or None)
        code = str(result.get("code") or "unknown")
        error = f"{code}: {result.get('message') or ''}".rstrip(": ")
        if code in _RETRY_CODES:
            retry_after = result.get("retry_after")
            after = float(retry_after) if isinstance(retry_after, int | float) else None
            return Delivery(message.message_id, "retry", error=error, retry_after=after)
        if code in _FAILED_CODES:
            return Delivery(message.message_id, "failed", error=error)
        return Delivery(message.message_id, "failed", error=f"unrecognised rejection {error}")
