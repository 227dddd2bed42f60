"""Shared pieces of the sandbox scenario parser: the error type, offsets and small typed readers.

Both ``scenarios`` (personas, behaviour, checks) and ``scenario_world`` (guardrails, channels,
segments, timed actions) read YAML/JSON through these, so every error names its path alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from touchflow.domain.errors import PathError

__all__ = ["ScenarioError", "format_offset", "parse_offset", "read_consent", "read_integer", "read_keys", "read_list",
           "read_mapping", "read_number", "read_text"]

_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CONSENT = ("granted", "denied")
_OFFSET = re.compile(r"(-)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class ScenarioError(PathError):
    """A simulator scenario cannot be used; ``path`` names the offending element."""


# --- offsets ------------------------------------------------------------------------------------


def parse_offset(value: object, path: str, negative: bool = False) -> timedelta:
    """``3d2h``, ``90m``, ``0d`` (or 0); ``-60d`` where ``negative`` is allowed."""
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    match = _OFFSET.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()[1:]):
        raise ScenarioError(path, f"expected an offset such as 0d, 3d, 3d2h, 90m or 45s, got {value!r}")
    sign, days, hours, minutes, seconds = match.groups()
    result = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                       seconds=int(seconds or 0))
    if sign:
        if not negative:
            raise ScenarioError(path, "must not be negative here")
        result = -result
    return result


def format_offset(value: timedelta) -> str:
    """The inverse of ``parse_offset``: ``3d2h``, ``-60d``, ``0d``."""
    total = int(value.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0d")


# --- readers: each names the path of what it rejects ---------------------------------------------


def read_mapping(data: object, path: str, allowed: Sequence[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ScenarioError(path, f"must be a mapping, got {type(data).__name__}")
    prefix = "" if path == "scenario" else f"{path}."
    for key in data:
        if not isinstance(key, str):
            raise ScenarioError(f"{prefix}{str(key).lower()}",
                                "a key must be text; quote it (YAML reads unquoted on/off/yes/no as true/false)")
        if allowed is not None and key not in allowed:
            raise ScenarioError(f"{prefix}{key}", f"unknown key (expected one of: {', '.join(allowed)})")
    return data


def read_list(data: object, path: str) -> list[Any]:
    if not isinstance(data, list):
        raise ScenarioError(path, f"must be a list, got {type(data).__name__}")
    return data


def read_text(data: Mapping[str, Any], key: str, path: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ScenarioError(f"{path}.{key}", "required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{path}.{key}", f"expected a text, got {value!r}")
    return value.strip()


def read_number(data: Mapping[str, Any], key: str, path: str, default: float, low: float = 0.0,
            high: float = math.inf) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bound = f"between {low:g} and {high:g}" if high < math.inf else f"at least {low:g}"
        raise ScenarioError(f"{path}.{key}", f"expected a number {bound}, got {value!r}")
    return float(value)


def read_integer(data: Mapping[str, Any], key: str, path: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{path}.{key}", f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def read_consent(data: object, path: str) -> dict[str, str]:
    """``{email: granted, sms: denied}``: a persona's consent per channel, as an import states it."""
    found: dict[str, str] = {}
    for channel, status in read_mapping({} if data is None else data, path).items():
        if not _KEY.fullmatch(channel):
            raise ScenarioError(f"{path}.{channel}", "expected a channel name (lower-case letters, digits, _)")
        if status not in _CONSENT:
            raise ScenarioError(f"{path}.{channel}", f"expected granted or denied, got {status!r}")
        found[channel] = str(status)
    return found


def read_keys(data: object, path: str) -> tuple[str, ...]:
    """A list of keys (segment keys): lower-case letters, digits and _, each once."""
    keys = read_list([] if data is None else data, path)
    for index, key in enumerate(keys):
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ScenarioError(f"{path}[{index}]", f"expected a key (lower-case letters, digits, _), got {key!r}")
    return tuple(dict.fromkeys(keys))
