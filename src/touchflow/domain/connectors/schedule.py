"""When a connector runs: a five-field cron expression evaluated in the workspace zone, or "realtime" / "manual".

Fields are minute, hour, day of month, month, day of week (0 or 7 = Sunday); each is ``*``, a number, a range
``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those. As in cron, when both day of month and day of week
are restricted a day matching either runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from touchflow.domain.errors import FieldError

__all__ = ["MANUAL", "REALTIME", "Cron", "next_run", "parse_schedule"]

REALTIME = "realtime"
MANUAL = "manual"
_BOUNDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_SEARCH_DAYS = 366 * 5  # "0 0 29 2 1" (29 February that is a Monday) may be years away; past this: never


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        weekday = (when.weekday() + 1) % 7
        by_day, by_weekday = when.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(base)
                if step_text:
                    end = high
        except ValueError:
            raise FieldError("schedule", f"{name} {part!r} is not a number, range, step or *") from None
        if step < 1 or start < low or end > high or start > end:
            raise FieldError("schedule", f"{name} {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(text: str) -> Cron | None:
    """The cron of ``text``; None for realtime or manual. FieldError("schedule", …) when it is neither."""
    text = " ".join(text.split())
    if text in (REALTIME, MANUAL):
        return None
    parts = text.split(" ")
    if len(parts) != 5:
        raise FieldError("schedule", f"{text!r}: five fields (minute hour day month weekday), 'realtime' or 'manual'")
    fields = [_field(p, *bounds) for p, bounds in zip(parts, _BOUNDS, strict=True)]
    weekdays = frozenset(d % 7 for d in fields[4])
    return Cron(fields[0], fields[1], fields[2], fields[3], weekdays, parts[2] == "*", parts[4] == "*")


def next_run(cron: Cron, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first minute strictly after ``after`` that the cron names, in ``zone`` (returned in UTC-aware form);
    None if there is none within five years (a day that never comes, like 31 February)."""
    local = after.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = local.replace(hour=0, minute=0)
    for offset in range(_SEARCH_DAYS):
        current = (day + timedelta(days=offset)).replace(tzinfo=None)
        if not cron.day_matches(current):
            continue
        for hour in sorted(cron.hours):
            for minute in sorted(cron.minutes):
                candidate = current.replace(hour=hour, minute=minute).replace(tzinfo=zone)
                if candidate >= local:
                    return candidate.astimezone(after.tzinfo)
    return None
