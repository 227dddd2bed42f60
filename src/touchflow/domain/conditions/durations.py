"""Durations as marketers write them: ``90d``, ``24h``, ``30m``, ``45s`` or ``1d12h``.

Conditions (``within``, ``before``) and journey definitions (waits, timeouts, delays) share this one
format; ``touchflow.domain.conditions.parse`` re-exports both functions.
"""

from __future__ import annotations

import re
from datetime import timedelta

from touchflow.domain.conditions.predicates import ConditionError

__all__ = ["format_duration", "parse_duration"]

_DURATION = re.compile(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*")


def parse_duration(text: object, path: str) -> timedelta:
    """``90d``, ``24h``, ``30m``, ``45s`` or combinations in that order (``1d12h``); must be positive."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ConditionError(path, f"expected a duration such as 90d, 24h, 30m, 45s or 1d12h, got {text!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    result = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if result <= timedelta(0):
        raise ConditionError(path, "must be longer than zero")
    return result


def format_duration(value: timedelta) -> str:
    """The shortest text ``parse_duration`` reads back as ``value`` (whole seconds only)."""
    total = int(value.total_seconds())
    if total <= 0 or timedelta(seconds=total) != value:
        raise ValueError(f"not a positive whole number of seconds: {value}")
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
