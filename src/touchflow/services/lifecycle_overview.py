"""Stage counts and recent moves between stages, for the console's lifecycle page (S3).

Built from each live contact's latest stage change (the repository's ``last_stage_changes``), so no new query:
a flow is a contact's most recent move, counted when it happened within the window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from touchflow.services.context import ServiceContext

__all__ = ["StageOverview", "stage_overview"]

_CHUNK = 2000


@dataclass(frozen=True)
class StageOverview:
    counts: list[tuple[str, int]]  # stage, contacts in it now (largest first)
    without_stage: int  # live contacts never staged
    flows: list[tuple[str, str, int]]  # from ("" for the first stage), to, contacts whose latest move it was
    days: int


def stage_overview(ctx: ServiceContext, days: int = 30) -> StageOverview:
    since = ctx.clock.now() - timedelta(days=days)
    counts: Counter[str] = Counter()
    flows: Counter[tuple[str, str]] = Counter()
    live = 0
    with ctx.reader() as uow:
        after = None
        while ids := uow.lifecycle.live_ids(after, _CHUNK):
            live += len(ids)
            for change in uow.lifecycle.last_stage_changes(ids).values():
                counts[change.stage] += 1
                if change.at >= since:
                    flows[(change.from_stage or "", change.stage)] += 1
            after = ids[-1]
    return StageOverview(counts.most_common(), live - sum(counts.values()),
                         [(a, b, n) for (a, b), n in flows.most_common()], days)
