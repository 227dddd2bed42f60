"""Stage counts and recent moves between stages, for the console's lifecycle page (S3).

Built from each live contact's latest stage change, counted in one aggregate (``latest_stage_totals``): a flow
is a contact's most recent move, counted when it happened within the window. Ties are listed by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from touchflow.services.context import ServiceContext

__all__ = ["StageOverview", "stage_overview"]

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
    with ctx.reader() as uow:
        live = uow.lifecycle.live_count()
        totals = uow.lifecycle.latest_stage_totals(since)
    for stage, from_stage, recent, n in sorted(totals, key=lambda t: (t[0], t[1] or "", t[2])):
        counts[stage] += n
        if recent:
            flows[(from_stage or "", stage)] += n
    return StageOverview(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), live - sum(counts.values()),
                         [(a, b, n) for (a, b), n in sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))], days)
