"""Alert rules as data (A4): what to watch, against which baseline, how sure to be, and what to do.

A rule is a small YAML/JSON document; ``parse_rule`` checks every field and names the one that is wrong
(``RuleError.field``). The spec's rule ships enabled (``DEFAULT_RULES``): open rate down more than 15 %
three days running pauses the journey; two circuit breakers watch complaints and hard bounces within the hour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Literal

from touchflow.domain.conditions.durations import format_duration, parse_duration
from touchflow.domain.errors import PathError

__all__ = ["ACTIONS", "BREAKER_METRICS", "CAPACITY_METRIC", "DAILY_METRICS",
           "DEFAULT_RULES", "AlertRule", "Baseline", "RuleError",
           "default_rules", "parse_rule"]

# metric -> (what counts as a success, the denominator, which way is bad)
DAILY_METRICS: dict[str, tuple[str, str, Literal["drop", "rise"]]] = {
    "open_rate": ("opened_unique", "delivered", "drop"),
    "click_rate": ("clicked_unique", "delivered", "drop"),
    "complaint_rate": ("complained", "delivered", "rise"),
    "hard_bounce_rate": ("hard_bounced", "sent", "rise"),
    "unsubscribe_rate": ("unsubscribed", "delivered", "rise"),
}
BREAKER_METRICS = ("complaint_rate", "hard_bounce_rate")
CAPACITY_METRIC = "worker_utilisation"  # kind: capacity — the workers' mean busy share (domain/capacity.py)
ACTIONS = ("pause", "task", "notify")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
_FIELDS = {"name", "metric", "kind", "baseline", "threshold", "consecutive", "min_volume", "warning", "alpha",
           "cooldown", "rearm", "shadow", "actions", "notify", "enabled", "journeys", "window", "limit", "min_events",
           "assignee", "streak_test", "behind"}


class RuleError(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Baseline:
    """``same_weekday``: the same weekday of the previous ``span`` weeks; ``trailing``: the previous ``span`` days."""

    kind: Literal["same_weekday", "trailing"] = "trailing"
    span: int = 14


@dataclass(frozen=True)
class AlertRule:
    """``kind: daily`` tests each closed day against a baseline; ``kind: breaker`` tests the last ``window`` of
    messages against a fixed ceiling ``limit`` (a rate no sender should exceed: no baseline needed)."""

    name: str
    metric: str
    kind: Literal["daily", "breaker", "capacity"] = "daily"
    baseline: Baseline = Baseline()
    threshold: float = 0.15  # relative change beyond which a day breaches (drop for open/click, rise otherwise)
    consecutive: int = 3
    min_volume: int = 200  # a day (or window) with fewer trials counts neither for nor against
    warning: float | None = 0.10  # a significant change beyond this (but within threshold): a warning only
    alpha: float = 0.01
    cooldown: timedelta = timedelta(days=7)
    rearm: Literal["on_resume", "after_cooldown"] = "on_resume"
    shadow: bool = False  # decide and record, never act
    actions: tuple[str, ...] = ("pause",)
    notify: Mapping[str, str] = field(default_factory=dict)  # {"channel": "email"|"wecom_staff", "to": "..."}
    enabled: bool = True
    journeys: tuple[str, ...] = ("*",)
    window: timedelta = timedelta(hours=1)  # breaker only
    limit: float = 0.0  # breaker only: the ceiling rate
    min_events: int = 3  # breaker only: fewer events never trip it, whatever the rate
    assignee: str | None = None  # the task action: who gets the task (else the "marketing" queue's on-duty person)
    # daily only: "each" — every day of the streak significant on its own; "pooled" — each day's change beyond the
    # warning band, and the streak's days pooled significantly beyond the threshold (ADR 0034: catches the small
    # drops a day alone cannot show)
    streak_test: Literal["each", "pooled"] = "each"
    # capacity only: the workers count as busy only while some queue's oldest due item is later than this (ADR 0069)
    behind: timedelta = timedelta(seconds=60)

    @property
    def recipients(self) -> tuple[str, ...]:
        """The notify action's recipients: ``notify.to`` split on commas (emails, or WeCom user ids)."""
        return tuple(dict.fromkeys(p.strip() for p in self.notify.get("to", "").split(",") if p.strip()))

    @property
    def direction(self) -> Literal["drop", "rise"]:
        return DAILY_METRICS[self.metric][2] if self.metric in DAILY_METRICS else "rise"

    def applies_to(self, journey_key: str) -> bool:
        return "*" in self.journeys or journey_key in self.journeys

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["baseline"] = {"kind": self.baseline.kind, "span": self.baseline.span}
        data["cooldown"] = format_duration(self.cooldown)
        data["window"] = format_duration(self.window)
        data["behind"] = format_duration(self.behind)
        data["actions"], data["journeys"], data["notify"] = list(self.actions), list(self.journeys), dict(self.notify)
        if self.kind == "daily":
            for key in ("window", "limit", "min_events"):
                data.pop(key)
        else:
            data.pop("streak_test")
        if self.kind != "capacity":
            data.pop("behind")
        return data


