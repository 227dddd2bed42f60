"""Tencent Cloud SMS ``SendSms`` (API 3.0, version 2021-01-11) signed with TC3-HMAC-SHA256.

Signing: the canonical request is ``POST\\n/\\n\\n`` + the canonical headers (``content-type`` and
``host``, lower-case, each ending in ``\\n``) + ``\\ncontent-type;host\\n`` + hex SHA-256 of the body. The
string to sign is ``TC3-HMAC-SHA256\\n<timestamp>\\n<date>/sms/tc3_request\\n`` + hex SHA-256 of the canonical
request; the key is derived ``HMAC("TC3"+SecretKey, date) → HMAC(·, "sms") → HMAC(·, "tc3_request")``.

One call carries ≤ 200 numbers that share a template and its parameters. ``SessionContext`` holds the
message id when a call has one message (receipts echo it); in larger calls receipts correlate by the
per-number ``SerialNo``, which is our ``provider_id``. Tencent takes no idempotency key; the request id
header carries ours for support tickets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from touchflow.channels.base import Delivery, DeliveryStatus, Outgoing
from touchflow.channels.http_common import (
    DEFAULT_TIMEOUT,
    all_with,
    chunks_without_repeats,
    delivery_for_exception,
    delivery_for_status,
    json_object,
    make_client,
    send_in_batches,
)

__all__ = ["TencentSmsChannel", "TencentSmsSettings", "tc3_authorization"]

SERVICE = "sms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
NUMBERS_PER_CALL = 200


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int, service: str = SERVICE
) -> str:
    """The ``Authorization`` header for a POST of ``payload`` to ``host`` at ``timestamp`` (Unix seconds)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE.lower()}\nhost:{host.lower()}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signing_key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


@dataclass(frozen=True)
class TencentSmsSettings:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    base_url: str = "https://sms.tencentcloudapi.com/"
    region: str = "ap-guangzhou"
    name: str = "sms_tencent"
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


_FAILED_PREFIXES = ("InvalidParameterValue.", "FailedOperation.", "UnsupportedOperation.", "AuthFailure.")
_RETRY_PREFIXES = ("LimitExceeded.", "InternalError.", "RequestLimitExceeded")
_RETRY_EXACT = frozenset({"InternalError", "LimitExceeded", "ResourceUnavailable", "RequestLimitExceeded"})


def _classify(code: str) -> DeliveryStatus:
    if code in _RETRY_EXACT or code.startswith(_RETRY_PREFIXES):
        return "retry"
    return "failed"


class TencentSmsChannel:
    """Template SMS: ``Outgoing.data`` holds ``template_id`` and ``template_params`` (a list of strings)."""

    max_batch = 1000

    def __init__(
        self,
        settings: TencentSmsSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._now = now
        self._host = urlsplit(settings.base_url).netloc
        self._client = make_client(transport, settings.timeout)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        def template(m: Outgoing) -> tuple[str, tuple[str, ...]]:  # one call carries one template and its values
            return str(m.data.get("template_id", "")), tuple(str(p) for p in m.data.get("template_params", ()))

        return send_in_batches(self.name, messages, template,
                               lambda group: chunks_without_repeats(group, NUMBERS_PER_CALL), self._call)

    def close(self) -> None:
        self._client.close()

    def _call(self, batch: list[Outgoing]) -> list[Delivery]:
        first = batch[0]
        body: dict[str, Any] = {
            "PhoneNumberSet": [m.to for m in batch],
            "SmsSdkAppId": self.settings.sdk_app_id,
            "SignName": self.settings.sign_name,
            "TemplateId": str(first.data.get("template_id", "")),
            "TemplateParamSet": [str(p) for p in first.data.get("template_params", ())],
        }
        if len(batch) == 1:
            body["SessionContext"] = first.message_id
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self._now().timestamp())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": self._host,
            "Authorization": tc3_authorization(
                self.settings.secret_id, self.settings.secret_key, self._host, payload, timestamp
            ),
            "X-TC-Action": "SendSms",
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.settings.region,
            "X-TC-RequestClient": "touchflow",
            "X-Request-Id": first.idempotency_key,
        }
        try:
            response = self._client.post(self.settings.base_url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return all_with(batch, delivery_for_exception(first, exc))
        by_status = delivery_for_status(first, response)
        if by_status is not None:
            return all_with(batch, by_status)
        reply = (json_object(response) or {}).get("Response")
        if not isinstance(reply, dict):
            return all_with(batch, Delivery(first.message_id, "retry", error="no Response in Tencent's answer"))
        error = reply.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", ""))
            whole = Delivery(first.message_id, _classify(code), error=f"{code}: {error.get('Message', '')}")
            return all_with(batch, whole)
        statuses = [s for s in reply.get("SendStatusSet") or [] if isinstance(s, dict)]
        by_number = {str(s.get("PhoneNumber")): s for s in statuses}
        return [self._one(m, by_number.get(m.to)) for m in batch]

    @staticmethod
    def _one(message: Outgoing, status: dict[str, Any] | None) -> Delivery:
        if status is None:
            return Delivery(message.message_id, "retry", error="no SendStatus for this number")
        code = str(status.get("Code", ""))
        if code == "Ok":
            return Delivery(message.message_id, "sent", provider_id=str(status.get("SerialNo") or "") or None)
        error = f"{code}: {status.get('Message', '')}"
        return Delivery(message.message_id, _classify(code), error=error)
