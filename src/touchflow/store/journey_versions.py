"""Journey versions: the immutable published definitions (version >= 1) and the builder's draft (version 0).

A part of ``SqlJourneyRepository`` (store/journeys.py), kept in its own module by idea: the repository stays
one object behind the one ``JourneyRepository`` port, and a journey's versions are read and written here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from touchflow.domain.journeys.ports import JourneyVersionInfo
from touchflow.store.tables import journey_runs, journey_versions

__all__ = ["JourneyVersionQueries"]


class JourneyVersionQueries:
    """Versions of a journey: publish one, read one (definition or source text), list them, keep the draft."""

    _c: Connection

    def add_version(self, journey_id: str, version: int, definition: dict[str, Any], source_text: str,
                    at: datetime, by: str) -> None:
        self._c.execute(insert(journey_versions).values(journey_id=journey_id, version=version,
                                                        definition=definition, source_text=source_text,
                                                        published_at=at, published_by=by))

    def version(self, journey_id: str, version: int) -> dict[str, Any] | None:
        row = self._c.execute(select(journey_versions.c.definition).where(
            journey_versions.c.journey_id == journey_id, journey_versions.c.version == version)).first()
        return None if row is None else dict(row[0])

    def source_text(self, journey_id: str, version: int) -> str | None:
        row = self._c.execute(select(journey_versions.c.source_text).where(
            journey_versions.c.journey_id == journey_id, journey_versions.c.version == version)).first()
        return None if row is None else str(row[0])

    def versions(self, journey_id: str, running: Collection[str]) -> list[JourneyVersionInfo]:
        """Published versions, newest first, each with its runs in one of the ``running`` statuses."""
        counts: dict[int, int] = dict(self._c.execute(
            select(journey_runs.c.version, func.count()).where(journey_runs.c.journey_id == journey_id,
                                                                journey_runs.c.status.in_(list(running)))
            .group_by(journey_runs.c.version)).all())
        rows = self._c.execute(select(journey_versions.c.version, journey_versions.c.published_at,
                                      journey_versions.c.published_by)
                               .where(journey_versions.c.journey_id == journey_id, journey_versions.c.version > 0)
                               .order_by(journey_versions.c.version.desc()))
        return [JourneyVersionInfo(int(r.version), r.published_at, str(r.published_by), int(counts.get(r.version, 0)))
                for r in rows]

    def save_draft(self, journey_id: str, definition: dict[str, Any], source_text: str, at: datetime,
                   by: str) -> None:
        """The builder's draft is version 0 of the journey (no run ever has it; reports skip it)."""
        self._c.execute(delete(journey_versions).where(journey_versions.c.journey_id == journey_id,
                                                       journey_versions.c.version == 0))
        self.add_version(journey_id, 0, definition, source_text, at, by)
