"""WeCom (企业微信): application messages to staff, and customer-contact messages to external contacts.

* ``WeComStaffChannel`` — ``POST /cgi-bin/message/send`` to one employee per message (``Outgoing.to`` is the
  WeCom userid): hand-offs of hot leads, complaint alerts. ``text``, or ``textcard`` when the message has
  a subject and ``data["url"]``.
* ``WeComCustomerChannel`` — ``POST /cgi-bin/externalcontact/add_msg_template`` (``Outgoing.to`` is the
  ``external_userid``). WeCom turns this into a task the sending employee confirms in the app, so
  ``sent`` means "queued for the employee"; recipients in ``fail_list`` (not that employee's customer,
  or unreachable) fail. One call carries every recipient sharing the text and sender, up to 10,000.

Both share one access token (``/cgi-bin/gettoken``) cached until shortly before expiry; errcode
40014/42001 refreshes it once. 45009/45033 (frequency limits) and -1 (busy) retry; 40003/81013 (no such
user) fail. WeCom accepts no idempotency key; ``Idempotency-Key`` travels as a header for the logs, and
staff messages use WeCom's duplicate check so a retry within the window is not shown twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from touchflow.channels.access_token import TokenedApi, WeixinCall
from touchflow.channels.base import Delivery, Outgoing, each_message
from touchflow.channels.http_common import DEFAULT_TIMEOUT, all_with, make_client, send_in_batches

__all__ = ["WeComCustomerChannel", "WeComSettings", "WeComStaffChannel", "wecom_outcome"]

TOKEN_ERRORS = frozenset({40014, 42001})
RETRY_CODES = frozenset({-1, 45009, 45033, 45011})
EXTERNAL_BATCH = 10_000


@dataclass(frozen=True)
class WeComSettings:
    corp_id: str
    corp_secret: str
    agent_id: int = 0
    default_sender: str | None = None  # employee userid for add_msg_template when data has no "sender"
    base_url: str = "https://qyapi.weixin.qq.com"
    duplicate_check_s: int = 1800  # 0 turns WeCom's duplicate check off
    token_margin_s: float = 300.0
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


def wecom_outcome(message: Outgoing, call: WeixinCall, provider_id: str | None = None) -> Delivery:
    """The classification shared by WeCom and the official account's errcodes."""
    if call.decided is not None:
        return call.decided
    code = call.errcode
    error = f"errcode {code}: {(call.body or {}).get('errmsg', '')}"
    if code == 0:
        return Delivery(message.message_id, "sent", provider_id=provider_id)
    if code in RETRY_CODES:
        return Delivery(message.message_id, "retry", error=error)
    return Delivery(message.message_id, "failed", error=error)


def _api(settings: WeComSettings, client: httpx.Client, monotonic: Callable[[], float]) -> TokenedApi:
    return TokenedApi(
        client,
        settings.base_url,
        "/cgi-bin/gettoken",
        {"corpid": settings.corp_id, "corpsecret": settings.corp_secret},
        TOKEN_ERRORS,
        margin_s=settings.token_margin_s,
        monotonic=monotonic,
    )


class WeComStaffChannel:
    """One API call per staff message (hand-offs are few and each has its own text)."""

    max_batch = 100

    def __init__(
        self,
        settings: WeComSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        name: str = "wecom_staff",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = name
        self._client = make_client(transport, settings.timeout)
        self.api = _api(settings, self._client, monotonic)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        return each_message(self.name, messages, self._send_one)

    def close(self) -> None:
        self._client.close()

    def _body(self, m: Outgoing) -> dict[str, Any]:
        body: dict[str, Any] = {"touser": m.to, "agentid": self.settings.agent_id}
        url = m.data.get("url")
        if m.subject and url:
            body["msgtype"] = "textcard"
            body["textcard"] = {"title": m.subject, "description": m.text, "url": str(url), "btntxt": "详情"}
        else:
            body["msgtype"] = "text"
            body["text"] = {"content": m.text}
        if self.settings.duplicate_check_s > 0:
            body["enable_duplicate_check"] = 1
            body["duplicate_check_interval"] = self.settings.duplicate_check_s
        return body

    def _send_one(self, m: Outgoing) -> Delivery:
        call = self.api.post(m, "/cgi-bin/message/send", self._body(m), {"Idempotency-Key": m.idempotency_key})
        outcome = wecom_outcome(m, call, str((call.body or {}).get("msgid") or "") or None)
        invalid = str((call.body or {}).get("invaliduser") or "").split("|")
        if outcome.status == "sent" and m.to in invalid:
            return Delivery(m.message_id, "failed", error=f"invaliduser: {m.to}")
        return outcome


class WeComCustomerChannel:
    """Customer-contact messages grouped by (sender, text): one call per group of ≤ 10,000 recipients."""

    max_batch = EXTERNAL_BATCH

    def __init__(
        self,
        settings: WeComSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        name: str = "wecom",
        batch_limit: int = EXTERNAL_BATCH,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = name
        self._limit = batch_limit
        self._client = make_client(transport, settings.timeout)
        self.api = _api(settings, self._client, monotonic)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        def sender(m: Outgoing) -> str:
            return str(m.data.get("sender") or self.settings.default_sender or "")

        return send_in_batches(
            self.name, messages, lambda m: (sender(m), m.text),
            lambda group: [group[start:start + self._limit] for start in range(0, len(group), self._limit)],
            lambda batch: self._send_group(sender(batch[0]), batch[0].text, batch))

    def close(self) -> None:
        self._client.close()

    def _send_group(self, sender: str, text: str, group: list[Outgoing]) -> list[Delivery]:
        first = group[0]
        if not sender:
            return all_with(group, Delivery(first.message_id, "failed", error="no sender employee configured"))
        body = {
            "chat_type": "single",
            "external_userid": [m.to for m in group],
            "sender": sender,
            "text": {"content": text},
        }
        key = hashlib.sha256("\n".join(m.idempotency_key for m in group).encode()).hexdigest()
        call = self.api.post(first, "/cgi-bin/externalcontact/add_msg_template", body, {"Idempotency-Key": key})
        whole = wecom_outcome(first, call, str((call.body or {}).get("msgid") or "") or None)
        if whole.status != "sent":
            return all_with(group, whole)
        failed = {str(u) for u in (call.body or {}).get("fail_list") or []}
        return [
            Delivery(m.message_id, "failed", error=f"fail_list: {m.to} is not reachable by {sender}")
            if m.to in failed
            else Delivery(m.message_id, "sent", provider_id=whole.provider_id)
            for m in group
        ]
