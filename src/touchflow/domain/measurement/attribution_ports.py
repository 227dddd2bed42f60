"""What attribution and control groups need from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from touchflow.domain.measurement.attribution import Conversion, Touch
from touchflow.domain.measurement.workspace_holdout import WorkspaceGroup

__all__ = ["AttributionRepository", "HoldoutAssignment", "HoldoutRecord", "RunOutcome"]


@dataclass(frozen=True, slots=True)
class HoldoutRecord:
    """A control group as it was published: one row per journey version that had one."""

    id: str
    journey_id: str
    journey_key: str
    version: int
    key: str
    share: float
    window_s: int | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class HoldoutAssignment:
    """Which arm one run landed in (``held_out``: the control arm, no messages)."""

    run_id: str
    journey_id: str
    version: int
    contact_id: str
    held_out: bool
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: str
    contact_id: str
    held_out: bool
    entered_at: datetime
    converted: bool
    revenue_cents: int


class AttributionRepository(Protocol):
    def touches(self, start: datetime, end: datetime, journey_id: str | None = None) -> list[Touch]:
        """Messages that left (``sent_at`` in [start, end)), webhooks excluded, with their journey key."""
        ...

    def orders(self, start: datetime, end: datetime, contact_ids: Sequence[str] | None = None) -> list[Conversion]:
        """``order_paid`` events in [start, end) with an order id and an amount (others are not revenue)."""
        ...

    def open_holdout(self, record: HoldoutRecord) -> None:
        """Start a control group for a newly published version; ends the journey's previous one."""
        ...

    def end_holdouts(self, journey_id: str, at: datetime) -> None: ...

    def holdouts(self, journey_id: str) -> list[HoldoutRecord]: ...

    def assign(self, rows: Sequence[HoldoutAssignment]) -> None: ...

    def outcomes(self, journey_id: str, version: int, goal_event: str, window_s: int) -> list[RunOutcome]:
        """Each assigned run of the version: did the goal event come within the window after entry, and the
        ``order_paid`` revenue in that window (each order id once)."""
        ...

    # --- the workspace control group (0023) ---

    def open_workspace_group(self, group: WorkspaceGroup) -> None:
        """Start a workspace control group; the caller has ended the previous one."""
        ...

    def end_workspace_group(self, at: datetime) -> WorkspaceGroup | None:
        """End the running group (if any) and return it as it was."""
        ...

    def workspace_groups(self) -> list[WorkspaceGroup]:
        """Every workspace control group, oldest first."""
        ...

    def current_workspace_group(self) -> WorkspaceGroup | None: ...

    def contacts_before(self, at: datetime) -> list[str]:
        """Ids of the contacts created before ``at`` (merged ones excluded): a workspace group's population."""
        ...
