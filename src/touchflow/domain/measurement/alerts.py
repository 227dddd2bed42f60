"""Alert decisions (A4): a pure function of (rule, daily series, state) → (decision, new state).

**The test.** A day *breaches* when its rate is beyond the baseline by more than the threshold *and* that is
significant: for a drop (open, click) a one-sided exact binomial test of today's successes out of today's trials
against ``p = baseline × (1 − threshold)`` (H1: the true rate is below p); for a rise of a rare event (complaints,
bounces, unsubscribes) a one-sided Poisson test of today's count against ``λ = trials × baseline × (1 + threshold)``.
Significance is ``p-value < alpha`` (default 0.01). ``consecutive`` breach days in a row trigger; the streak's
p-value is the largest of its days' (an intersection–union test: each day must be significant on its own).

**Pooled streaks** (``streak_test: pooled``, ADR 0034). A drop of 15–30 % is often not significant beyond the
threshold on one day, but is over three: the streak fires when every one of its ``consecutive`` counted days
moved beyond the warning band (half the threshold without one) and the days pooled — successes against
``Σ trialsᵢ × baselineᵢ × (1 − threshold)`` — are significant at ``alpha`` and beyond the threshold as a whole.
Pooling makes the binomial noise small, so what is left is the day-to-day wobble of the rate itself and the
baseline's own uncertainty: the wobble's variance is estimated from the baseline days (their spread beyond
binomial noise), and both are added to the test's (a quasi-binomial z test); the larger of that p-value and
the exact binomial one decides.

**Days that do not count.** A day with fewer than ``min_volume`` trials is skipped: it neither breaks nor extends a
streak. The baseline of a streak is taken only from counted days *before* the streak's first day (trailing N days,
or the same weekday of the previous N weeks), so a drop never drags its own baseline down.

**Assumptions.** Messages of one day are independent trials with one rate; the baseline rate is treated as known
(it pools 3–14 times a day's volume); day-to-day rate jitter beyond binomial noise is absorbed by the threshold
margin (the test is against ``baseline × (1 − threshold)``, not against the baseline). The measured catch and
false-alert rates under these conditions are in docs/benchmarks.md (bench/bench_alerts.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from touchflow.domain.measurement.alert_rules import AlertRule

__all__ = ["METRIC_LABELS", "AlertState", "DayCount", "DayTest", "Decision", "evaluate_breaker", "evaluate_daily",
           "rearmed"]

Verdict = Literal["low_volume", "no_baseline", "ok", "warning", "breach"]
Status = Literal["low_volume", "no_baseline", "ok", "warning", "breach", "trigger"]
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "open_rate": ("打开率", "open rate"), "click_rate": ("点击率", "click rate"),
    "complaint_rate": ("投诉率", "complaint rate"), "hard_bounce_rate": ("硬退信率", "hard-bounce rate"),
    "unsubscribe_rate": ("退订率", "unsubscribe rate"),
    "worker_utilisation": ("工作进程繁忙度", "worker utilisation"),  # kind: capacity (services/capacity.py)
}
LOOKBACK_DAYS = 21  # a streak's days lie within this many days (low-volume gaps included)


@dataclass(frozen=True)
class DayCount:
    day: date
    successes: int
    trials: int


@dataclass(frozen=True)
class AlertState:
    """Per rule × journey. ``counts_from``: days before it never count for a streak (set when the rule fired, and
    when a person resumed the journey), so the same bad days do not fire twice."""

    armed: bool = True
    consecutive: int = 0
    last_fired: datetime | None = None
    cooldown_until: datetime | None = None
    counts_from: date | None = None
    last_day: date | None = None  # the last day a daily rule evaluated


@dataclass(frozen=True)
class DayTest:
    day: date
    successes: int
    trials: int
    verdict: Verdict
    baseline: float | None = None
    change: float | None = None  # relative: −0.22 = 22 % below the baseline
    p_value: float | None = None

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None


@dataclass(frozen=True)
class Decision:
    rule: str
    metric: str
    status: Status
    act: bool = False  # carry out the rule's actions now
    suppressed: str | None = None  # why a trigger does not act: shadow | cooldown | disarmed
    days: tuple[DayTest, ...] = ()
    p_value: float | None = None
    change: float | None = None

    def summary(self, lang: str = "en") -> str:
        zh, en = METRIC_LABELS.get(self.metric, (self.metric, self.metric))
        change = "" if self.change is None else f"{self.change * 100:+.0f}%".replace("-", "−")
        p = "" if self.p_value is None else f"p={self.p_value:.2g}"
        n = len(self.days)
        if lang == "zh":
            return f"{zh} {change}，连续 {n} 天，{p}" if n > 1 else f"{zh} {change}，{p}"
        return f"{en} {change} for {n} days, {p}" if n > 1 else f"{en} {change}, {p}"


def _baseline_days(rule: AlertRule, day: date, before: date, by_day: dict[date, DayCount]) -> list[DayCount]:
    if rule.baseline.kind == "same_weekday":
        candidates = [day - timedelta(weeks=w) for w in range(1, rule.baseline.span + 1)]
    else:
        candidates = [before - timedelta(days=d) for d in range(1, rule.baseline.span + 1)]
    found = [by_day[d] for d in candidates if d < before and d in by_day]
    return [c for c in found if c.trials >= rule.min_volume]


def _p_value(rule: AlertRule, successes: int, trials: int, rate: float) -> float:
    """One-sided: how likely this few (drop) or this many (rise) successes are if the true rate were ``rate``."""
    from scipy.special import bdtr, pdtrc  # imported when a rule is evaluated: not every process that loads rules

    if rule.direction == "drop":
        return float(bdtr(successes, trials, rate))
    if successes == 0:
        return 1.0
    return float(pdtrc(successes - 1, trials * rate))  # P(X ≥ k), X ~ Poisson(n·rate)


def _test_day(rule: AlertRule, count: DayCount, baseline: list[DayCount]) -> DayTest:
    if count.trials < rule.min_volume:
        return DayTest(count.day, count.successes, count.trials, "low_volume")
    if len(baseline) < min(3, rule.baseline.span):
        return DayTest(count.day, count.successes, count.trials, "no_baseline")
    pooled_n = sum(c.trials for c in baseline)
    base = sum(c.successes for c in baseline) / pooled_n
    if base == 0:  # no event at all in the baseline: half an event, so a rise can still be measured
        base = 0.5 / pooled_n
    rate = count.successes / count.trials
    change = rate / base - 1
    sign = -1 if rule.direction == "drop" else 1

    def beyond(margin: float) -> tuple[bool, float]:
        p = _p_value(rule, count.successes, count.trials, base * (1 + sign * margin))
        return sign * change > margin and p < rule.alpha, p

    breach, p_value = beyond(rule.threshold)
    verdict: Verdict = "breach" if breach else "ok"
    if not breach and rule.warning is not None and (warned := beyond(rule.warning))[0]:
        verdict, p_value = "warning", warned[1]
    return DayTest(count.day, count.successes, count.trials, verdict, base, change, p_value)


def evaluate_daily(rule: AlertRule, series: Iterable[DayCount], state: AlertState, today: date,
                   now: datetime) -> tuple[Decision, AlertState]:
    """Decide on ``today`` (a closed day). ``series`` holds any days up to today; missing days count as empty."""
    by_day = {c.day: c for c in series if c.day <= today}
    state = replace(state, last_day=today)
    floor = today - timedelta(days=LOOKBACK_DAYS)
    if state.counts_from is not None:
        floor = max(floor, state.counts_from - timedelta(days=1))
    counted: list[DayCount] = []  # newest first
    day = today
    while day > floor and len(counted) < rule.consecutive:
        count = by_day.get(day)
        if count is not None and count.trials >= rule.min_volume:
            counted.append(count)
        elif day == today:
            test = DayTest(today, count.successes if count else 0, count.trials if count else 0, "low_volume")
            return Decision(rule.name, rule.metric, "low_volume", days=(test,)), state
        day -= timedelta(days=1)
    # The longest streak (up to ``consecutive`` counted days, ending today) whose every day breaches against the
    # baseline before the streak's first day: a drop never drags its own baseline down.
    streak_tests: list[DayTest] = []
    today_test = _test_day(rule, counted[0], _baseline_days(rule, today, today, by_day))
    for length in range(len(counted), 0, -1):
        start = counted[length - 1].day
        tests: list[DayTest] = []
        for c in counted[:length]:
            tests.append(today_test if length == 1 else _test_day(rule, c, _baseline_days(rule, c.day, start, by_day)))
            if tests[-1].verdict != "breach":
                break
        else:
            streak_tests = tests
            break
    streak = len(streak_tests)
    if rule.streak_test == "pooled" and streak < rule.consecutive and len(counted) == rule.consecutive:
        pooled = _pooled_streak(rule, counted, by_day)
        if pooled is not None:
            return _fire(rule, pooled, replace(state, consecutive=rule.consecutive), today, now)
    if streak == 0:
        status: Status = today_test.verdict
        return (Decision(rule.name, rule.metric, status, days=(today_test,), p_value=today_test.p_value,
                         change=today_test.change), replace(state, consecutive=0))
    days = tuple(reversed(streak_tests))
    p_value = max(t.p_value for t in days if t.p_value is not None)
    change = sum(t.change for t in days if t.change is not None) / streak
    if streak < rule.consecutive:
        return (Decision(rule.name, rule.metric, "breach", days=days, p_value=p_value, change=change),
                replace(state, consecutive=streak))
    return _fire(rule, Decision(rule.name, rule.metric, "trigger", days=days, p_value=p_value, change=change),
                 replace(state, consecutive=streak), today, now)


def _day_variance(days: list[DayCount]) -> float:
    """The relative variance of a day's rate beyond binomial noise, from the baseline days (0 when none shows)."""
    trials = sum(d.trials for d in days)
    if len(days) < 3 or trials == 0:
        return 0.0
    base = sum(d.successes for d in days) / trials
    if not 0 < base < 1:
        return 0.0
    rates = [d.successes / d.trials for d in days]
    mean = sum(rates) / len(rates)
    spread = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    binomial = sum(base * (1 - base) / d.trials for d in days) / len(days)
    return max(0.0, spread - binomial) / (base * base)


