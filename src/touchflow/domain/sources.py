"""The registry of data sources (D1, P1): where records come from and how much each is trusted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["DEFAULT_PRIORITIES", "SOURCE_KINDS", "Source", "SyncMode", "default_source"]

SOURCE_KINDS = ("crm", "website", "ecommerce", "social", "offline", "custom", "manual", "api")
SyncMode = Literal["realtime", "daily"]

# Higher wins a field conflict. The CRM is the system of record for who a customer is.
DEFAULT_PRIORITIES: dict[str, int] = {
    "crm": 100, "ecommerce": 80, "offline": 60, "website": 50, "social": 40, "api": 40, "custom": 30,
    "manual": 1000,
}


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    priority: int
    sync_mode: SyncMode
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    last_sync_at: datetime | None = None
    sync_runs: int = 0  # finished connector runs into this source (issue 14)
    sync_runs_ok: int = 0  # of them, succeeded

    @property
    def success_rate(self) -> float | None:
        """A6 KR: data sync success ≥ 95 %. A source fed by connectors: the share of their runs that succeeded;
        otherwise (files, the API push) the share of received records that were accepted."""
        if self.sync_runs:
            return self.sync_runs_ok / self.sync_runs
        return None if self.received == 0 else self.accepted / self.received


def default_source(name: str) -> Source:
    """A source first seen by name: its kind is guessed from the name, its priority from the kind."""
    lowered = name.lower()
    kind = next((k for k in SOURCE_KINDS if lowered == k or lowered.startswith(k + "_")
                 or lowered.startswith(k + "-")), "custom")
    mode: SyncMode = "realtime" if kind in ("ecommerce", "website", "api", "manual") else "daily"
    return Source(name, kind, DEFAULT_PRIORITIES[kind], mode)
