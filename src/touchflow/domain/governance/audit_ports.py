"""Repositories the audit chain needs, as Protocols (``store/audit.py`` implements them on SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from touchflow.domain.events import JSONValue
from touchflow.domain.governance.audit_chain import AuditRow, Checkpoint

__all__ = ["NOT_GIVEN", "AuditLog", "AuditQuery", "AuditRepository"]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()  # before=/after= left out: no digest (None is a state: "did not exist")


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("contact." matches contact.patch …)
    subject: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    request_id: str | None = None
    after_id: int = 0  # paging: rows with a greater id, in id order


class AuditLog(Protocol):
    def record(self, actor: str, action: str, subject: str, details: dict[str, JSONValue], at: datetime, *,
               before: Any = NOT_GIVEN, after: Any = NOT_GIVEN) -> None:
        """Append one row to the chain; ``before``/``after``: the subject's state (kept as sha256 digests)."""
        ...

    def rows_after(self, after_id: int, limit: int) -> list[AuditRow]: ...
    def last(self) -> AuditRow | None: ...
    def checkpoint(self) -> Checkpoint | None:
        """Where the kept chain starts after a purge (None: it starts at the first row ever written)."""
        ...

    def search(self, query: AuditQuery, limit: int) -> list[AuditRow]: ...
    def purge_before(self, cutoff: datetime, actor: str, at: datetime) -> tuple[int, Checkpoint] | None:
        """Delete the oldest rows, all written before ``cutoff``, as one prefix of the chain, after appending
        the purge row (``PURGE_ACTION``: the checkpoint the kept chain starts from). (how many, checkpoint);
        None when no row is that old."""
        ...


class AuditRepository(AuditLog, Protocol):
    """The hash-chained audit log (``domain/governance``): ``record(actor, action, subject, details, at)``."""
