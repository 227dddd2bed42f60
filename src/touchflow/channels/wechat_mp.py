"""WeChat official account (公众号): template messages and subscription notices to followers.

``Outgoing.to`` is the follower's openid; ``Outgoing.data`` holds ``kind`` (``"template"``, the default, or
``"subscribe"``), ``template_id``, ``fields`` ({key: value}) and optionally ``url`` (a page to open) or
``page`` (a mini-program path, subscribe only).

* template → ``POST /cgi-bin/message/template/send``; ``client_msg_id`` carries the idempotency key, so WeChat
  drops a retry of the same openid + id (the documented de-duplication window).
* subscribe → ``POST /cgi-bin/message/subscribe/bizsend``; no idempotency key exists, it travels as a header.

Token from ``/cgi-bin/token?grant_type=client_credential`` cached until shortly before expiry; 40001/40014/
42001 refresh it once. 43004 (not following), 43101 (declined subscriptions), 40003 (bad openid), 40037
(bad template) fail; 45009 (API frequency limit) and -1 (busy) retry.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from touchflow.channels.access_token import TokenedApi
from touchflow.channels.base import Delivery, Outgoing, each_message
from touchflow.channels.http_common import DEFAULT_TIMEOUT, make_client
from touchflow.channels.wecom import wecom_outcome

__all__ = ["WechatMpChannel", "WechatMpSettings"]

TOKEN_ERRORS = frozenset({40001, 40014, 42001})


@dataclass(frozen=True)
class WechatMpSettings:
    app_id: str
    app_secret: str
    base_url: str = "https://api.weixin.qq.com"
    name: str = "wechat_mp"
    token_margin_s: float = 300.0
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


def _client_msg_id(key: str) -> str:
    """WeChat caps ``client_msg_id`` at 64 characters; longer keys are hashed to stay stable."""
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()


class WechatMpChannel:
    """One call per message: every follower's notice has its own fields."""

    max_batch = 100

    def __init__(
        self,
        settings: WechatMpSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = make_client(transport, settings.timeout)
        self.api = TokenedApi(
            self._client,
            settings.base_url,
            "/cgi-bin/token",
            {"grant_type": "client_credential", "appid": settings.app_id, "secret": settings.app_secret},
            TOKEN_ERRORS,
            margin_s=settings.token_margin_s,
            monotonic=monotonic,
        )

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        return each_message(self.name, messages, self._send_one)

    def close(self) -> None:
        self._client.close()

    def _send_one(self, m: Outgoing) -> Delivery:
        template_id = m.data.get("template_id")
        if not template_id:
            return Delivery(m.message_id, "failed", error="no template_id in the message data")
        fields: Mapping[str, Any] = m.data.get("fields") or {}
        body: dict[str, Any] = {
            "touser": m.to,
            "template_id": str(template_id),
            "data": {k: {"value": str(v)} for k, v in fields.items()},
        }
        kind = m.data.get("kind", "template")
        if kind == "subscribe":
            path = "/cgi-bin/message/subscribe/bizsend"
            if m.data.get("page"):
                body["page"] = str(m.data["page"])
        elif kind == "template":
            path = "/cgi-bin/message/template/send"
            body["client_msg_id"] = _client_msg_id(m.idempotency_key)
        else:
            return Delivery(m.message_id, "failed", error=f"unknown kind {kind!r} (template or subscribe)")
        if m.data.get("url"):
            body["url"] = str(m.data["url"])
        call = self.api.post(m, path, body, {"Idempotency-Key": m.idempotency_key})
        return wecom_outcome(m, call, str((call.body or {}).get("msgid") or "") or None)