def _number(data: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(key, f"must be a number, not {value!r}")
    if not low <= value <= high:
        raise RuleError(key, f"must be between {low:g} and {high:g}, not {value:g}")
    return float(value)


def _whole(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(key, f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise RuleError(key, f"must be between {low} and {high}, not {value}")
    return value


def _flag(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise RuleError(key, f"must be true or false, not {value!r}")
    return value


def _duration(data: Mapping[str, Any], key: str, default: timedelta) -> timedelta:
    if key not in data:
        return default
    try:
        value = parse_duration(data[key], key)
    except PathError as exc:
        raise RuleError(key, exc.reason) from None
    return value


def _names(data: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleError(key, "must be a list of names")
    return tuple(v.strip() for v in value)


def _baseline(raw: object) -> Baseline:
    if raw is None:
        return Baseline()
    if not isinstance(raw, Mapping):
        raise RuleError("baseline", "must be a mapping such as {kind: trailing, days: 14} or {kind: same_weekday, "
                                    "weeks: 4}")
    kind = raw.get("kind", "trailing")
    if kind == "trailing":
        return Baseline("trailing", _whole(raw, "days", 14, 3, 90) if "days" in raw else 14)
    if kind == "same_weekday":
        return Baseline("same_weekday", _whole(raw, "weeks", 4, 1, 26) if "weeks" in raw else 4)
    raise RuleError("baseline.kind", f"must be trailing or same_weekday, not {kind!r}")


def parse_rule(data: object) -> AlertRule:
    """A rule document → ``AlertRule``; ``RuleError`` names the first wrong field."""
    if not isinstance(data, Mapping):
        raise RuleError("rule", "must be a mapping")
    unknown = sorted(set(map(str, data)) - _FIELDS)
    if unknown:
        raise RuleError(unknown[0], f"unknown field (known: {', '.join(sorted(_FIELDS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise RuleError("name", "must be a name of 1 to 64 characters")
    metric = data.get("metric")
    kind = data.get("kind", "daily")
    if kind not in ("daily", "breaker", "capacity"):
        raise RuleError("kind", f"must be daily, breaker or capacity, not {kind!r}")
    if kind == "capacity" and metric != CAPACITY_METRIC:
        raise RuleError("metric", f"a capacity rule watches {CAPACITY_METRIC}, not {metric!r}")
    if kind != "capacity" and metric not in DAILY_METRICS:
        raise RuleError("metric", f"must be one of {', '.join(DAILY_METRICS)}, not {metric!r}")
    if kind == "breaker" and metric not in BREAKER_METRICS:
        raise RuleError("metric", f"a breaker watches {' or '.join(BREAKER_METRICS)}, not {metric}")
    threshold = _number(data, "threshold", 0.15, 0.01, 10.0)
    if kind != "capacity" and DAILY_METRICS[str(metric)][2] == "drop" and threshold >= 1:
        raise RuleError("threshold", "a drop is a share below 1 (0.15 = 15 %)")
    warning = None if data.get("warning") is None else _number(data, "warning", 0.1, 0.0, 10.0)
    if warning is not None and warning >= threshold:
        raise RuleError("warning", f"must be below the threshold ({threshold:g})")
    actions = _names(data, "actions", ("pause",))
    for action in actions:
        if action not in ACTIONS:
            raise RuleError("actions", f"unknown action {action!r} (pause, task, notify)")
    notify = data.get("notify") or {}
    if not isinstance(notify, Mapping) or not all(isinstance(v, str) for v in notify.values()):
        raise RuleError("notify", "must be a mapping such as {channel: email, to: ops@example.com}")
    if "notify" in actions and not notify.get("to"):
        raise RuleError("notify.to", "the notify action needs a recipient")
    if notify.get("channel", "email") not in ("email", "wecom_staff"):
        raise RuleError("notify.channel", "must be email or wecom_staff")
    if notify.get("channel", "email") == "email":
        for address in str(notify.get("to", "")).split(","):
            if address.strip() and not _EMAIL.fullmatch(address.strip()):
                raise RuleError("notify.to", f"not an email address: {address.strip()[:80]!r}")
    assignee = data.get("assignee")
    if assignee is not None and (not isinstance(assignee, str) or not 0 < len(assignee.strip()) <= 100):
        raise RuleError("assignee", "a person's id or name, at most 100 characters")
    rearm = data.get("rearm", "on_resume")
    if rearm not in ("on_resume", "after_cooldown"):
        raise RuleError("rearm", f"must be on_resume or after_cooldown, not {rearm!r}")
    streak_test = data.get("streak_test", "each")
    if streak_test not in ("each", "pooled"):
        raise RuleError("streak_test", f"must be each or pooled, not {streak_test!r}")
    limit = _number(data, "limit", 0.0, 0.0, 1.0)
    if kind == "breaker" and limit <= 0:
        raise RuleError("limit", "a breaker needs the ceiling rate it trips above (e.g. 0.003)")
    if kind == "capacity" and limit <= 0:
        raise RuleError("limit", "a capacity rule needs the busy share it fires above (e.g. 0.8)")
    return AlertRule(name.strip(), str(metric), kind, _baseline(data.get("baseline")), threshold,
                     _whole(data, "consecutive", 3, 1, 14), _whole(data, "min_volume", 200, 1, 10_000_000), warning,
                     _number(data, "alpha", 0.01, 1e-9, 0.2), _duration(data, "cooldown", timedelta(days=7)),
                     rearm, _flag(data, "shadow", False), actions, {str(k): str(v) for k, v in notify.items()},
                     _flag(data, "enabled", True), _names(data, "journeys", ("*",)),
                     _duration(data, "window", timedelta(hours=1)), limit, _whole(data, "min_events", 3, 1, 10_000),
                     assignee.strip() if isinstance(assignee, str) else None, streak_test,
                     _duration(data, "behind", timedelta(seconds=60)))


DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    # A4: open rate down > 15 % three days running → the journey pauses itself
    {"name": "open-rate-drop", "metric": "open_rate", "baseline": {"kind": "trailing", "days": 14},
     "threshold": 0.15, "consecutive": 3, "min_volume": 200, "warning": 0.10, "alpha": 0.01, "cooldown": "7d",
     "actions": ["pause", "task"], "streak_test": "pooled"},
    # circuit breakers within the hour: well above what mailbox providers tolerate (complaints 0.3 %, bounces 5 %)
    {"name": "complaint-breaker", "metric": "complaint_rate", "kind": "breaker", "limit": 0.003, "window": "1h",
     "min_volume": 100, "min_events": 3, "alpha": 0.01, "cooldown": "1d", "warning": None, "threshold": 1.0,
     "actions": ["pause", "task"]},
    {"name": "hard-bounce-breaker", "metric": "hard_bounce_rate", "kind": "breaker", "limit": 0.05, "window": "1h",
     "min_volume": 100, "min_events": 5, "alpha": 0.01, "cooldown": "1d", "warning": None, "threshold": 1.0,
     "actions": ["pause", "task"]},
    # A8: the workers busier than 80 % for ten minutes → an alert saying how many workers to add
    # and some queue's oldest due item more than a minute late all along: busy but keeping up does not fire
    {"name": "worker-capacity", "metric": "worker_utilisation", "kind": "capacity", "limit": 0.8, "window": "10m",
     "behind": "60s", "cooldown": "1h", "warning": None, "threshold": 1.0, "actions": []},
)


def default_rules() -> list[AlertRule]:
    return [parse_rule(r) for r in DEFAULT_RULES]
