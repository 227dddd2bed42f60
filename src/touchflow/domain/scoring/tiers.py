"""Dynamic tiers (S2): activity 高/中/低, buying stage 认知/考虑/决策, value VIP/普通/潜在 from RFM.

Pure: ``compute_tiers(config, facts, now)``. The thresholds are configuration (a workspace setting);
the buying-stage signals are conditions in the one condition language. The results are written to the
custom attributes ``activity_tier``, ``buying_stage`` and ``value_tier``, which templates and segments read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.lookback import event_lookback
from touchflow.domain.conditions.parse import condition_to_data, format_duration, parse_condition, parse_duration
from touchflow.domain.conditions.predicates import (
    Condition,
    ContactFacts,
    EvalContext,
    evaluate,
    in_window,
    needs_events,
)
from touchflow.domain.errors import PathError

__all__ = [
    "ACTIVITY_LABELS",
    "BUYING_LABELS",
    "DEFAULT_TIERS",
    "TIER_ATTRIBUTES",
    "VALUE_LABELS",
    "Rfm",
    "TierConfig",
    "TierFacts",
    "Tiers",
    "compute_tiers",
    "parse_tiers",
    "rfm_of",
    "tiers_document",
]

ACTIVITY_LABELS = ("高", "中", "低")  # high, medium, low
BUYING_LABELS = ("决策", "考虑", "认知")  # decision, consideration, awareness
VALUE_LABELS = ("VIP", "普通", "潜在")  # VIP, regular, potential
TIER_ATTRIBUTES = ("activity_tier", "buying_stage", "value_tier")
ORDER_EVENT = "order_paid"


@dataclass(frozen=True)
class TierConfig:
    activity_window: timedelta
    activity_high: int  # at least this many interactions in the window: 高
    activity_medium: int  # at least this many: 中; fewer: 低
    decision: Condition
    consideration: Condition
    value_window: timedelta  # frequency and monetary are counted over this window
    vip_monetary: float  # VIP: ordered recently and spent at least this much …
    vip_frequency: int  # … or ordered at least this often
    vip_recency: timedelta  # … with the last order no longer ago than this

    def event_types(self) -> frozenset[str]:
        return frozenset({ORDER_EVENT, *(needs_events(self.decision) or ()),
                          *(needs_events(self.consideration) or ())})

    def lookback(self) -> dict[str, timedelta]:
        """How far back the buying-stage signals read each event type; the types not named need all history
        (orders: RFM's recency is the last order ever)."""
        windows = event_lookback([self.decision, self.consideration])
        return {t: w for t, w in windows.items() if w is not None and t != ORDER_EVENT}


@dataclass(frozen=True)
class TierFacts:
    contact: ContactFacts  # with order_paid and the buying-stage events
    interactions: int  # interactions in the activity window


@dataclass(frozen=True)
class Rfm:
    recency_days: float | None  # since the last order; None: never ordered
    frequency: int
    monetary: float


@dataclass(frozen=True)
class Tiers:
    activity_tier: str
    buying_stage: str
    value_tier: str
    rfm: Rfm

    def attributes(self) -> dict[str, str]:
        return {"activity_tier": self.activity_tier, "buying_stage": self.buying_stage,
                "value_tier": self.value_tier}


def rfm_of(facts: ContactFacts, window: timedelta, now: datetime) -> Rfm:
    """Recency (days since the last paid order), frequency and monetary value (paid orders in the window)."""
    last: datetime | None = None
    frequency, monetary = 0, 0.0
    for event in facts.events:
        if event.type != ORDER_EVENT or event.occurred_at > now:
            continue
        last = event.occurred_at if last is None else max(last, event.occurred_at)
        if in_window(event.occurred_at, now, window):
            frequency += 1
            amount = event.properties.get("amount")
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                monetary += float(amount)
    recency = None if last is None else (now - last).total_seconds() / 86400
    return Rfm(recency, frequency, round(monetary, 2))


def compute_tiers(config: TierConfig, facts: TierFacts, now: datetime) -> Tiers:
    if facts.interactions >= config.activity_high:
        activity = ACTIVITY_LABELS[0]
    elif facts.interactions >= config.activity_medium:
        activity = ACTIVITY_LABELS[1]
    else:
        activity = ACTIVITY_LABELS[2]
    ctx = EvalContext(now=now)
    if evaluate(config.decision, facts.contact, ctx):
        buying = BUYING_LABELS[0]
    elif evaluate(config.consideration, facts.contact, ctx):
        buying = BUYING_LABELS[1]
    else:
        buying = BUYING_LABELS[2]
    rfm = rfm_of(facts.contact, config.value_window, now)
    if rfm.recency_days is None:
        value = VALUE_LABELS[2]
    elif rfm.recency_days * 86400 <= config.vip_recency.total_seconds() and (
            rfm.monetary >= config.vip_monetary or rfm.frequency >= config.vip_frequency):
        value = VALUE_LABELS[0]
    else:
        value = VALUE_LABELS[1]
    return Tiers(activity, buying, value, rfm)


# --- configuration as data ----------------------------------------------------------------------------

DEFAULT_TIERS: dict[str, Any] = {
    "activity": {"window": "30d", "high": 10, "medium": 3},
    "buying_stage": {
        "decision": {"any": [{"event": "cart_abandoned", "within": "14d"}, {"event": "quote_sent", "within": "30d"},
                             {"event": "quote_opened", "within": "30d"}, {"event": "coupon_claimed", "within": "14d"}]},
        "consideration": {"any": [{"event": "content_download", "within": "30d"},
                                  {"event": "form_submit", "within": "30d"}, {"event": "consult", "within": "30d"},
                                  {"event": "offline_event_attended", "within": "60d"},
                                  {"event": "page_view", "count": ">= 3", "within": "30d"}]},
    },
    "value": {"window": "365d", "vip_monetary": 5000, "vip_frequency": 5, "vip_recency": "180d"},
}


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = data.get(name, DEFAULT_TIERS[name])
    if not isinstance(section, Mapping):
        raise PathError(name, "expected a mapping")
    return section


def _number(section: Mapping[str, Any], key: str, path: str, default: object) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PathError(f"{path}.{key}", f"expected a number ≥ 0, got {value!r}")
    return float(value)


def parse_tiers(data: object) -> TierConfig:
    """Thresholds from YAML/JSON data; a missing section takes the default."""
    if not isinstance(data, Mapping):
        raise PathError("tiers", "expected a mapping with activity, buying_stage and value")
    activity, buying, value = _section(data, "activity"), _section(data, "buying_stage"), _section(data, "value")
    defaults = DEFAULT_TIERS
    high = int(_number(activity, "high", "activity", defaults["activity"]["high"]))
    medium = int(_number(activity, "medium", "activity", defaults["activity"]["medium"]))
    if medium > high:
        raise PathError("activity.medium", f"must not exceed activity.high ({high})")
    return TierConfig(
        parse_duration(activity.get("window", defaults["activity"]["window"]), "activity.window"), high, medium,
        parse_condition(buying.get("decision", defaults["buying_stage"]["decision"]), "buying_stage.decision"),
        parse_condition(buying.get("consideration", defaults["buying_stage"]["consideration"]),
                        "buying_stage.consideration"),
        parse_duration(value.get("window", defaults["value"]["window"]), "value.window"),
        _number(value, "vip_monetary", "value", defaults["value"]["vip_monetary"]),
        int(_number(value, "vip_frequency", "value", defaults["value"]["vip_frequency"])),
        parse_duration(value.get("vip_recency", defaults["value"]["vip_recency"]), "value.vip_recency"))


def tiers_document(config: TierConfig) -> dict[str, Any]:
    return {
        "activity": {"window": format_duration(config.activity_window), "high": config.activity_high,
                     "medium": config.activity_medium},
        "buying_stage": {"decision": condition_to_data(config.decision),
                         "consideration": condition_to_data(config.consideration)},
        "value": {"window": format_duration(config.value_window), "vip_monetary": config.vip_monetary,
                  "vip_frequency": config.vip_frequency, "vip_recency": format_duration(config.vip_recency)},
    }
