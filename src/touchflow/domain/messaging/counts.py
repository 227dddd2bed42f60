"""What became of a journey's messages, by channel and status — so a skipped message is not counted as sent.

An outbox row is ``sent`` (handed to the provider; ``delivered`` counts those a provider confirmed), ``skipped``
by a guardrail (the reason names it), ``deferred`` (queued again for later: quiet hours, a cap, a retry),
``failed`` (dead, or handed to a fallback channel; the reason says which), or ``pending`` (queued or being
sent right now).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["STATUS_ORDER", "message_breakdown", "message_summary"]

STATUS_ORDER = ("sent", "delivered", "skipped", "deferred", "failed", "pending")
_BY_REASON = ("skipped", "deferred", "failed")


def _bucket(status: str, reason: str | None) -> str:
    if status in ("sent", "skipped"):
        return status
    if status in ("failed", "dead"):
        return "failed"
    if status == "queued" and reason:
        return "deferred"
    return "pending"  # queued for the first time, or sending


def message_breakdown(rows: Iterable[tuple[str, str, str | None, int]],
                      delivered: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per channel: ``total``, ``sent``, ``delivered``, ``pending`` (numbers) and ``skipped``, ``deferred``,
    ``failed`` (reason → number). ``rows`` are (channel, outbox status, reason, messages)."""
    found: dict[str, dict[str, Any]] = {}
    for channel, status, reason, n in rows:
        entry = found.setdefault(channel, {"total": 0, "sent": 0, "delivered": 0, "skipped": {}, "deferred": {},
                                           "failed": {}, "pending": 0})
        entry["total"] += n
        bucket = _bucket(status, reason)
        if bucket in _BY_REASON:
            label = reason or ("dead" if status == "dead" else "unknown")
            entry[bucket][label] = entry[bucket].get(label, 0) + n
        else:
            entry[bucket] += n
    for channel, n in delivered.items():
        if channel in found:
            found[channel]["delivered"] = min(n, found[channel]["sent"])
    return dict(sorted(found.items()))


def message_summary(entry: Mapping[str, Any]) -> str:
    """One channel's line for a person: ``3,633 queued: sent 1,169 (delivered 900), skipped 2,464 (…)``."""
    parts = [f"sent {entry['sent']:,}" + (f" (delivered {entry['delivered']:,})" if entry["delivered"] else "")]
    for bucket in _BY_REASON:
        reasons: Mapping[str, int] = entry[bucket]
        if reasons:
            detail = ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0])))
            parts.append(f"{bucket} {sum(reasons.values()):,} ({detail})")
    if entry["pending"]:
        parts.append(f"pending {entry['pending']:,}")
    return f"{entry['total']:,} messages: " + ", ".join(parts)
