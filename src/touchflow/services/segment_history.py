"""A segment's membership history as a whole (S-requirements, D4): who joined and who left, when — each stay of a
contact in the segment, newest first, paged by the stay's sequence number; contacts shown by name and masked
phone/email (``contact_labels``). A contact's own history is ``segments.contact_segment_history``.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.domain.segments.ports import MembershipStay
from touchflow.services.contacts import ContactLabel, contact_labels
from touchflow.services.context import ServiceContext
from touchflow.services.segments import SegmentNotFound

__all__ = ["HistoryLine", "HistoryPage", "segment_history_page"]


@dataclass(frozen=True)
class HistoryLine:
    seq: int
    stay: MembershipStay
    label: ContactLabel | None  # None when the reader may not see contacts


@dataclass(frozen=True)
class HistoryPage:
    lines: list[HistoryLine]
    before: int | None  # the page asked for (None: the newest)
    next_before: int | None  # pass as ``before`` for the next (older) page; None on the last page


def segment_history_page(ctx: ServiceContext, key: str, before: int | None = None, limit: int = 50, *,
                         with_labels: bool = True) -> HistoryPage:
    """SegmentNotFound for an unknown or archived segment."""
    limit = max(1, min(limit, 200))
    with ctx.reader() as uow:
        record = uow.segments.get(key)
        if record is None or record.status != "active":
            raise SegmentNotFound(key)
        found = uow.segments.stays_in(record.id, before, limit + 1)
    page = found[:limit]
    labels = contact_labels(ctx, [s.contact_id for _, s in page]) if with_labels else {}
    return HistoryPage([HistoryLine(seq, stay, labels.get(stay.contact_id)) for seq, stay in page], before,
                       page[-1][0] if len(found) > limit else None)
