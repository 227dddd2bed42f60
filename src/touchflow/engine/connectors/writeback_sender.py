"""The worker's write-back pass: ship due outbox rows to each connector's CRM, in batches, with idempotency keys.

A row is claimed with a lease, sent outside any transaction, then settled: 2xx sent; 429, 5xx, a timeout or a
dropped connection retried later with back-off (``Retry-After`` honoured); any other 4xx, or a contact the CRM
cannot be told about (no email for HubSpot, no CRM id for Salesforce), a dead letter at once. A row that fails
``max_attempts`` times becomes a dead letter too. Batches carry ``Idempotency-Key`` (HubSpot, webhook: the batch's
key from its rows' keys; Salesforce: the row's key), so a request retried after a lost answer is not applied twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import orjson

from touchflow.domain.connectors import Connector
from touchflow.domain.connectors.writeback import MAX_ATTEMPTS, OutboxRow, WritebackConfig, batch_key
from touchflow.engine.connectors.writeback_payloads import hubspot_properties, salesforce_fields, webhook_change
from touchflow.services.connectors import get_connector
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every
from touchflow.services.writeback import Recipient, claim_writebacks, settle_writebacks

__all__ = ["ShipReport", "WritebackPass", "ship_writebacks"]

log = logging.getLogger(__name__)
OpenSecret = Callable[[str, str], dict[str, Any]]
Failure = tuple[Sequence[int], str, bool, float | None]  # ids, error, permanent, retry_after


@dataclass
class ShipReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    failures: list[Failure] = field(default_factory=list)


def ship_writebacks(ctx: ServiceContext, open_secret: OpenSecret | None, client: httpx.Client, *,
                    limit: int = 500, max_attempts: int = MAX_ATTEMPTS) -> ShipReport:
    rows, configs, recipients = claim_writebacks(ctx, limit)
    report = ShipReport()
    sent: list[int] = []
    by_connector: dict[str, list[OutboxRow]] = {}
    for row in rows:
        by_connector.setdefault(row.connector, []).append(row)
    for name, group in by_connector.items():
        config = configs.get(name)
        if config is None:  # paused, removed or write-back switched off: keep the rows for later
            report.failures.append(([r.id for r in group], "connector has no active write-back", False, 600.0))
            continue
        connector = get_connector(ctx, name)
        secrets = open_secret(connector.secret, f"connector:{name}") if connector.secret and open_secret else {}
        for start in range(0, len(group), config.batch_size):
            batch = group[start:start + config.batch_size]
            _send(client, connector, config, secrets, batch, recipients, sent, report.failures)
    attempts = {r.id: r.attempts for r in rows}
    settle_writebacks(ctx, sent, report.failures, attempts, max_attempts)
    report.sent = len(sent)
    for ids, _error, permanent, _after in report.failures:
        for row_id in ids:
            if permanent or attempts.get(row_id, 0) + 1 >= max_attempts:
                report.dead += 1
            else:
                report.retrying += 1
    return report


def _send(client: httpx.Client, connector: Connector, config: WritebackConfig, secrets: dict[str, Any],
          batch: list[OutboxRow], recipients: dict[str, Recipient], sent: list[int], failures: list[Failure]) -> None:
    settings = connector.settings.get("writeback")
    options: dict[str, Any] = settings if isinstance(settings, dict) else {}
    overrides = options.get("properties") if isinstance(options.get("properties"), dict) else {}
    if config.preset == "hubspot":
        _hubspot(client, options, overrides or {}, secrets, batch, recipients, sent, failures)
    elif config.preset == "salesforce":
        _salesforce(client, options, overrides or {}, secrets, batch, recipients, sent, failures)
    else:
        _webhook(client, connector.name, options, secrets, batch, recipients, sent, failures)


def _outcome(ids: Sequence[int], call: Callable[[], httpx.Response], sent: list[int], failures: list[Failure]
             ) -> None:
    try:
        response = call()
    except httpx.HTTPError as exc:  # timeouts and dropped connections: try again later
        failures.append((ids, f"{type(exc).__name__}: {exc}", False, None))
        return
    if response.is_success:
        sent.extend(ids)
        return
    retry_after = _retry_after(response)
    transient = response.status_code == 429 or response.status_code >= 500 or response.status_code == 408
    failures.append((ids, f"HTTP {response.status_code}: {response.text[:300]}", not transient, retry_after))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _hubspot(client: httpx.Client, options: dict[str, Any], overrides: dict[str, Any], secrets: dict[str, Any],
             batch: list[OutboxRow], recipients: dict[str, Recipient], sent: list[int],
             failures: list[Failure]) -> None:
    base = str(options.get("base_url") or "https://api.hubapi.com").rstrip("/")
    inputs: dict[str, dict[str, str]] = {}
    ids: list[int] = []
    keys: list[str] = []
    for row in batch:
        email = recipients.get(row.contact_id, Recipient(row.contact_id, {})).identifiers.get("email")
        if email is None:
            failures.append(([row.id], "contact has no email: HubSpot cannot match it", True, None))
            continue
        inputs.setdefault(email, {}).update(hubspot_properties(row, overrides))  # later changes win
        ids.append(row.id)
        keys.append(row.idempotency_key)
    if not inputs:
        return
    body = {"inputs": [{"idProperty": "email", "id": email, "properties": props} for email, props in inputs.items()]}
    headers = {"Authorization": f"Bearer {secrets.get('token', '')}", "Idempotency-Key": batch_key(keys)}
    _outcome(ids, lambda: client.post(f"{base}/crm/v3/objects/contacts/batch/upsert", json=body, headers=headers),
             sent, failures)


def _salesforce(client: httpx.Client, options: dict[str, Any], overrides: dict[str, Any], secrets: dict[str, Any],
                batch: list[OutboxRow], recipients: dict[str, Recipient], sent: list[int],
                failures: list[Failure]) -> None:
    base = str(options.get("base_url") or "").rstrip("/")
    version = str(options.get("api_version") or "v59.0")
    sobject = str(options.get("object") or "Contact")
    for row in batch:
        record = recipients.get(row.contact_id, Recipient(row.contact_id, {})).identifiers.get("crm")
        if record is None or not base:
            failures.append(([row.id], "contact has no CRM id (or writeback.base_url is missing)", True, None))
            continue
        headers = {"Authorization": f"Bearer {secrets.get('token', '')}", "Idempotency-Key": row.idempotency_key}
        fields = salesforce_fields(row, overrides)
        url = f"{base}/services/data/{version}/sobjects/{sobject}/{record}"
        _outcome([row.id], partial(client.patch, url, json=fields, headers=headers), sent, failures)


def _webhook(client: httpx.Client, name: str, options: dict[str, Any], secrets: dict[str, Any],
             batch: list[OutboxRow], recipients: dict[str, Recipient], sent: list[int],
             failures: list[Failure]) -> None:
    url = str(options.get("url") or "")
    if not url:
        failures.append(([r.id for r in batch], "writeback.url is missing", True, None))
        return
    changes = [webhook_change(r, recipients.get(r.contact_id, Recipient(r.contact_id, {})).identifiers)
               for r in batch]
    body = orjson.dumps({"connector": name, "changes": changes})
    headers = {"Content-Type": "application/json", "Idempotency-Key": batch_key([r.idempotency_key for r in batch])}
    secret = secrets.get("writeback_secret")
    if secret:  # the receiver can check it came from us: HMAC-SHA256 of the body
        headers["X-Touchflow-Signature"] = "sha256=" + hmac.new(str(secret).encode(), body, hashlib.sha256).hexdigest()
    _outcome([r.id for r in batch], lambda: client.post(url, content=body, headers=headers), sent, failures)


class WritebackPass:
    """The worker's periodic pass (``Every``): ship what is due; never stops the worker."""

    def __init__(self, ctx: ServiceContext, open_secret: OpenSecret | None, every: timedelta = timedelta(seconds=15),
                 client: httpx.Client | None = None) -> None:
        self.ctx = ctx
        self.open_secret = open_secret
        self.gate = Every(ctx.clock, every)
        self.client = client or httpx.Client(timeout=10.0)

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        try:
            report = ship_writebacks(self.ctx, self.open_secret, self.client)
        except Exception:
            log.exception("write-back pass failed")
            return 0
        return report.sent + report.retrying + report.dead
