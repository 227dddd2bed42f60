"""``explain`` as it was before ADR 0056 (a MessageOutcome per message from ``sent_between``, grouped in Python): the
reference that tests/integration/test_explain_sql_equivalence.py and bench/bench_explain.py hold the SQL count to."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from touchflow.domain.measurement.decompose import decompose, device_of, mailbox_provider
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.explain import Explanation

__all__ = ["reference_explain"]


def reference_explain(uow: UnitOfWork, zone: ZoneInfo, metric: str, journey: str, start: datetime, end: datetime,
                      base_start: datetime, base_end: datetime, by: str) -> Explanation:
    """The algorithm before ADR 0056, as it was: a MessageOutcome per message from ``sent_between``."""
    def key(m: Any) -> str:
        if by == "send_hour":
            return f"{m.sent_at.astimezone(zone).hour:02d}:00"
        if by == "template":
            return m.template or "(none)"
        if by == "version":
            return "(none)" if m.version is None else f"v{m.version}"
        if by == "channel":
            return str(m.channel)
        if by == "provider":
            return mailbox_provider(m.address)
        if by == "device":
            return m.device or device_of(m.user_agent)
        tag = by[4:].strip()
        return f"有 {tag} / has" if tag in m.tags else f"无 {tag} / lacks"

    record = uow.journeys.get(journey)
    assert record is not None
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
