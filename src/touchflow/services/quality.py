"""Data quality of the unified store: how complete contacts are after merging, how healthy each source is.

Read-only, in one snapshot, so the numbers agree with each other even while imports are running.
Completeness here is the merged view: a field that one source lacks may have been filled by another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.sources import Source
from touchflow.services.context import ServiceContext
from touchflow.services.sources import with_run_counts

__all__ = ["SYNC_SUCCESS_TARGET", "QualityOverview", "quality_overview"]

SYNC_SUCCESS_TARGET = 0.95  # A6 KR: at least 95% of the records a source sends are accepted


@dataclass(frozen=True)
class QualityOverview:
    contacts: int  # live contacts (merged-away ones not counted)
    filled: dict[str, int]  # standard field -> live contacts that have a value
    sources: tuple[Source, ...]  # every registered source with its sync counters

    def share(self, field: str) -> float | None:
        """Share of live contacts with ``field`` set; ``None`` while there are no contacts."""
        return None if self.contacts == 0 else self.filled.get(field, 0) / self.contacts

    @property
    def active_sources(self) -> tuple[Source, ...]:
        """Sources that have sent anything, in name order."""
        return tuple(sorted((s for s in self.sources if s.received > 0), key=lambda s: s.name))

    @property
    def failing_sources(self) -> tuple[Source, ...]:
        """Active sources below the sync success target."""
        return tuple(s for s in self.active_sources
                     if s.success_rate is not None and s.success_rate < SYNC_SUCCESS_TARGET)


def quality_overview(ctx: ServiceContext, fields: Sequence[str] = STANDARD_FIELDS) -> QualityOverview:
    unknown = [f for f in fields if f not in STANDARD_FIELDS]
    if unknown:
        raise ValueError(f"not standard contact fields: {', '.join(unknown)}")
    with ctx.reader() as uow:
        count = uow.contacts.count()
        filled = uow.contacts.completeness(list(fields))
        sources = tuple(with_run_counts(uow, uow.sources.all()))  # connector-fed: success rate from runs
    return QualityOverview(count, {f: filled.get(f, 0) for f in fields}, sources)
