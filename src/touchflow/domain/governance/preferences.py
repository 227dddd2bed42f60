"""A person's console preferences: language, time zone and theme (issue 15, ADR 0037).

The account row keeps the language and zone an administrator gave it at creation; a preference row, once the
person saves one, wins. Values are checked here so the console, the API and the CLI refuse the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from touchflow.domain.errors import FieldError

__all__ = ["LOCALES", "THEMES", "PreferenceRepository", "Preferences", "check_preferences"]

LOCALES = ("zh-CN", "en")  # zh-CN first: the default
THEMES = ("light", "dark")


@dataclass(frozen=True)
class Preferences:
    locale: str = "zh-CN"
    time_zone: str = "Asia/Shanghai"
    theme: str = "light"


def check_preferences(locale: str, time_zone: str, theme: str) -> Preferences:
    """The preferences, or FieldError naming the first field at fault."""
    if locale not in LOCALES:
        raise FieldError("locale", f"must be one of {', '.join(LOCALES)}")
    if theme not in THEMES:
        raise FieldError("theme", f"must be one of {', '.join(THEMES)}")
    if not time_zone or len(time_zone) > 64 or ".." in time_zone or time_zone.startswith("/"):
        raise FieldError("time_zone", "must be an IANA zone name such as Asia/Shanghai")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError("time_zone", f"unknown time zone {time_zone!r} (an IANA name such as Asia/Shanghai)") \
            from None
    return Preferences(locale, time_zone, theme)


class PreferenceRepository(Protocol):
    def preferences(self, user_id: str) -> Preferences | None: ...
    def save_preferences(self, user_id: str, preferences: Preferences, now: datetime) -> None: ...
