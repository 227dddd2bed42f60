"""What lifecycle stages, tiers and lead scoring need from the store, as a Protocol and plain records."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["EventRow", "LifecycleReader", "LifecycleRepository", "ModelVersion", "ScoreSnapshot", "ScoreState",
           "ScoreWrite", "StageChange", "StoredProposal", "StoredScore"]

# (contact_id, type, occurred_at in integer microseconds since the Unix epoch, properties if loaded)
EventRow = tuple[str, str, int, Mapping[str, Any] | None]
# (score, model_version, reached MQL, reached SQL): what rescoring compares a new score with
ScoreState = tuple[float, int, bool, bool]
# (contact_id, score, add a history row, reached MQL now, reached SQL now): one row of rescoring's writes
ScoreWrite = tuple[str, float, bool, bool, bool]


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
    def touched_since(self, after: tuple[datetime, int] | None, limit: int, ignore_types: Collection[str],
                      upto: datetime | None = None) -> tuple[list[str], tuple[datetime, int] | None]:
        """Contacts with events received since the mark ``(received_at, events seen with that stamp)``,
        in a bounded step (up to ``upto`` when given), and the new mark."""
        ...
    def live_ids(self, after_id: str | None, limit: int) -> list[str]: ...
    def live_count(self) -> int: ...
    def reader(self) -> LifecycleReader | None:
        """How a worker process reads what scoring reads, on its own connection (None: this database cannot be
        opened twice, e.g. SQLite in memory)."""
        ...
    # --- facts (``span``: the ids are a dense, sorted range of all contacts: read by range, not by list)
    def created_at(self, ids: Collection[str]) -> dict[str, datetime]: ...
    def last_interactions(self, ids: Sequence[str], ignore_types: Collection[str], now: datetime,
                          span: bool = False) -> dict[str, datetime]: ...
    def interaction_counts(self, ids: Sequence[str], ignore_types: Collection[str], since: datetime,
                           now: datetime, span: bool = False) -> dict[str, int]: ...
    def event_rows(self, ids: Sequence[str], types: Collection[str], with_properties: Collection[str],
                   since: datetime | None, now: datetime, span: bool = False) -> list[EventRow]:
        """Events of these types with ``since < occurred_at <= now``, ordered by contact, type and time;
        properties only for the types in ``with_properties``."""
        ...
    def attribute_values(self, ids: Sequence[str], fields: Sequence[str], with_tags: bool,
                         span: bool = False) -> dict[str, tuple[tuple[Any, ...], frozenset[str]]]:
        """Each contact's values of ``fields`` (in that order, None when missing) and, if asked, its tags."""
        ...
    # --- stages
    def last_stage_changes(self, ids: Collection[str]) -> dict[str, StageChange]: ...
    def latest_stage_totals(self, since: datetime) -> list[tuple[str, str | None, bool, int]]:
        """Live contacts counted by their latest stage change: (stage, from stage, whether it happened at or
        after ``since``, contacts), in one aggregate."""
        ...
    def add_stage_changes(self, rows: Sequence[StageChange]) -> None: ...
    def stage_history(self, contact_id: str, limit: int) -> list[StageChange]: ...
    # --- scores
    def scores(self, ids: Collection[str]) -> dict[str, StoredScore]: ...
    def score_states(self, ids: Sequence[str], span: bool = False) -> dict[str, ScoreState]: ...
    def write_scores(self, rows: Sequence[ScoreWrite], model_version: int, at: datetime) -> None:
        """Upsert each row's score (computed by one model version at ``at``; ``mql_at`` / ``sql_at`` set to ``at``
        where the row says the level was reached now, kept once set), add a ``score_history`` row where it says
        so, and copy the score to ``custom.lead_score`` where it differs."""
        ...
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


class LifecycleReader(Protocol):
    """Picklable. In a worker process, ``open`` gives a repository on a read-only transaction of that process's
    own connection (one per process, kept between calls)."""

    def open(self) -> AbstractContextManager[LifecycleRepository]: ...
