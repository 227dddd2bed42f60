"""What the experiment use cases need from storage: the experiments themselves, and reads over the raw tables
(run steps of a split, events, segment stays) that an analysis is computed from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from touchflow.domain.measurement.experiment_rules import Experiment

__all__ = ["Assignment", "ExperimentRepository", "SegmentStay", "UnitEvent"]


@dataclass(frozen=True)
class Assignment:
    """A run that passed the split: which edge (arm) it took and when."""

    contact_id: str
    run_id: str
    edge: str
    at: datetime


@dataclass(frozen=True)
class UnitEvent:
    contact_id: str
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class SegmentStay:
    contact_id: str
    segment: str
    entered_at: datetime
    left_at: datetime | None


class ExperimentRepository(Protocol):
    def add(self, experiment: Experiment, journey_id: str) -> None: ...
    def get(self, key: str) -> Experiment | None: ...
    def all(self) -> list[Experiment]: ...
    def save(self, experiment: Experiment) -> None:
        """Spec and plan (a draft's edits), state, stop, winner, roll-out and the last analysis."""
        ...

    def assignments(self, journey_id: str, node_id: str, since: datetime, until: datetime) -> list[Assignment]:
        """Every pass through the split in [since, until], oldest first; ``node_id`` "" (a version experiment):
        every run that entered (not held out), its edge ``v<n>`` for the version it runs."""
        ...

    def events_of_assigned(self, journey_id: str, node_id: str, since: datetime, until: datetime,
                           types: Collection[str], lookback: timedelta) -> list[UnitEvent]:
        """Events of ``types`` of contacts the split assigned since ``since``, from ``since - lookback`` on."""
        ...

    def stays_of_assigned(self, journey_id: str, node_id: str, since: datetime, until: datetime,
                          segment_keys: Collection[str]) -> list[SegmentStay]:
        """Stays in the segments ``segment_keys`` of the contacts the split assigned, that began before ``until``."""
        ...

    def entries_between(self, journey_id: str, since: datetime, until: datetime) -> int:
        """Runs of the journey entered in [since, until) (the plan's traffic estimate)."""
        ...

    # --- stratified assignment (0023) ---

    def running_on_splits(self) -> list[tuple[str, Experiment]]:
        """(journey id, experiment) of every running experiment: the splits (and journeys, for version
        experiments) whose arms the engine assigns."""
        ...

    def next_in_stratum(self, experiment_id: str, stratum: str) -> int:
        """The stratum's entrant number (0, 1, 2 …), counted atomically in the caller's transaction."""
        ...

    def segments_of(self, contact_id: str, keys: Collection[str]) -> set[str]:
        """Which of the segments ``keys`` the contact is in now."""
        ...
