"""``/v1/callbacks``: what providers push back — SMS replies (上行), delivery receipts, returned mail.

Two ways in (ADR 0012):

* ``/v1/callbacks/{channel}/…?token=tfcb_…`` — for providers that can only be given a URL (Aliyun,
  Tencent): the token of ``touchflow channel callback-url CHANNEL`` authorises that channel's callbacks and
  nothing else (another channel's token, an API key, a revoked token: 401). ``X-Callback-Token`` works too.
* ``/v1/callbacks/…`` — an API key in a header, like every ``/v1`` route, with ``events.write``. An API key
  in the URL (``?key=``) is refused: URLs are written to access logs, and a key there could do a lot.

Public site keys (``site:…``) are refused. Bodies, besides the neutral shape:

* inbound SMS — neutral ``{"from", "text", "received_at"?, "id"?}`` (or a list); Aliyun's SmsUp push
  ``[{"phone_number", "content", "send_time", "sequence_id", …}]``; Tencent's reply callback
  ``{"mobile", "nationcode", "text", "time", …}``. Each provider gets the acknowledgement it expects.
* receipts — neutral ``[{"provider_id", "status": delivered|failed|bounced, "error"?, "hard"?}]``;
  Aliyun's ``[{"biz_id", "success", "err_code", …}]`` and Tencent's ``[{"sid", "report_status", …}]``.
* email reports — the raw returned message (``message/rfc822``): a DSN (RFC 3464) or an ARF complaint
  (RFC 5965), parsed by ``channels.bounces.parse_report``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.permissions import permit, public
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.channels.bounces import parse_report
from touchflow.channels.sms import is_unsubscribe_reply
from touchflow.domain.errors import FieldError
from touchflow.domain.normalize import normalise_datetime
from touchflow.services.callback_tokens import channel_of_callback_token
from touchflow.services.tracking import BadTrackingPayload, Receipt, delivery_receipts, email_report, inbound_sms

__all__ = ["router"]

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])
_MAIL_MAX = 10 * 1024 * 1024
_SMS_MAX = 1024 * 1024
Endpoint = Callable[[Request], Awaitable[Response]]


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def no_credential_in_url(request: Request) -> None:
    """Before the key is checked: a credential in the query string is refused (it would be logged with the URL)."""
    if any(name.lower() in ("key", "api_key", "apikey", "token") for name in request.query_params):
        raise HTTPException(401, "a credential in the URL is refused on /v1/callbacks/… (URLs are logged): send the "
                                 "API key in a header, or give the provider the URL of `touchflow channel "
                                 "callback-url CHANNEL` (/v1/callbacks/CHANNEL/…?token=…)", headers=_CHALLENGE)


async def channel_token(request: Request, channel: str,
                        token: Annotated[str | None, Query(description="the channel's callback token (tfcb_…)")]
                        = None) -> str:
    """The channel whose callback token came with the request; 401 for any other credential."""
    given = token or request.headers.get("x-callback-token") or ""
    if not given.strip():
        raise HTTPException(401, f"missing callback token: use the URL of `touchflow channel callback-url {channel}`")
    found = await run_in_threadpool(channel_of_callback_token, api_state(request).services, given.strip())
    if found != channel:  # unknown, revoked, an API key, or another channel's token: all the same answer
        raise HTTPException(401, f"invalid or revoked callback token for channel {channel!r}")
    return channel


_BY_KEY = permit("events.write")  # a provider's (service account's) key: it feeds data in, like POST /v1/events
_BY_KEY["dependencies"] = [Depends(no_credential_in_url), *_BY_KEY["dependencies"]]
_BY_TOKEN = {"dependencies": [Depends(channel_token)],
             **public("the channel's callback token (tfcb_…): that channel's callbacks and nothing else")}


def _post(path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """Mount ``path`` twice: under an API key in a header, and under a channel's callback token."""
    def mount(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(path, endpoint, methods=["POST"], response_model=None, **options, **_BY_KEY)
        router.add_api_route("/{channel}" + path, endpoint, methods=["POST"], response_model=None,
                             **{**options, "summary": f"{options['summary']} (callback token)"}, **_BY_TOKEN)
        return endpoint
    return mount


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None


def _items(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ApiError(422, "body must be an object or a non-empty list of objects")
    return items


def _when(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        return normalise_datetime(str(value))
    except (FieldError, ValueError, OverflowError) as exc:
        raise ApiError(422, f"{field}: not a time ({exc})", [{"field": field, "reason": "not a time"}]) from None


def _inbound(item: dict[str, Any]) -> tuple[str, str, datetime | None, str | None, str]:
    """(phone, text, received at, provider id, shape) of one reply in any of the accepted shapes."""
    if "phone_number" in item:  # Aliyun SmsUp
        sequence = item.get("sequence_id")
        return (str(item["phone_number"]), str(item.get("content") or ""), _when(item.get("send_time"), "send_time"),
                f"aliyun:{sequence}" if sequence is not None else None, "aliyun")
    if "mobile" in item:  # Tencent reply callback
        code = str(item.get("nationcode") or "86").lstrip("+")
        return (f"+{code}{item['mobile']}", str(item.get("text") or ""), _when(item.get("time"), "time"), None,
                "tencent")
    if "from" not in item or "text" not in item:
        raise ApiError(422, "an inbound SMS needs from and text", [{"field": "from", "reason": "required"}])
    return (str(item["from"]), str(item["text"]), _when(item.get("received_at"), "received_at"),
            str(item["id"]) if item.get("id") else None, "neutral")


def _ack(shape: str, data: object) -> Response:
    if shape == "aliyun":
        return json_response({"code": 0, "msg": "成功"})
    if shape == "tencent":
        return json_response({"result": 0, "errmsg": "OK"})
    return json_response(data)


@_post("/sms/inbound", summary="SMS replies (上行); a TD reply unsubscribes the sender from SMS")
async def sms_inbound(request: Request) -> Response:
    items = _items(_json(await read_body(request, _SMS_MAX)))
    parsed = [_inbound(item) for item in items]
    state = api_state(request)
    results: list[dict[str, object]] = []
    for phone, text, at, provider_id, _ in parsed:
        try:
            contact_id, unsubscribed = await state.write(inbound_sms, state.services, phone, text, at,
                                                         opt_out=is_unsubscribe_reply(text), provider_id=provider_id)
        except BadTrackingPayload as exc:
            results.append({"from": phone, "error": str(exc)})
            continue
        results.append({"from": phone, "contact_id": contact_id, "unsubscribed": unsubscribed})
    return _ack(parsed[0][4], {"items": results})


def _receipt(item: dict[str, Any]) -> tuple[Receipt, str]:
    if "biz_id" in item:  # Aliyun: BizId, with "^n" naming the number inside a batch
        ok = item.get("success") in (True, "true", "True")
        return Receipt(str(item["biz_id"]).split("^")[0], "delivered" if ok else "failed",
                       None if ok else str(item.get("err_code") or item.get("err_msg") or "failed")), "aliyun"
    if "sid" in item and "report_status" in item:  # Tencent: SerialNo
        ok = str(item["report_status"]).upper() == "SUCCESS"
        return Receipt(str(item["sid"]), "delivered" if ok else "failed",
                       None if ok else str(item.get("errmsg") or item.get("description") or "failed")), "tencent"
    status = item.get("status")
    if not isinstance(item.get("provider_id"), str) or status not in ("delivered", "failed", "bounced"):
        raise ApiError(422, "a receipt needs provider_id and status delivered, failed or bounced",
                       [{"field": "status", "reason": "must be delivered, failed or bounced"}])
    return Receipt(item["provider_id"], status, str(item["error"]) if item.get("error") else None,
                   item.get("hard") is True), "neutral"


@_post("/sms/receipt", summary="Delivery receipts (provider-neutral, Aliyun or Tencent shape)")
async def sms_receipt(request: Request) -> Response:
    parsed = [_receipt(item) for item in _items(_json(await read_body(request, _SMS_MAX)))]
    state = api_state(request)
    found = await state.write(delivery_receipts, state.services, [r for r, _ in parsed])
    return _ack(parsed[0][1], {"items": [{"provider_id": r.provider_id, "message_id": m, "matched": m is not None}
                                         for (r, _), m in zip(parsed, found, strict=True)]})


@_post("/email/report", summary="A returned bounce (DSN) or complaint (ARF), as raw mail", status_code=202)
async def mail_report(request: Request) -> Response:
    """202 with what was recognised (and whether it matched a message or contact); 422 when the body is not
    a bounce or complaint report (an auto-reply, a delivery success notice)."""
    raw = await read_body(request, _MAIL_MAX)
    report = parse_report(raw)
    if report is None:
        raise ApiError(422, "not a bounce or complaint report (RFC 3464 delivery-status or RFC 5965 "
                            "feedback-report with a failure or complaint)")
    state = api_state(request)
    outcome = await state.write(email_report, state.services, report)
    return json_response({
        "kind": report.kind, "hard": report.hard, "recipient": report.recipient or None, "status": report.status,
        "message_id": outcome.message_id if outcome else report.message_id,
        "matched": outcome is not None, "found_by": outcome.found_by if outcome else None,
        "contact_id": outcome.contact_id if outcome else None, "event": outcome.event_type if outcome else None,
        "duplicate": (not outcome.stored) if outcome else None}, 202)
