"""What a run is handed (``RunContext``) and what it hands back (``RunOutcome``), whichever way the kind pulls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from touchflow.domain.connectors import Connector
from touchflow.domain.events import JSONValue
from touchflow.engine.connectors.kinds import SourceRequest
from touchflow.services.context import ServiceContext

__all__ = ["CommitCursor", "RunContext", "RunFailed", "RunOutcome"]

CommitCursor = Callable[[JSONValue, Sequence[str] | None], None]


@dataclass
class RunOutcome:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    warnings: list[str] = field(default_factory=list)
    cursor_after: JSONValue = None
    columns: list[str] | None = None  # the source's columns as seen, for the next run's comparison
    details: dict[str, JSONValue] = field(default_factory=dict)


class RunFailed(RuntimeError):
    """The run cannot go on (a mapped column removed, the source unreachable after retries); the message says why.
    ``outcome`` holds what was done before (batches committed stay committed)."""

    def __init__(self, message: str, outcome: RunOutcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome or RunOutcome()


@dataclass
class RunContext:
    ctx: ServiceContext
    connector: Connector
    request: SourceRequest
    commit_cursor: CommitCursor  # store the cursor after a committed batch (and keep the run's lease)
    batch_size: int = 2000
    work_dir: Path | None = None  # dlt's working directory (a temporary one when None)
    route: bool = False  # events reach journey triggers (realtime connectors) or are history (pulls)
    keep_alive: Callable[[], None] | None = None  # renews the run's lease during a long read
