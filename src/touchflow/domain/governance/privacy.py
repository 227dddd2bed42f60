"""PIPL rules as pure functions: blind indexes of erased identifiers, what of an event is personal, and the
Art. 24 opt-out of personalised marketing (which fields count as profiling, how targeting honours it)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from touchflow.domain.conditions.predicates import And, AttrCompare, Condition, Not, walk

__all__ = [
    "ERASED_NAME",
    "OPTED_OUT",
    "OPT_OUT_EVENTS",
    "OPT_OUT_FIELD",
    "PROFILING_FIELDS",
    "anonymised_properties",
    "blind_index",
    "blind_indexer",
    "erased_reason",
    "is_opted_out",
    "targeting",
    "uses_profiling",
]

OPT_OUT_FIELD = "custom.personalisation"  # an attribute, so a source or an import can state it too
OPTED_OUT = "opted_out"
# events that state the choice (the first opts out, the second opts back in)
OPT_OUT_EVENTS = ("personalisation_opted_out", "personalisation_opted_in")
ERASED_NAME = "erased"
# Attributes computed from a person's behaviour to predict or rank them (scores, predicted stages): targeting on
# them is "automated decision-making" in PIPL Art. 24 terms. ``custom.predicted_*`` is reserved for models.
PROFILING_FIELDS = frozenset({"custom.lead_score", "custom.score", "custom.buying_stage"})
_PREDICTED_PREFIX = "custom.predicted_"
# Event properties that describe the event, not the person: kept when an event is anonymised (counts by
# journey, channel, product and amount stay right); every other text property goes.
_KEPT_PROPERTIES = frozenset({
    "message_id", "channel", "journey_id", "node_id", "template", "stage", "reason", "guardrail", "status",
    "product_id", "sku", "category", "amount", "currency", "quantity", "order_id", "campaign", "utm_source",
    "utm_medium", "utm_campaign", "segment", "from_stage", "to_stage", "score", "model_version", "variant",
})


def blind_index(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of a normalised identifier (``kind:value``): equal identifiers give equal digests, and the
    digest tells nothing without the key."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def blind_indexer(key: bytes) -> Callable[[str, str], str]:
    """``blind_index`` for many identifiers: the keyed state is made once and copied (a batch hashes thousands)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def index(kind: str, value: str) -> str:
        mac = keyed.copy()
        mac.update(f"{kind}:{value}".encode())
        return mac.hexdigest()

    return index


def erased_reason(request_id: str) -> str:
    return f"erased under PIPL request {request_id}"


def anonymised_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """An event's properties without what could name the person: numbers and the descriptive keys stay."""
    kept: dict[str, Any] = {}
    for key, value in properties.items():
        descriptive = key in _KEPT_PROPERTIES and not isinstance(value, dict | list)
        if descriptive or isinstance(value, bool | int | float):
            kept[key] = value
    return kept


def is_opted_out(values: Mapping[str, Any]) -> bool:
    """Whether a contact's attributes (``ContactState.values`` or a profile's ``custom``) opt out."""
    value = values.get(OPT_OUT_FIELD, values.get("personalisation"))
    return str(value or "").strip().lower() in (OPTED_OUT, "opted-out", "opt_out", "opt-out")


def _profiling(field: str) -> bool:
    return field in PROFILING_FIELDS or field.startswith(_PREDICTED_PREFIX)


def uses_profiling(condition: Condition) -> bool:
    return any(isinstance(n, AttrCompare) and _profiling(n.field) for n in walk(condition))


_GUARD = Not(AttrCompare(OPT_OUT_FIELD, "eq", OPTED_OUT))


def targeting(condition: Condition) -> Condition:
    """The condition a segment or branch is evaluated with: one that reads a score or a predicted attribute
    also excludes opted-out contacts (the same AST goes to SQL and to Python, so both paths agree)."""
    if not uses_profiling(condition):
        return condition
    return And((condition, _GUARD))
