"""Inbound webhooks (the ``webhook`` kind): a shop platform pushes orders or customers; Touchflow checks the
signature, maps each item with the connector's mapping (the importer's header rules and ``--map``, as for pulls)
and stores it through the ingest use cases before answering, so an acknowledged delivery is a committed one.

Presets turn a platform's payload into flat rows: ``shopify`` (an order: id, email, phone, total, currency,
created_at, customer), ``youzan`` (a push whose ``msg`` is the URL-encoded trade JSON), ``generic`` (an object, a
list of objects, or ``{"items": [...]}``). A delivery is one batch: the ingest dedupes events by id, so a platform
retrying a delivery stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import orjson

from touchflow.domain.connectors.webhook_signatures import SignatureRejected, verify_webhook
from touchflow.domain.errors import FieldError
from touchflow.engine.connectors.kinds import SourceRequest, register_kind
from touchflow.engine.connectors.outcome import RunContext, RunFailed, RunOutcome
from touchflow.engine.connectors.pipeline import ingest_rows
from touchflow.services.connectors import ConnectorNotFound, get_connector
from touchflow.services.context import ServiceContext

__all__ = ["MAX_WEBHOOK_BYTES", "WebhookRejected", "WebhookResult", "receive_webhook"]

MAX_WEBHOOK_BYTES = 1024 * 1024
MAX_ITEMS = 500
OpenSecret = Callable[[str, str], dict[str, Any]]


class WebhookRejected(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class WebhookResult:
    received: int
    accepted: int
    duplicates: int
    rejected: int
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"received": self.received, "accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected, "warnings": self.warnings}


def receive_webhook(ctx: ServiceContext, name: str, body: bytes, headers: Mapping[str, str],
                    open_secret: OpenSecret) -> WebhookResult:
    """Check, map and store one delivery; ``WebhookRejected`` with the HTTP status otherwise."""
    try:
        connector = get_connector(ctx, name)
    except ConnectorNotFound:
        raise WebhookRejected(401, "signature check failed") from None  # no hint whether the name exists
    if connector.kind != "webhook" or connector.status != "active":
        raise WebhookRejected(401, "signature check failed")
    settings = connector.settings
    secrets = open_secret(connector.secret, f"connector:{name}") if connector.secret else {}
    tolerance = settings.get("tolerance_s", 300)
    window = timedelta(seconds=tolerance if isinstance(tolerance, int) and 1 <= tolerance <= 3600 else 300)
    try:
        verify_webhook(str(secrets.get("webhook_secret", "")),
                       headers.get(str(settings.get("timestamp_header", "x-touchflow-timestamp")).lower()),
                       headers.get(str(settings.get("signature_header", "x-touchflow-signature")).lower()),
                       body, ctx.clock.now(), window)
    except SignatureRejected as exc:
        raise WebhookRejected(401, f"signature check failed: {exc}") from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejected(400, f"body is not valid JSON: {exc}") from None
    rows = _rows(str(settings.get("preset", "generic")), data)
    if not rows:
        raise WebhookRejected(422, "body: an object, a list of objects or {\"items\": [...]}, not empty")
    if len(rows) > MAX_ITEMS:
        raise WebhookRejected(413, f"body: at most {MAX_ITEMS} items per delivery")
    try:
        outcome = ingest_rows(ctx, connector, rows)  # the connector's mapping and ingest, as for a pulled batch
    except RunFailed as exc:
        raise WebhookRejected(422, str(exc)) from None
    duplicates = outcome.details.get("duplicates", 0)
    dup = duplicates if isinstance(duplicates, int) else 0
    return WebhookResult(len(rows), outcome.accepted - dup, dup, outcome.rejected, list(outcome.warnings))


def _rows(preset: str, data: Any) -> list[dict[str, Any]]:
    if preset == "shopify":
        return [_shopify(o) for o in (data if isinstance(data, list) else [data]) if isinstance(o, dict)]
    if preset == "youzan":
        return [_youzan(o) for o in (data if isinstance(data, list) else [data]) if isinstance(o, dict)]
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    items = data if isinstance(data, list) else [data]
    return [i for i in items if isinstance(i, dict)] if all(isinstance(i, dict) for i in items) else []


def _shopify(order: dict[str, Any]) -> dict[str, Any]:
    found = order.get("customer")
    customer: dict[str, Any] = found if isinstance(found, dict) else {}
    return {"id": f"shopify-order-{order.get('id')}", "type": "order_paid",
            "occurred_at": order.get("processed_at") or order.get("created_at"),
            "email": order.get("email") or customer.get("email"), "phone": order.get("phone") or customer.get("phone"),
            "properties": {"order_id": str(order.get("id")), "amount": order.get("total_price"),
                           "currency": order.get("currency"), "items": len(order.get("line_items") or [])}}


def _youzan(push: dict[str, Any]) -> dict[str, Any]:
    msg = push.get("msg")
    trade: dict[str, Any] = {}
    if isinstance(msg, str):
        try:
            decoded = orjson.loads(unquote(msg))
            trade = decoded if isinstance(decoded, dict) else {}
        except orjson.JSONDecodeError:
            trade = {}
    info = trade.get("full_order_info", trade) if isinstance(trade, dict) else {}
    order = info.get("order_info", {}) if isinstance(info.get("order_info"), dict) else {}
    buyer = info.get("buyer_info", {}) if isinstance(info.get("buyer_info"), dict) else {}
    pay = info.get("pay_info", {}) if isinstance(info.get("pay_info"), dict) else {}
    return {"id": f"youzan-{push.get('id') or order.get('tid')}-{push.get('status') or push.get('type')}",
            "type": "order_paid" if push.get("status") in ("TRADE_PAID", "WAIT_SELLER_SEND_GOODS") else "order_update",
            "occurred_at": order.get("pay_time") or order.get("created"),
            "phone": buyer.get("buyer_phone"), "wechat_unionid": buyer.get("union_id") or None,
            "properties": {"order_id": str(order.get("tid") or push.get("id")), "amount": pay.get("payment"),
                           "status": push.get("status")}}


def _no_pull(run: RunContext) -> RunOutcome:
    """A webhook connector is pushed to; running it reads nothing (the run says so, it does not fail)."""
    outcome = RunOutcome(cursor_after=run.connector.cursor_value)
    outcome.warnings.append("webhook connectors receive POST /v1/connectors/NAME/webhook; nothing to pull")
    return outcome


def _test(request: SourceRequest) -> None:
    if not request.secrets.get("webhook_secret"):
        raise FieldError("secret", "webhook_secret is needed to check deliveries")


register_kind("webhook", None, secret_names=("webhook_secret",), runner=_no_pull, test=_test)
