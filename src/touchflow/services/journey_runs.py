"""One journey's runs as the console lists them (J9): each contact's run with the contact's name and masked
phone/email, filtered by status and paged, newest entry first; the actions on one run are
``services.journeys.set_run_status`` (pause, resume, remove, retry — audited there).

The page is read by the database (``runs_page``: ``ORDER BY entered_at DESC, id DESC`` with ``LIMIT``/``OFFSET``)
and the counts by status by one ``GROUP BY``, in one read transaction; the labels of that page only are loaded
(``contact_labels``: two reads for the page).
"""

from __future__ import annotations

from dataclasses import dataclass

from touchflow.domain.journeys.ports import JourneyRecord
from touchflow.domain.journeys.transitions import Run
from touchflow.services.contacts import ContactLabel, contact_labels
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import JourneyError

__all__ = ["RUN_ACTIONS", "RUN_STATUSES", "RunLine", "RunPage", "journey_run_page"]

RUN_STATUSES = ("active", "waiting", "paused", "failed", "completed", "converted", "exited", "held_out")
# which action a run in each status offers (what set_run_status accepts for it)
RUN_ACTIONS: dict[str, tuple[str, ...]] = {"active": ("pause", "remove"), "waiting": ("pause", "remove"),
                                           "paused": ("resume", "remove"), "failed": ("retry",)}


@dataclass(frozen=True)
class RunLine:
    run: Run
    label: ContactLabel

    @property
    def actions(self) -> tuple[str, ...]:
        return RUN_ACTIONS.get(self.run.status, ())


@dataclass(frozen=True)
class RunPage:
    journey: JourneyRecord
    lines: list[RunLine]
    total: int  # runs matching the status filter
    counts: dict[str, int]  # every run of the journey by status
    status: str | None
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


def journey_run_page(ctx: ServiceContext, key: str, status: str | None = None, offset: int = 0,
                     limit: int = 50, *, with_labels: bool = True) -> RunPage:
    """JourneyError for an unknown journey or status (naming it). Without ``with_labels`` (a reader who may not
    read contacts, such as a viewer) each run shows the contact id only: no name, phone or email."""
    if status is not None and status not in RUN_STATUSES:
        raise JourneyError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    offset, limit = max(0, offset), max(1, min(limit, 200))
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key!r}")
        counts = uow.journeys.count_runs(record.id)
        page = uow.journeys.runs_page(record.id, status, offset, limit)
    total = counts.get(status, 0) if status is not None else sum(counts.values())
    labels = (contact_labels(ctx, [r.contact_id for r in page]) if with_labels
              else {r.contact_id: ContactLabel(r.contact_id, None, None, None) for r in page})
    return RunPage(record, [RunLine(r, labels[r.contact_id]) for r in page], total, counts, status, offset, limit)