def _pooled_streak(rule: AlertRule, counted: list[DayCount], by_day: dict[date, DayCount]) -> Decision | None:
    """The trigger of a pooled streak over ``counted`` (newest first), or None."""
    from scipy.special import ndtr

    start = counted[-1].day
    tests = [_test_day(rule, c, _baseline_days(rule, c.day, start, by_day)) for c in counted]
    band = rule.warning if rule.warning is not None else rule.threshold / 2
    sign = -1 if rule.direction == "drop" else 1
    if any(t.baseline is None or t.change is None or sign * t.change <= band for t in tests):
        return None
    trials = sum(t.trials for t in tests)
    successes = sum(t.successes for t in tests)
    expected = sum(t.trials * (t.baseline or 0.0) for t in tests)
    if trials == 0 or expected <= 0:
        return None
    change = successes / expected - 1
    target = expected / trials * (1 + sign * rule.threshold)
    p_value = _p_value(rule, successes, trials, target)
    reference = _baseline_days(rule, start, start, by_day)
    wobble = _day_variance(reference)  # relative, per day
    base_trials = sum(d.trials for d in reference)
    base = expected / trials
    # the window's variance (binomial + wobble) and the baseline's own, which pooling no longer makes negligible
    variance = (target * (1 - target) / trials + target * target * wobble / len(tests)
                + (1 + sign * rule.threshold) ** 2 * (base * (1 - base) / max(base_trials, 1)
                                                      + base * base * wobble / max(len(reference), 1)))
    z = (successes / trials - target) / math.sqrt(variance) if variance > 0 else 0.0
    p_value = max(p_value, float(ndtr(z) if sign < 0 else ndtr(-z)))
    if not (sign * change > rule.threshold and p_value < rule.alpha):
        return None
    return Decision(rule.name, rule.metric, "trigger", days=tuple(reversed(tests)), p_value=p_value, change=change)


