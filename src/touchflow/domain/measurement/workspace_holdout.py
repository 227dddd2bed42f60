"""The workspace control group: a share of all contacts that no journey treats (ADR 0029, "workspace holdout").

Assignment is a hash like the journey holdout's (``holdouts.assignment_point``) but salted by the workspace group
key instead of a journey key, so one contact is held out of every journey at once, stays out while the group
runs, and lands independently of any journey's own control group. Uplift is measured on the whole population
(every contact, treated or not), so it counts what the journeys add together, not per journey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from touchflow.domain.measurement.holdouts import assignment_point

__all__ = ["MAX_WORKSPACE_SHARE", "SETTING_KEY", "WorkspaceGroup", "validate_share", "workspace_held_out"]

MAX_WORKSPACE_SHARE = 0.2  # a fifth of the customers unreached is already a costly experiment
SETTING_KEY = "holdout.workspace"
_SALT = "\x00workspace"  # not a valid journey key, so the workspace split never coincides with a journey's


@dataclass(frozen=True, slots=True)
class WorkspaceGroup:
    """One workspace control group, kept after it ends (every past group stays queryable)."""

    id: str
    key: str
    share: float
    started_at: datetime
    ended_at: datetime | None
    set_by: str


def validate_share(share: float) -> str | None:
    """The reason a share is refused, or None."""
    if not 0 < share <= MAX_WORKSPACE_SHARE:
        return f"between 0 (exclusive) and {MAX_WORKSPACE_SHARE}"
    return None


def workspace_held_out(share: float, key: str, contact_id: str) -> bool:
    return assignment_point(contact_id, _SALT, key) < share
