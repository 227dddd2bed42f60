"""The quarterly flow review (A7; the seeds' 测试问题清单与优化记录): per journey, its performance over the quarter,
what each published change did (a metric over a window before vs after the publish), lint warnings, the share of
entrants the guardrails skipped, and rule-based recommendations. Pure: the data comes in, findings go out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from touchflow.domain.measurement.report_model import Counts, rate

__all__ = ["DECISIONS", "EFFECT_WINDOW", "Decision", "JourneyReview", "VersionEffect", "parse_quarter",
           "quarter_of", "recommendations"]

Decision = Literal["keep", "change", "retire"]
DECISIONS: tuple[Decision, ...] = ("keep", "change", "retire")
EFFECT_WINDOW = timedelta(days=14)  # each publish: 14 days before vs 14 days after
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")

# thresholds of the rules (documented in docs/subsystems/measurement.md)
SKIP_SHARE_HIGH = 0.20
OPEN_RATE_LOW = 0.15
CLICK_TO_OPEN_LOW = 0.10
EFFECT_DROP = 0.02  # conversion down by more than 2 percentage points after a publish


def parse_quarter(text: str) -> tuple[date, date]:
    """``2026Q1`` -> (first day, last day)."""
    match = _QUARTER.match(text.strip().upper())
    if not match:
        raise ValueError(f"quarter: {text!r} is not like 2026Q1")
    year, q = int(match.group(1)), int(match.group(2))
    first = date(year, 3 * q - 2, 1)
    following = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return first, following - timedelta(days=1)


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class VersionEffect:
    version: int
    published_at: datetime
    published_by: str
    before: Counts
    after: Counts

    @property
    def conversion_change(self) -> float | None:
        b, a = rate(self.before.converted, self.before.entered), rate(self.after.converted, self.after.entered)
        return None if a is None or b is None else a - b

    @property
    def open_rate_change(self) -> float | None:
        b, a = rate(self.before.opened, self.before.delivered), rate(self.after.opened, self.after.delivered)
        return None if a is None or b is None else a - b


@dataclass(frozen=True)
class JourneyReview:
    key: str
    name: str
    status: str
    has_goal: bool
    quarter: Counts
    previous_quarter: Counts
    versions: list[VersionEffect]
    lint: list[str]  # "code: message"
    recommendations: list[str]  # catalog keys with arguments: "key|arg"
    review_status: str = "open"
    decision: str | None = None
    decided_by: str | None = None
    note: str = ""

    @property
    def conversion_rate(self) -> float | None:
        return rate(self.quarter.converted, self.quarter.entered)

    @property
    def skip_share(self) -> float | None:
        """Share of entrants whose messages the guardrails skipped (skips per entrant, capped at 1)."""
        share = rate(self.quarter.skipped, self.quarter.entered)
        return None if share is None else min(1.0, share)


def recommendations(has_goal: bool, status: str, quarter: Counts, previous: Counts, versions: list[VersionEffect],
                    lint: list[str]) -> list[str]:
    """Rule-based advice, most important first, as catalog keys (``key`` or ``key|argument``)."""
    out: list[str] = []
    if quarter.entered == 0:
        out.append("no_entrants" if status == "active" else "inactive")
        return out
    if not has_goal:
        out.append("no_goal")
    skip = rate(quarter.skipped, quarter.entered)
    if skip is not None and skip > SKIP_SHARE_HIGH:
        out.append(f"skips_high|{skip:.0%}")
    opens = rate(quarter.opened, quarter.delivered)
    if opens is not None and opens < OPEN_RATE_LOW:
        out.append(f"open_low|{opens:.0%}")
    cto = rate(quarter.clicked, quarter.opened)
    if cto is not None and quarter.opened >= 20 and cto < CLICK_TO_OPEN_LOW:
        out.append(f"click_low|{cto:.0%}")
    now_conv, before_conv = rate(quarter.converted, quarter.entered), rate(previous.converted, previous.entered)
    if now_conv is not None and before_conv is not None and now_conv + EFFECT_DROP < before_conv:
        out.append(f"conversion_down|{before_conv:.1%}→{now_conv:.1%}")
    for v in versions:
        change = v.conversion_change
        if change is not None and change < -EFFECT_DROP:
            out.append(f"version_hurt|v{v.version}")
    if lint:
        out.append(f"lint|{len(lint)}")
    if not out:
        out.append("keep")
    return out