def _fire(rule: AlertRule, decision: Decision, state: AlertState, today: date,
          now: datetime) -> tuple[Decision, AlertState]:
    """A trigger acts unless the rule is disarmed (paused before, not yet resumed), cooling down, or in shadow
    mode. Shadow mode records what it would have done and cools down alike, so it reports once, not daily."""
    if not state.armed:
        return replace(decision, suppressed="disarmed"), state
    if state.cooldown_until is not None and now < state.cooldown_until:
        return replace(decision, suppressed="cooldown"), state
    fired = replace(state, last_fired=now, cooldown_until=now + rule.cooldown, consecutive=0,
                    counts_from=today + timedelta(days=1))
    if rule.shadow:
        return replace(decision, suppressed="shadow"), fired
    if "pause" in rule.actions and rule.rearm == "on_resume":
        fired = replace(fired, armed=False)
    return replace(decision, act=True), fired


def rearmed(state: AlertState, resumed_on: date) -> AlertState:
    """A person resumed the journey the rule paused: watch again, counting only days from the resume on."""
    return replace(state, armed=True, consecutive=0, counts_from=resumed_on)


def evaluate_breaker(rule: AlertRule, events: int, trials: int, state: AlertState,
                     now: datetime) -> tuple[Decision, AlertState]:
    """The circuit breaker: of the ``trials`` messages sent in the last ``rule.window``, ``events`` drew a
    complaint (or a hard bounce). It trips when the rate is above the fixed ceiling ``rule.limit`` and an exact
    one-sided binomial test says so at ``alpha`` (P(X ≥ events | trials, limit) < alpha), with at least
    ``min_events`` events and ``min_volume`` messages."""
    test = DayTest(now.date(), events, trials, "low_volume")
    if trials < rule.min_volume or events < rule.min_events:
        return Decision(rule.name, rule.metric, "low_volume", days=(test,)), state
    from scipy.special import bdtrc

    p_value = float(bdtrc(events - 1, trials, rule.limit))
    change = events / trials / rule.limit - 1
    breach = events / trials > rule.limit and p_value < rule.alpha
    test = replace(test, verdict="breach" if breach else "ok", baseline=rule.limit, change=change, p_value=p_value)
    decision = Decision(rule.name, rule.metric, "trigger" if breach else "ok", days=(test,), p_value=p_value,
                        change=change)
    if not breach:
        return decision, state
    return _fire(rule, decision, state, now.date() - timedelta(days=1), now)
