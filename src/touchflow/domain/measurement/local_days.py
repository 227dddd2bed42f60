"""Local days of UTC quarter hours, for counting in SQL (ADR 0033).

The rollups bucket events by UTC quarter hour (``epoch seconds // 900``): every zone's offset is a multiple of
15 minutes, and transitions fall on quarter hours, so a bucket lies within one local day. The database turns a
bucket into its local day with the offsets listed here — the same tz database the Python code reads, so SQLite
(which knows no zones) and PostgreSQL give the days ``datetime.astimezone`` gives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["QUARTER", "offset_spans", "quarter_of"]

QUARTER = 900  # seconds
_FIRST = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime(2101, 1, 1, tzinfo=UTC)


def quarter_of(at: datetime) -> int:
    """The UTC quarter hour ``at`` falls in (seconds since 1970 // 900)."""
    return int(at.timestamp()) // QUARTER


def _offset(zone: ZoneInfo, at: datetime) -> int:
    delta = at.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@lru_cache(maxsize=16)
def offset_spans(zone: ZoneInfo) -> tuple[tuple[int, int], ...]:
    """(first quarter, UTC offset in seconds) from 1970 to 2100, one entry per change; quarters before the first
    entry use its offset, and those after 2100 the last one's."""
    spans = [(quarter_of(_FIRST), _offset(zone, _FIRST))]
    day = _FIRST
    while day < _LAST:
        following = day + timedelta(days=1)
        if _offset(zone, following) != spans[-1][1]:
            low, high = quarter_of(day), quarter_of(following)  # the change lies in (low, high]
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, datetime.fromtimestamp(middle * QUARTER, UTC)) == spans[-1][1]:
                    low = middle
                else:
                    high = middle
            spans.append((high, _offset(zone, datetime.fromtimestamp(high * QUARTER, UTC))))
        day = following
    return tuple(spans)
