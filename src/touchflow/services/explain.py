"""``metrics explain`` (A3): why did a journey's rate move between two periods? Shift-share by one dimension.

Reads the raw messages of both periods (outbox + lifecycle events, like the alerts do) so that dimensions the
daily rollup does not keep are available: send hour (workspace zone), mailbox provider (the address's domain),
device (the class tracking recorded on the first open or click, ``devices.device_class``), a tag (has /
lacks), the journey version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.alert_ports import MessageOutcome
from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.domain.measurement.decompose import Decomposition, decompose, device_of, mailbox_provider
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


def _key(by: str, zone: ZoneInfo) -> Callable[[MessageOutcome], str]:
    if by == "send_hour":
        return lambda m: f"{m.sent_at.astimezone(zone).hour:02d}:00"
    if by == "template":
        return lambda m: m.template or "(none)"
    if by == "version":
        return lambda m: "(none)" if m.version is None else f"v{m.version}"
    if by == "channel":
        return lambda m: m.channel
    if by == "provider":
        return lambda m: mailbox_provider(m.address)
    if by == "device":
        return lambda m: m.device or device_of(m.user_agent)
    if by.startswith("tag:") and by[4:].strip():
        tag = by[4:].strip()
        return lambda m: f"有 {tag} / has" if tag in m.tags else f"无 {tag} / lacks"
    raise FieldError("by", f"must be one of {', '.join(EXPLAIN_DIMENSIONS)}, not {by!r}")


def explain(ctx: ServiceContext, metric: str, journey: str, start: datetime, end: datetime, *, by: str,
            base_start: datetime | None = None, base_end: datetime | None = None) -> Explanation:
    """Compare [start, end) with the base period (default: the same length just before) by ``by``."""
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
        key = _key(by, ZoneInfo(guardrail_policy(uow).default_timezone))
        messages = uow.alerts.sent_between(min(base_start, start), max(base_end, end), record.id,
                                           with_tags=by.startswith("tag:"))
    periods: tuple[dict[str, list[int]], dict[str, list[int]]] = (defaultdict(lambda: [0, 0]),
                                                                   defaultdict(lambda: [0, 0]))
    for message in messages:
        for index, (low, high) in enumerate(((base_start, base_end), (start, end))):
            if low <= message.sent_at < high:
                hit, trial = message.counts(metric)
                cell = periods[index][key(message)]
                cell[0] += hit
                cell[1] += trial
    before = {k: (v[0], v[1]) for k, v in periods[0].items()}
    after = {k: (v[0], v[1]) for k, v in periods[1].items()}
    return Explanation(metric, record.key, (base_start, base_end), (start, end), decompose(by, before, after))
