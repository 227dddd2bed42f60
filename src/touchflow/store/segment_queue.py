"""The segment drain's queue on SQL (``segment_dirty``): contacts whose facts changed, with the reason, until a drain
has evaluated them (docs/subsystems/segments.md, ADR 0062)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, delete, func, select, update

from touchflow.store.bulk import bulk_insert
from touchflow.store.claims import queue_size
from touchflow.store.tables import segment_dirty, segments

__all__ = ["SegmentQueue"]

_CHUNK = 500


class SegmentQueue:
    """The queue's statements, shared by ``SqlSegmentRepository``."""

    _c: Connection
    _pg: bool

    def mark_dirty(self, touched: Collection[tuple[str, str]], at: datetime, batch: str | None = None) -> None:
        pairs = sorted(set(touched))
        if not pairs:
            return
        wanted = self._c.execute(select(segments.c.id).where(segments.c.kind == "dynamic",
                                                             segments.c.status == "active").limit(1)).first()
        if wanted is not None:
            bulk_insert(self._c, segment_dirty, ("contact_id", "reason", "at", "batch"),
                        [(c, r, at, batch) for c, r in pairs])

    def claim_dirty(self, batch: str, limit: int) -> int:
        oldest = (select(segment_dirty.c.seq).where(segment_dirty.c.batch.is_(None))
                  .order_by(segment_dirty.c.seq).limit(limit))
        if self._pg:
            oldest = oldest.with_for_update(skip_locked=True)
        done = self._c.execute(update(segment_dirty).where(segment_dirty.c.seq.in_(oldest.scalar_subquery()))
                               .values(batch=batch))
        return int(done.rowcount)

    def release_dirty(self, batch: str) -> None:
        self._c.execute(delete(segment_dirty).where(segment_dirty.c.batch == batch))

    def dirty_head(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` queued rows, (sequence number, reason), oldest first."""
        query = select(segment_dirty.c.seq, segment_dirty.c.reason).order_by(segment_dirty.c.seq).limit(limit)
        return [(int(r[0]), r[1]) for r in self._c.execute(query)]

    def release_rows(self, seqs: Collection[int]) -> None:
        """Delete exactly these queued rows (those a drain evaluated), a run of consecutive numbers at a time."""
        ordered = sorted(set(seqs))
        single: list[int] = []
        start = 0
        while start < len(ordered):
            end = start
            while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
                end += 1
            if end - start >= 8:
                self._c.execute(delete(segment_dirty).where(segment_dirty.c.seq.between(ordered[start], ordered[end])))
            else:
                single.extend(ordered[start:end + 1])
            start = end + 1
        for first in range(0, len(single), _CHUNK):
            self._c.execute(delete(segment_dirty).where(segment_dirty.c.seq.in_(single[first:first + _CHUNK])))

    def dirty_mark(self) -> int:
        return int(self._c.execute(select(func.coalesce(func.max(segment_dirty.c.seq), 0))).scalar_one())

    def dirty_size(self, at_most: int | None = None) -> int:
        """Queued rows, counted up to ``at_most`` (the worker asks every tick whether any wait: a full count read
        the whole queue each time)."""
        return queue_size(self._c, segment_dirty.c.seq, at_most)
