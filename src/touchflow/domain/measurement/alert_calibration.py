"""How good is a rule? Synthetic daily traffic with binomial noise and injected drops, run through the real
decision function (``evaluate_daily``), counted: share of real drops caught, false alerts, healthy journeys
paused. Seeded, so the same seed gives the same figures (used by a test with the aims as assertions, by
bench/bench_alerts.py and by ``touchflow alert test --simulate``).

The traffic: each journey has a daily volume (log-uniform between ``volume``), a base rate (uniform in
``base_rate``), weekends at half volume with a slightly different rate, day-to-day rate jitter beyond binomial
noise (``jitter``, relative), and now and then a low-volume day (below the rule's ``min_volume``). A share of
journeys gets a real drop: from an onset day on, the rate falls by a relative ``drop`` for the rest of the
month. A drop is *caught* when the rule acts within ``catch_within`` days of its onset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from touchflow.domain.measurement.alert_rules import AlertRule
from touchflow.domain.measurement.alerts import AlertState, DayCount, evaluate_daily

if TYPE_CHECKING:
    pass

__all__ = ["Calibration", "Traffic", "calibrate"]

START = date(2026, 1, 5)  # a Monday


@dataclass(frozen=True)
class Traffic:
    journeys: int = 2000
    days: int = 30  # the simulated month (after ``history`` days of baseline)
    history: int = 28
    volume: tuple[float, float] = (1000, 20000)
    base_rate: tuple[float, float] = (0.15, 0.40)
    jitter: float = 0.03
    low_volume_share: float = 0.04
    drop_share: float = 0.5  # share of journeys with a real drop
    drop: tuple[float, float] = (0.30, 0.60)
    onset: tuple[int, int] = (3, 22)  # day of the month the drop starts
    catch_within: int = 7


@dataclass
class Calibration:
    metric: str
    drops: int = 0
    caught: int = 0
    delays: list[int] = field(default_factory=list)
    healthy: int = 0
    healthy_paused: int = 0
    false_alerts: int = 0  # actions on healthy journeys (or before a drop's onset)
    warnings: int = 0
    months: float = 1.0

    @property
    def catch_rate(self) -> float:
        return self.caught / self.drops if self.drops else 1.0

    @property
    def false_alerts_per_month(self) -> float:
        """Across all simulated journeys, per month."""
        return self.false_alerts / self.months

    @property
    def false_alerts_per_journey_month(self) -> float:
        return self.false_alerts / max(1, self.healthy) / self.months

    @property
    def healthy_paused_share(self) -> float:
        return self.healthy_paused / self.healthy if self.healthy else 0.0

    @property
    def mean_delay(self) -> float | None:
        return sum(self.delays) / len(self.delays) if self.delays else None

    def to_json(self) -> dict[str, object]:
        return {"metric": self.metric, "drops": self.drops, "caught": self.caught, "catch_rate": self.catch_rate,
                "mean_days_to_catch": self.mean_delay, "healthy": self.healthy,
                "healthy_paused": self.healthy_paused, "healthy_paused_share": self.healthy_paused_share,
                "false_alerts": self.false_alerts, "false_alerts_per_month": self.false_alerts_per_month,
                "false_alerts_per_journey_month": self.false_alerts_per_journey_month, "warnings": self.warnings}


def calibrate(rule: AlertRule, traffic: Traffic = Traffic(), seed: int = 13) -> Calibration:
    """Run ``rule`` over ``traffic`` (drop metrics: open/click rate; the rule's direction must be a drop)."""
    import numpy as np

    if rule.direction != "drop":
        raise ValueError("calibrate simulates drops (open_rate, click_rate)")
    rng = np.random.default_rng(seed)
    result = Calibration(rule.metric, months=traffic.days / 30)
    total = traffic.history + traffic.days
    weekend = np.array([(START + timedelta(days=d)).weekday() >= 5 for d in range(total)])
    for _ in range(traffic.journeys):
        low, high = np.log(traffic.volume[0]), np.log(traffic.volume[1])
        volume = np.exp(rng.uniform(low, high))
        rate = rng.uniform(*traffic.base_rate)
        trials = rng.poisson(volume * np.where(weekend, 0.5, 1.0))
        low_days = rng.random(total) < traffic.low_volume_share
        trials = np.where(low_days, rng.integers(0, max(1, rule.min_volume), total), trials)
        rates = rate * np.where(weekend, 0.97, 1.0) * (1 + rng.normal(0, traffic.jitter, total))
        dropped = bool(rng.random() < traffic.drop_share)
        onset = int(rng.integers(traffic.onset[0], traffic.onset[1] + 1)) if dropped else traffic.days
        if dropped:
            rates[traffic.history + onset:] *= 1 - rng.uniform(*traffic.drop)
        successes = rng.binomial(trials, np.clip(rates, 0.0, 1.0))
        series = [DayCount(START + timedelta(days=d), int(successes[d]), int(trials[d])) for d in range(total)]
        state = AlertState()
        acted_on: int | None = None
        for d in range(traffic.history, total):
            today = series[d].day
            now = datetime.combine(today + timedelta(days=1), time(0, 30), UTC)
            decision, state = evaluate_daily(rule, series[max(0, d - 70):d + 1], state, today, now)
            result.warnings += decision.status == "warning"
            if decision.act and acted_on is None:
                acted_on = d - traffic.history
                state = AlertState(counts_from=today + timedelta(days=1))  # as if resumed (a paused journey stops)
        if dropped:
            result.drops += 1
            if acted_on is not None and onset <= acted_on < onset + traffic.catch_within:
                result.caught += 1
                result.delays.append(acted_on - onset + 1)
            elif acted_on is not None and acted_on < onset:
                result.false_alerts += 1
        else:
            result.healthy += 1
            if acted_on is not None:
                result.healthy_paused += 1
                result.false_alerts += 1
    return result
