"""What connectors need from the store (implemented in store/connectors.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from touchflow.domain.connectors.model import Connector, ConnectorRun
from touchflow.domain.events import JSONValue

__all__ = ["ConnectorRepository"]


class ConnectorRepository(Protocol):
    def get(self, name: str) -> Connector | None: ...
    def all(self) -> list[Connector]: ...
    def save(self, connector: Connector) -> None:
        """Insert or replace the definition (name, kind, settings, secret, mapping, cursor column, schedule,
        status, next_run_at); the committed cursor value and the lease are left as they are."""
        ...

    def due(self, now: datetime, limit: int) -> list[Connector]:
        """Active scheduled connectors whose next run is at or before ``now`` and that nobody runs."""
        ...

    def claim(self, name: str, owner: str, now: datetime, until: datetime, *, steal_from: str | None = None
              ) -> bool:
        """Take the run lease (one run at a time per connector, across workers): free, expired or held by
        ``steal_from`` (a dead process); True when this owner holds it now. A conditional UPDATE: any database."""
        ...

    def lease_owner(self, name: str) -> tuple[str | None, datetime | None]: ...
    def extend(self, name: str, owner: str, until: datetime) -> bool: ...
    def release(self, name: str, owner: str, next_run_at: datetime | None) -> None: ...
    def commit_cursor(self, name: str, value: JSONValue, columns: Sequence[str] | None) -> None:
        """The cursor after a committed batch: the next run starts there."""
        ...

    def add_run(self, run: ConnectorRun) -> None: ...
    def update_run(self, run: ConnectorRun) -> None: ...
    def runs(self, name: str, limit: int) -> list[ConnectorRun]:
        """Newest first."""
        ...

    def running(self, name: str) -> list[ConnectorRun]: ...
    def run_counts(self, since: datetime | None = None) -> dict[str, tuple[int, int]]:
        """Per connector: (finished runs, succeeded runs)."""
        ...

    def set_status(self, name: str, status: str, next_run_at: datetime | None, at: datetime) -> None: ...
