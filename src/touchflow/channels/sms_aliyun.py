"""Alibaba Cloud SMS (dysmsapi, API version 2017-05-25) over the RPC-style API, signature version 1.0.

Signing (HMAC-SHA1): every parameter name and value is percent-encoded per RFC 3986 (space → %20,
``*`` → %2A, ``~`` kept), the pairs are sorted by name and joined with ``&``; the string to sign is
``POST&%2F&`` + the encoded canonical string; the key is ``AccessKeySecret + "&"``; ``Signature`` is the
base64 digest.

Idempotency: Aliyun accepts no idempotency key, and ``SignatureNonce`` is replay protection — a second
request with the same nonce is rejected (``SignatureNonceUsed``), so the nonce is fresh on every attempt.
``OutId`` carries our message id so delivery receipts correlate; a retry after a timeout may therefore send
twice, which is the provider's limit, not ours.

Batching: one template per call. A group of one goes out as ``SendSms`` (with ``OutId``); larger groups as
``SendBatchSms`` (≤ 100, per-number template params). Aliyun answers per call, so if a batch is rejected
for one bad number, its messages are re-sent one by one so only that number fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from touchflow.channels.base import Delivery, Outgoing
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

__all__ = ["AliyunSmsChannel", "AliyunSmsSettings", "canonical_query", "percent_encode", "rpc_signature"]


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's POP gateway expects it (``quote`` keeps only ``A-Za-z0-9-_.~``)."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature")


def rpc_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """The ``Signature`` parameter for ``params`` (any ``Signature`` already present is ignored)."""
    string_to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class AliyunSmsSettings:
    access_key_id: str
    access_key_secret: str
    sign_name: str
    base_url: str = "https://dysmsapi.aliyuncs.com/"
    region_id: str = "cn-hangzhou"
    name: str = "sms_aliyun"
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


# Codes that are about one recipient or one template: resending the same request cannot succeed.
_FAILED = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.INVALID_JSON_PARAM",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.DENY_IP_RANGE",
        "isv.DAY_LIMIT_CONTROL",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
    }
)
_RETRY = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "Throttling", "Throttling.User", "isp.SYSTEM_ERROR", "ServiceUnavailable"}
)
_PER_RECIPIENT = frozenset({"isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT"})
SEND_BATCH_LIMIT = 100


class AliyunSmsChannel:
    """Template SMS: ``Outgoing.data`` holds ``template_code`` and ``template_param`` (a mapping)."""

    max_batch = 1000

    def __init__(
        self,
        settings: AliyunSmsSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._now = now
        self._nonce = nonce
        self._client = make_client(transport, settings.timeout)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        return send_in_batches(self.name, messages, lambda m: str(m.data.get("template_code", "")),
                               lambda group: chunks_without_repeats(group, SEND_BATCH_LIMIT), self._send_group)

    def close(self) -> None:
        self._client.close()

    def _send_group(self, batch: list[Outgoing]) -> list[Delivery]:
        outcome = self._call(batch)
        if len(batch) > 1 and outcome.error and outcome.error.split(":")[0] in _PER_RECIPIENT:
            return [d for m in batch for d in self._send_group([m])]  # isolate the bad number
        return all_with(batch, outcome)

    def _params(self, batch: list[Outgoing]) -> dict[str, str]:
        first = batch[0]
        if len(batch) == 1:
            action: dict[str, str] = {
                "Action": "SendSms",
                "PhoneNumbers": _local_number(first.to),
                "SignName": self.settings.sign_name,
                "TemplateCode": str(first.data.get("template_code", "")),
                "TemplateParam": _json(first.data.get("template_param", {})),
                "OutId": first.message_id,
            }
        else:
            action = {
                "Action": "SendBatchSms",
                "PhoneNumberJson": _json([_local_number(m.to) for m in batch]),
                "SignNameJson": _json([self.settings.sign_name] * len(batch)),
                "TemplateCode": str(first.data.get("template_code", "")),
                "TemplateParamJson": _json([m.data.get("template_param", {}) for m in batch]),
            }
        common = {
            "AccessKeyId": self.settings.access_key_id,
            "Format": "JSON",
            "RegionId": self.settings.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params = {**common, **action}
        params["Signature"] = rpc_signature(params, self.settings.access_key_secret, "POST")
        return params

    def _call(self, batch: list[Outgoing]) -> Delivery:
        first = batch[0]
        try:
            response = self._client.post(
                self.settings.base_url,
                data=self._params(batch),
                headers={"x-acs-request-id": first.idempotency_key},
            )
        except httpx.HTTPError as exc:
            return delivery_for_exception(first, exc)
        body = json_object(response)
        code = str(body.get("Code", "")) if body else ""
        if code == "OK" and response.status_code == 200 and body is not None:
            return Delivery(first.message_id, "sent", provider_id=str(body.get("BizId") or "") or None)
        error = f"{code}: {body.get('Message', '')}" if body else None
        by_status = delivery_for_status(first, response)
        retry_after = by_status.retry_after if by_status else None
        if code in _RETRY:
            return Delivery(first.message_id, "retry", error=error, retry_after=retry_after)
        if code in _FAILED:
            return Delivery(first.message_id, "failed", error=error)
        if by_status is not None:
            return Delivery(first.message_id, by_status.status, error=error or by_status.error, retry_after=retry_after)
        return Delivery(first.message_id, "failed", error=f"unrecognised answer {error or response.text[:200]}")


def _local_number(to: str) -> str:
    """Aliyun wants mainland numbers without the country code and others as 00<cc><number>."""
    if to.startswith("+86"):
        return to[3:]
    if to.startswith("+"):
        return "00" + to[1:]
    return to


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
