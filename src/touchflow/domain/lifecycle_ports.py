"""What lifecycle stages, tiers and lead scoring need from the store, as a Protocol and plain records."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["LifecycleRepository", "ModelVersion", "ScoreSnapshot", "StageChange", "StoredProposal", "StoredScore",
           "TimedEvent"]

TimedEvent = tuple[str, datetime, Mapping[str, Any] | None]  # (type, occurred_at, properties if loaded)


@dataclass(frozen=True)
class StageChange:
    contact_id: str
    stage: str
    from_stage: str | None
    at: datetime
    rule: str  # the machine's rule, or "set_elsewhere" when a journey, import or person had set it
    by: str  # "touchflow:lifecycle" or the lineage source that set it


@dataclass(frozen=True)
class StoredScore:
    contact_id: str
    score: float
    model_version: int
    computed_at: datetime
    mql_at: datetime | None = None
    sql_at: datetime | None = None


@dataclass(frozen=True)
class ScoreSnapshot:
    score: float
    model_version: int
    at: datetime


@dataclass(frozen=True)
class ModelVersion:
    version: int
    name: str
    document: dict[str, Any]
    created_at: datetime
    created_by: str
    note: str


@dataclass(frozen=True)
class StoredProposal:
    id: str
    model_version: int
    kind: str
    target: str
    current: float
    proposed: float
    summary: str
    status: str  # open | accepted | superseded
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    accepted_version: int | None = None


class LifecycleRepository(Protocol):
    # --- which contacts to look at
    def touched_since(self, after: tuple[datetime, int] | None, limit: int,
                      ignore_types: Collection[str]) -> tuple[list[str], tuple[datetime, int] | None]:
        """Contacts with events received since the mark ``(received_at, events seen with that stamp)``,
        in a bounded step, and the new mark."""
        ...
    def live_ids(self, after_id: str | None, limit: int) -> list[str]: ...
    # --- facts (``span``: the ids are a dense, sorted range of all contacts: read by range, not by list)
    def created_at(self, ids: Collection[str]) -> dict[str, datetime]: ...
    def last_interactions(self, ids: Sequence[str], ignore_types: Collection[str], now: datetime,
                          span: bool = False) -> dict[str, datetime]: ...
    def interaction_counts(self, ids: Sequence[str], ignore_types: Collection[str], since: datetime,
                           now: datetime, span: bool = False) -> dict[str, int]: ...
    def events_of(self, ids: Sequence[str], types: Collection[str], with_properties: Collection[str],
                  since: datetime | None, now: datetime, span: bool = False) -> dict[str, list[TimedEvent]]: ...
    # --- stages
    def last_stage_changes(self, ids: Collection[str]) -> dict[str, StageChange]: ...
    def add_stage_changes(self, rows: Sequence[StageChange]) -> None: ...
    def stage_history(self, contact_id: str, limit: int) -> list[StageChange]: ...
    # --- scores
    def scores(self, ids: Collection[str]) -> dict[str, StoredScore]: ...
    def save_scores(self, rows: Sequence[StoredScore]) -> None: ...
    def add_score_history(self, rows: Sequence[tuple[str, ScoreSnapshot]]) -> None: ...
    def score_history(self, contact_id: str, limit: int) -> list[ScoreSnapshot]: ...
    def publish_scores(self, ids: Sequence[str], at: datetime) -> None:
        """Copy each contact's score into its ``custom.lead_score`` attribute (for segments and conditions)."""
        ...
    # --- models and calibration
    def latest_model(self) -> ModelVersion | None: ...
    def model(self, version: int) -> ModelVersion | None: ...
    def add_model(self, model: ModelVersion) -> None: ...
    def converted(self, ids: Sequence[str], after: datetime, until: datetime, span: bool = False) -> set[str]: ...
    def feedback(self, ids: Sequence[str], until: datetime, span: bool = False) -> dict[str, str]: ...
    def add_proposals(self, rows: Sequence[StoredProposal]) -> None: ...
    def proposals(self, status: str | None) -> list[StoredProposal]: ...
    def decide_proposal(self, proposal_id: str, status: str, by: str, at: datetime,
                        accepted_version: int | None) -> bool: ...
    def supersede_open_proposals(self, at: datetime) -> None: ...
