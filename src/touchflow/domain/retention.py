"""Retention: how long finished rows are kept, so that no table grows without bound (A8; ADR 0048).

A setting document (``workspace_settings`` key ``retention``) gives days per kind of row; ``None`` keeps forever.
Rows still in use are never purged: only outbox messages in a final state, write-back rows sent or discarded,
run steps of runs that ended, and worker bookkeeping. Minimums protect what other features read back: frequency
caps and alert baselines read the outbox, experiments and traces read run steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from touchflow.domain.errors import FieldError

__all__ = ["KINDS", "MINIMUM_DAYS", "RetentionPolicy", "RetentionRepository", "parse_policy"]

# kind → the fewest days a person may set (what other features read back needs at least this much history)
MINIMUM_DAYS: dict[str, int] = {"events": 90, "outbox": 90, "run_steps": 90, "writeback": 7, "capacity": 1}
KINDS = tuple(MINIMUM_DAYS)


@dataclass(frozen=True)
class RetentionPolicy:
    events: int | None = None  # segments may ask "ever did X": events are kept unless a person sets a limit
    outbox: int | None = 400  # messages sent, failed, dead or skipped
    run_steps: int | None = 400  # steps of runs that completed, exited or failed
    writeback: int | None = 30  # CRM write-backs sent or discarded
    capacity: int | None = 7  # capacity samples and reports of workers that stopped

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_policy(document: Mapping[str, Any]) -> RetentionPolicy:
    unknown = sorted(set(document) - set(KINDS))
    if unknown:
        raise FieldError(unknown[0], f"unknown kind (known: {', '.join(KINDS)})")
    values: dict[str, int | None] = {}
    for kind in KINDS:
        if kind not in document:
            continue
        days = document[kind]
        if days is None:
            values[kind] = None
            continue
        if isinstance(days, bool) or not isinstance(days, int) or not MINIMUM_DAYS[kind] <= days <= 36_500:
            raise FieldError(kind, f"days between {MINIMUM_DAYS[kind]} and 36500, or null to keep forever; "
                                   f"got {days!r}")
        values[kind] = days
    return RetentionPolicy(**{**RetentionPolicy().to_json(), **values})


class RetentionRepository(Protocol):
    def purge(self, kind: str, before: Any, limit: int) -> int:
        """Delete up to ``limit`` finished rows of ``kind`` older than ``before``; how many went."""
        ...

    # monthly partitions of events (PostgreSQL, ADR 0054); on SQLite there are none and these do nothing
    def prepare_months(self, now: Any) -> list[str]:
        """Create the partitions of this month and the next ones; the names created."""
        ...

    def detach_expired(self, before: Any) -> list[str]:
        """Detach every month that ended at or before ``before``; the names detached."""
        ...

    def detached_months(self) -> list[str]:
        """Months detached and not yet dropped (their ids may still be in the duplicate check)."""
        ...

    def forget_ids(self, table: str, after: str, limit: int) -> str | None:
        """Free the next ``limit`` ids (after ``after``) of a detached month; the last one, None when done."""
        ...

    def drop_month(self, table: str) -> int:
        """Drop a detached month whose ids are freed; the rows it held."""
        ...
