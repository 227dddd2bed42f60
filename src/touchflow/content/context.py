"""What a template sees: the contact as plain data, dynamic-block flags (C3, C4) and recommendations (C5).

``profile`` is the shape of ``services.contacts.profile_document`` (attributes, custom, tags, identities,
lifecycle_stage …); ``recent_events`` are event documents (type, occurred_at, properties). Order totals and
"already bought" are computed over the events passed in, so callers pass a window long enough for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.governance.privacy import is_opted_out

__all__ = ["CONTEXT_NAMES", "ContextSettings", "contact_context", "recommend_products"]

# Top-level names a template may read; ``ContentRenderer.check`` flags anything else.
CONTEXT_NAMES = frozenset({"contact", "segments", "recommendations", "now", "unsubscribe_url", "preferences_url",
                           "message"})

_ATTRIBUTES = ("name", "gender", "age", "city", "province", "industry", "company", "job_title", "timezone", "locale")
_IDENTITY_FIELDS = {"email": "email", "phone": "phone", "openid": "openid", "wecom": "wecom_id", "crm": "crm_id"}
_VIEW_TYPES = ("product_viewed", "page_view")
_PRODUCT_FIELDS = ("name", "category", "price", "url", "image")


@dataclass(frozen=True)
class ContextSettings:
    high_value_amount: float = 5000.0  # total paid (CNY) from which a contact counts as high-value
    recommendations: int = 3
    recommendation_window: timedelta = timedelta(days=30)


def contact_context(profile: Mapping[str, Any], recent_events: Sequence[Mapping[str, Any]], now: datetime,
                    segments: Sequence[str] = (), settings: ContextSettings | None = None) -> dict[str, Any]:
    """The render context for one contact: ``contact``, ``segments``, ``recommendations``, ``now``."""
    settings = settings or ContextSettings()
    attributes: Mapping[str, Any] = profile.get("attributes") or {}
    custom: dict[str, Any] = dict(profile.get("custom") or {})
    orders = [e for e in recent_events if e.get("type") == "order_paid"]
    total = sum(_number((e.get("properties") or {}).get("amount")) for e in orders)
    stage = profile.get("lifecycle_stage") or attributes.get("lifecycle_stage")
    value_tier = custom.get("value_tier")
    is_customer = bool(orders) or stage == "customer"
    contact: dict[str, Any] = {
        "id": profile.get("id"),
        **{field: attributes.get(field) for field in _ATTRIBUTES},
        **_identities(profile.get("identities") or ()),
        "stage": stage,
        "tags": sorted(t["tag"] if isinstance(t, Mapping) else str(t) for t in profile.get("tags") or ()),
        "custom": custom,
        "value_tier": value_tier,
        "activity_tier": custom.get("activity_tier"),
        "buying_stage": custom.get("buying_stage"),
        "orders": len(orders),
        "total_spent": round(total, 2),
        "last_order_at": max((t for e in orders if (t := _when(e)) is not None), default=None),
        "is_customer": is_customer,
        "is_new": not is_customer,
        "high_value": str(value_tier or "").strip().upper() == "VIP" or (total >= settings.high_value_amount > 0),
    }
    if is_opted_out({"personalisation": custom.get("personalisation")}):
        # PIPL Art. 24: no profiling-based content. Every personal block falls back to its generic version
        # (``{% if contact.high_value %}`` takes its else, no recommendations, no segment-specific copy);
        # the name in a greeting is not profiling and stays.
        contact.update(high_value=False, is_customer=False, is_new=False, value_tier=None, activity_tier=None,
                       buying_stage=None, personalised=False)
        return {"contact": contact, "segments": [], "recommendations": [], "now": now.isoformat()}
    contact["personalised"] = True
    return {
        "contact": contact,
        "segments": list(segments),
        "recommendations": recommend_products(recent_events, now, settings.recommendations,
                                              settings.recommendation_window),
        "now": now.isoformat(),
    }


def recommend_products(events: Sequence[Mapping[str, Any]], now: datetime, limit: int = 3,
                       window: timedelta = timedelta(days=30)) -> list[dict[str, Any]]:
    """Products viewed most in ``window`` (ties: most recent first), once each, not yet bought; top ``limit``."""
    bought: set[str] = set()
    for event in events:
        if event.get("type") == "order_paid":
            bought |= _purchased(event.get("properties") or {})
    views: dict[str, dict[str, Any]] = {}
    since = now - window
    for event in events:
        props: Mapping[str, Any] = event.get("properties") or {}
        if event.get("type") not in _VIEW_TYPES:
            continue
        key = _product_key(props)
        at = _when(event)
        if key is None or key in bought or at is None or not since <= at <= now:
            continue
        seen = views.setdefault(key, {"product_id": props.get("product_id") or key, "sku": props.get("sku"),
                                      "views": 0, "_last": at})
        seen["views"] += 1
        if at >= seen["_last"] or "name" not in seen:  # the latest view has the freshest name and price
            seen["_last"] = at
            seen.update({f: props[f] for f in _PRODUCT_FIELDS if props.get(f) is not None})
    ranked = sorted(views.values(), key=lambda v: (-v["views"], -v["_last"].timestamp(), str(v["product_id"])))
    return [{k: v for k, v in item.items() if k != "_last"} for item in ranked[:max(limit, 0)]]


def _product_key(props: Mapping[str, Any]) -> str | None:
    for field in ("product_id", "sku"):
        value = props.get(field)
        if value not in (None, ""):
            return str(value)
    return None


def _purchased(props: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    for field in ("product_id", "sku"):
        if props.get(field) not in (None, ""):
            keys.add(str(props[field]))
    listed = props.get("product_ids")
    if isinstance(listed, str):
        keys |= {p.strip() for p in listed.split(",") if p.strip()}
    elif isinstance(listed, list):
        keys |= {str(p) for p in listed if p not in (None, "")}
    items = props.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping):
                keys |= {str(item[f]) for f in ("product_id", "sku") if item.get(f) not in (None, "")}
    return keys


def _identities(identities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = dict.fromkeys(_IDENTITY_FIELDS.values())
    for identity in identities:
        field = _IDENTITY_FIELDS.get(str(identity.get("kind")))
        if field and found[field] is None:
            found[field] = identity.get("value")
    return found


def _when(event: Mapping[str, Any]) -> datetime | None:
    value = event.get("occurred_at")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0
