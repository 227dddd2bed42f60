"""``POST /v1/connectors/{name}/webhook``: deliveries pushed by shop platforms (issue 14, D4 real-time).

Public (no API key: a shop platform cannot hold one), protected by the connector's own signature check instead:
HMAC-SHA256 of ``<timestamp>.<raw body>`` with its sealed ``webhook_secret``, a timestamp tolerance against
replay, constant-time comparison. 401 for any failed check (an unknown name answers the same), 413 over 1 MiB,
202 with counts once every accepted item is committed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from touchflow.api.permissions import public
from touchflow.api.routes import ApiError, api_state, json_response, read_body
from touchflow.engine.connectors.webhook_inbound import MAX_WEBHOOK_BYTES, WebhookRejected, receive_webhook

__all__ = ["router"]

router = APIRouter(tags=["connectors"])


@router.post("/v1/connectors/{name}/webhook", status_code=202, response_model=None,
             summary="Receive a signed delivery for a webhook connector",
             **public("the connector's HMAC-SHA256 signature (X-Touchflow-Signature over timestamp.body, "
                      "X-Touchflow-Timestamp within the tolerance) with its sealed webhook secret"))
async def receive(name: str, request: Request) -> Response:
    body = await read_body(request, MAX_WEBHOOK_BYTES)
    state = api_state(request)
    box = state.services.secret_box
    if box is None:
        raise ApiError(503, "the key ring is not available: webhook secrets cannot be opened")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        result = await state.write(receive_webhook, state.services, name, body, headers,
                                   lambda sealed, context: box().open(sealed, context))
    except WebhookRejected as exc:
        raise ApiError(exc.status, exc.detail) from None
    return json_response(result.to_json(), 202)


