"""The goal decomposition table (目标拆解表, A6): phases, objectives and key results, each key result bound to a
metric that the product measures, with progress and an at-risk flag from the trend of its recorded values.

Deadlines are months after launch (``deadline_month``: month 2 ends two calendar months after the launch date),
so the seeds' table works for any workspace; ``launch`` is set when the table is first stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

__all__ = ["METRICS", "Comparison", "GoalError", "GoalTable", "KeyResult", "Objective", "Phase", "assess",
           "parse_goals", "progress_of", "projected"]

Comparison = Literal[">=", "<="]

# Bindable metrics: name -> (unit, what it measures). Computation lives in services/goals.py.
METRICS: Mapping[str, tuple[str, str]] = {
    "persona_coverage": ("percent", "share of live contacts in at least one persona"),
    "data_sync_success": ("percent", "accepted / received rows over every source"),
    "intent_conversion": ("percent", "intent-stage contacts who became customers"),
    "lead_response_hours": ("hours", "median time from a sales task's creation to done"),
    "followup_timeliness": ("percent", "tasks handled within their SLA (last 30 days)"),
    "dormant_reactivation": ("percent", "dormant contacts who interacted again (last 90 days)"),
    "coupon_use": ("percent", "coupons redeemed / coupons claimed (last 90 days)"),
    "repurchase_growth": ("percent", "repeat orders this month vs last month, relative change"),
    "nps": ("score", "NPS from survey_response scores (last 90 days): promoters − detractors"),
}


class GoalError(ValueError):
    """The goal table is not valid; the message names the field."""


@dataclass(frozen=True)
class KeyResult:
    key: str
    title: str
    owner: str
    deadline_month: int
    target: float
    comparison: Comparison
    metric: str
    objective: str = ""
    phase: str = ""

    @property
    def unit(self) -> str:
        return METRICS[self.metric][0]

    def deadline(self, launch: date) -> date:
        """The day before the same day ``deadline_month`` months after launch (month 2 of a 15 January launch
        ends on 14 March)."""
        month = launch.month - 1 + self.deadline_month
        year, month = launch.year + month // 12, month % 12 + 1
        following = date(year + month // 12, month % 12 + 1, 1)
        last = (following - timedelta(days=1)).day
        return date(year, month, min(launch.day, last)) - timedelta(days=1)

    def met(self, value: float) -> bool:
        return value >= self.target if self.comparison == ">=" else value <= self.target


@dataclass(frozen=True)
class Objective:
    key: str
    title: str
    key_results: tuple[KeyResult, ...]


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    months: tuple[int, int]
    objectives: tuple[Objective, ...]


@dataclass(frozen=True)
class GoalTable:
    launch: date | None
    phases: tuple[Phase, ...]

    def key_results(self) -> list[KeyResult]:
        return [kr for p in self.phases for o in p.objectives for kr in o.key_results]

    def find(self, key: str) -> KeyResult | None:
        return next((kr for kr in self.key_results() if kr.key == key), None)


def _text(value: Any, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise GoalError(f"{where}: a non-empty text of at most {limit} characters")
    return value.strip()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GoalError(f"{where}: a number")
    return float(value)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise GoalError(f"{where}: a non-empty list")
    return value


def parse_goals(document: Mapping[str, Any]) -> GoalTable:
    """Validate a goal table document (YAML/JSON shape of domain/data/goals.yaml)."""
    launch = document.get("launch")
    if launch is not None and not isinstance(launch, date):
        try:
            launch = date.fromisoformat(str(launch))
        except ValueError:
            raise GoalError("launch: a date (YYYY-MM-DD)") from None
    phases, seen = [], set()
    for i, p in enumerate(_list(document.get("phases"), "phases")):
        where = f"phases[{i}]"
        if not isinstance(p, Mapping):
            raise GoalError(f"{where}: a mapping")
        months = p.get("months")
        if not (isinstance(months, list) and len(months) == 2 and all(isinstance(m, int) and 1 <= m <= 36
                                                                       for m in months) and months[0] <= months[1]):
            raise GoalError(f"{where}.months: [first, last] month numbers, e.g. [1, 2]")
        objectives = []
        for j, o in enumerate(_list(p.get("objectives"), f"{where}.objectives")):
            ow = f"{where}.objectives[{j}]"
            if not isinstance(o, Mapping):
                raise GoalError(f"{ow}: a mapping")
            krs = []
            for k, kr in enumerate(_list(o.get("key_results"), f"{ow}.key_results")):
                kw = f"{ow}.key_results[{k}]"
                if not isinstance(kr, Mapping):
                    raise GoalError(f"{kw}: a mapping")
                key = _text(kr.get("key"), f"{kw}.key", 64)
                if key in seen:
                    raise GoalError(f"{kw}.key: {key!r} is used twice")
                seen.add(key)
                metric = _text(kr.get("metric"), f"{kw}.metric", 64)
                if metric not in METRICS:
                    raise GoalError(f"{kw}.metric: {metric!r} is not one of {', '.join(METRICS)}")
                comparison = kr.get("comparison", ">=")
                if comparison not in (">=", "<="):
                    raise GoalError(f"{kw}.comparison: >= or <=")
                month = kr.get("deadline_month")
                if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 36:
                    raise GoalError(f"{kw}.deadline_month: a month number 1–36")
                krs.append(KeyResult(key, _text(kr.get("title"), f"{kw}.title"), _text(kr.get("owner"), f"{kw}.owner"),
                                     month, _number(kr.get("target"), f"{kw}.target"), comparison, metric,
                                     _text(o.get("key"), f"{ow}.key", 64), _text(p.get("key"), f"{where}.key", 64)))
            objectives.append(Objective(_text(o.get("key"), f"{ow}.key", 64), _text(o.get("title"), f"{ow}.title"),
                                        tuple(krs)))
        phases.append(Phase(_text(p.get("key"), f"{where}.key", 64), _text(p.get("title"), f"{where}.title"),
                            (months[0], months[1]), tuple(objectives)))
    return GoalTable(launch, tuple(phases))


def progress_of(kr: KeyResult, value: float | None) -> float | None:
    """Share of the target reached, 0..1 (for ``<=`` targets: target / value)."""
    if value is None:
        return None
    if kr.comparison == ">=":
        return 1.0 if kr.target <= 0 else max(0.0, min(1.0, value / kr.target))
    return 1.0 if value <= kr.target else max(0.0, min(1.0, kr.target / value)) if value > 0 else 1.0


def projected(points: Sequence[tuple[date, float]], at: date) -> float | None:
    """The least-squares line through ``points`` evaluated at ``at``; None with fewer than two distinct days."""
    if len({d for d, _ in points}) < 2:
        return None
    xs = [float(d.toordinal()) for d, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my + slope * (at.toordinal() - mx)


def assess(kr: KeyResult, value: float | None, history: Sequence[tuple[date, float]], today: date,
           deadline: date) -> tuple[bool, str]:
    """(at risk, why). At risk when the value is measured, does not meet the target yet, and either the deadline
    has passed or the linear trend of the recorded values (with today's) misses the target at the deadline.
    With too little history to draw a trend the flag stays off and the note says so."""
    if value is None:
        return False, "not measured"
    if kr.met(value):
        return False, "met"
    if today > deadline:
        return True, "deadline passed"
    points = [*[(d, v) for d, v in history if d != today], (today, value)]
    guess = projected(points, deadline)
    if guess is None:
        return False, "no trend yet"
    return (not kr.met(guess)), f"trend reaches {guess:.3g} by {deadline.isoformat()}"
