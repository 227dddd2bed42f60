"""``metrics explain`` (A3): why did a journey's rate move between two periods? Shift-share by one dimension.

Reads the raw messages of both periods (outbox + lifecycle events, like the alerts do) so that dimensions the
daily rollup does not keep are available: send hour (workspace zone), mailbox provider (the address's domain),
device (the class tracking recorded on the first open or click, ``devices.device_class``), a tag (has /
lacks), the journey version. The store counts them in SQL, one row per segment and period
(``AlertRepository.explain_cells``, ADR 0056); only the labels are made here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.domain.measurement.decompose import Decomposition, decompose, device_of, mailbox_provider
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import guardrail_policy
from touchflow.services.journeys import JourneyError

__all__ = ["EXPLAIN_DIMENSIONS", "Explanation", "explain"]

EXPLAIN_DIMENSIONS = ("send_hour", "template", "version", "channel", "provider", "device", "tag:NAME")


@dataclass(frozen=True)
class Explanation:
    metric: str
    journey: str
    period0: tuple[datetime, datetime]
    period1: tuple[datetime, datetime]
    result: Decomposition

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {"metric": self.metric, "journey": self.journey, "by": r.dimension,
                "before": {"from": self.period0[0].isoformat(), "to": self.period0[1].isoformat(), "rate": r.rate0},
                "after": {"from": self.period1[0].isoformat(), "to": self.period1[1].isoformat(), "rate": r.rate1},
                "change": r.change, "mix_shift": r.mix, "rate_change": r.rate,
                "segments": [{"key": s.key, "trials_before": s.trials0, "successes_before": s.successes0,
                              "trials_after": s.trials1, "successes_after": s.successes1, "rate_before": s.rate0,
                              "rate_after": s.rate1, "weight_before": s.weight0, "weight_after": s.weight1,
                              "mix_shift": s.mix, "rate_change": s.rate, "contribution": s.total,
                              "p_value": s.p_value} for s in r.segments]}


_GROUPS = {"template": "template", "version": "version", "channel": "channel", "provider": "domain",
           "device": "device", "send_hour": "hour"}
# send hours by UTC hour; where the zone's clock moves inside one (a half-hour zone, a change at :30), by the
# quarter hour; where inside one of those too (no zone since 1972), by the second: always exact
_BUCKETS = (("hour", timedelta(hours=1)), ("quarter", timedelta(minutes=15)), ("second", timedelta(seconds=1)))


def _hour(bucket: int, size: timedelta, zone: ZoneInfo) -> str | None:
    """The local hour of every instant of a UTC bucket, or None when the zone's clock moves within it."""
    first = datetime(1970, 1, 1, tzinfo=UTC) + bucket * size
    last = first + size - timedelta(microseconds=1)
    low, high = first.astimezone(zone), last.astimezone(zone)
    if low.utcoffset() != high.utcoffset() or low.hour != high.hour:
        return None
    return f"{low.hour:02d}:00"


def _label(by: str, zone: ZoneInfo) -> Callable[[tuple[Any, ...]], str | None]:
    """The segment a group's raw key (store/explain_sql.py) belongs to: the labels ``sent_between``'s
    MessageOutcome got, message by message, before (ADR 0056)."""
    if by == "send_hour":
        return lambda k: _hour(int(k[0]), _BUCKETS[0][1], zone)
    if by == "template":
        return lambda k: k[0] or "(none)"
    if by == "version":
        return lambda k: "(none)" if k[0] is None else f"v{k[0]}"
    if by == "channel":
        return lambda k: str(k[0])
    if by == "provider":  # the text after the first "@": mailbox_provider takes the part after the last one
        return lambda k: "(none)" if k[0] is None else mailbox_provider(f"@{k[0]}")
    if by == "device":
        return lambda k: k[0] or device_of(k[1])
    if by.startswith("tag:") and by[4:].strip():
        tag = by[4:].strip()
        return lambda k: f"有 {tag} / has" if k[0] else f"无 {tag} / lacks"
    raise FieldError("by", f"must be one of {', '.join(EXPLAIN_DIMENSIONS)}, not {by!r}")


def _cells(uow: UnitOfWork, journey_id: str, periods: list[tuple[datetime, datetime]], metric: str, by: str,
           zone: ZoneInfo) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    label = _label(by, zone)
    since = min(low for low, _ in periods)
    tag = by[4:].strip() if by.startswith("tag:") else ""
    cells = uow.alerts.explain_cells(journey_id, periods, since, metric, _GROUPS.get(by, "tag"), tag)
    labels = [label(cell.key) for cell in cells]
    for group, size in _BUCKETS[1:]:
        if None not in labels:
            break
        cells = uow.alerts.explain_cells(journey_id, periods, since, metric, group)
        labels = [_hour(int(cell.key[0]), size, zone) for cell in cells]
    sums: tuple[dict[str, list[int]], dict[str, list[int]]] = (defaultdict(lambda: [0, 0]),
                                                               defaultdict(lambda: [0, 0]))
    for cell, key in zip(cells, labels, strict=True):
        sum_ = sums[cell.period][str(key)]
        sum_[0] += cell.successes
        sum_[1] += cell.trials
    before, after = ({k: (v[0], v[1]) for k, v in period.items()} for period in sums)
    return before, after


def explain(ctx: ServiceContext, metric: str, journey: str, start: datetime, end: datetime, *, by: str,
            base_start: datetime | None = None, base_end: datetime | None = None) -> Explanation:
    """Compare [start, end) with the base period (default: the same length just before) by ``by``: counted in
    SQL, one row per segment and period (ADR 0056)."""
    if metric not in DAILY_METRICS:
        raise FieldError("metric", f"must be one of {', '.join(DAILY_METRICS)}, not {metric!r}")
    if end <= start:
        raise FieldError("to", "must be after --from")
    base_end = base_end or start
    base_start = base_start or base_end - (end - start)
    if base_end <= base_start:
        raise FieldError("base_to", "must be after the base period's start")
    with ctx.reader() as uow:
        record = uow.journeys.get(journey)
        if record is None:
            raise JourneyError(f"no journey {journey!r}")
        zone = ZoneInfo(guardrail_policy(uow).default_timezone)
        _label(by, zone)  # an unknown dimension is refused before anything is read
        before, after = _cells(uow, record.id, [(base_start, base_end), (start, end)], metric, by, zone)
    return Explanation(metric, record.key, (base_start, base_end), (start, end), decompose(by, before, after))
