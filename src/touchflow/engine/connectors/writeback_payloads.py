"""What each write-back preset sends for a change: HubSpot contact properties, Salesforce fields, webhook JSON.

Property and field names have defaults a CRM admin creates once (custom properties ``touchflow_*`` in HubSpot,
``Touchflow_*__c`` fields in Salesforce; the lifecycle stage maps onto HubSpot's own ``lifecyclestage``) and can
be renamed with ``writeback.properties`` ({field: name}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from touchflow.domain.connectors.writeback import OutboxRow
from touchflow.domain.events import JSONValue

__all__ = ["HUBSPOT_STAGES", "hubspot_properties", "salesforce_fields", "webhook_change"]

HUBSPOT_STAGES = {"new_visitor": "subscriber", "prospect": "lead", "intent": "marketingqualifiedlead",
                  "customer": "customer", "dormant": "other"}
_HUBSPOT = {"score": "touchflow_lead_score", "mql": "touchflow_mql", "sql": "touchflow_sql",
            "stage": "lifecyclestage", "tasks": "touchflow_last_task", "consent": "touchflow_consent"}
_SALESFORCE = {"score": "Touchflow_Lead_Score__c", "mql": "Touchflow_MQL__c", "sql": "Touchflow_SQL__c",
               "stage": "Touchflow_Stage__c", "tasks": "Touchflow_Last_Task__c", "consent": "Touchflow_Consent__c"}


def _value(row: OutboxRow) -> Mapping[str, Any]:
    return row.value if isinstance(row.value, dict) else {}


def _names(defaults: dict[str, str], overrides: Mapping[str, JSONValue]) -> dict[str, str]:
    return {**defaults, **{k: str(v) for k, v in overrides.items() if k in defaults and isinstance(v, str)}}


def hubspot_properties(row: OutboxRow, overrides: Mapping[str, JSONValue]) -> dict[str, str]:
    names, v = _names(_HUBSPOT, overrides), _value(row)
    if row.field == "score":
        return {names["score"]: str(v.get("score"))}
    if row.field in ("mql", "sql"):
        return {names[row.field]: "true"}
    if row.field == "stage":
        stage = str(v.get("stage"))
        return {names["stage"]: HUBSPOT_STAGES.get(stage, stage) if names["stage"] == "lifecyclestage" else stage}
    if row.field == "tasks":
        return {names["tasks"]: f"{v.get('queue')}: {v.get('outcome')} ({v.get('by')})"}
    return {f"{names['consent']}_{v.get('channel', 'all')}": str(v.get("status", "denied"))}


def salesforce_fields(row: OutboxRow, overrides: Mapping[str, JSONValue]) -> dict[str, Any]:
    names, v = _names(_SALESFORCE, overrides), _value(row)
    if row.field == "score":
        return {names["score"]: v.get("score")}
    if row.field in ("mql", "sql"):
        return {names[row.field]: True}
    if row.field == "stage":
        return {names["stage"]: v.get("stage")}
    if row.field == "tasks":
        return {names["tasks"]: f"{v.get('queue')}: {v.get('outcome')} ({v.get('by')})"}
    channel, status = v.get("channel", "all"), v.get("status", "denied")
    if channel in ("email", "all"):
        return {"HasOptedOutOfEmail": status == "denied"}  # Salesforce's own opt-out field
    return {f"{names['consent']}_{str(channel).capitalize()}": status}


def webhook_change(row: OutboxRow, identifiers: Mapping[str, str]) -> dict[str, Any]:
    return {"idempotency_key": row.idempotency_key, "contact_id": row.contact_id, "identifiers": dict(identifiers),
            "field": row.field, "value": row.value, "captured_at": row.created_at.isoformat()}
