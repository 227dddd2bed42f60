"""Experiments (A5), and the reads over run steps, events and segment stays their analyses use.

Who was assigned: a split experiment's contacts pass the split (``run_steps`` of kind ``split``); a version
experiment's (``node_id`` "") are the runs that entered (entry steps ``entered`` or ``scheduled``, not held out),
their arm the run's version, reported as the edge ``v<n>`` (ADR 0034)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from touchflow.domain.measurement.experiment_ports import Assignment, SegmentStay, UnitEvent
from touchflow.domain.measurement.experiment_rules import Experiment, ExperimentSpec, version_edge
from touchflow.store.tables import (
    events,
    experiment_strata,
    experiments,
    journey_runs,
    run_steps,
    segment_history,
    segment_members,
    segments,
)

__all__ = ["SqlExperimentRepository"]


def _experiment(r: Any) -> Experiment:
    return Experiment(r.id, ExperimentSpec.from_data(r.spec), r.state, r.created_at, r.created_by, r.started_at,
                      r.stopped_at, r.stop_reason, r.winner, r.rolled_out_version, dict(r.plan),
                      dict(r.last_analysis) if r.last_analysis is not None else None)


class SqlExperimentRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, experiment: Experiment, journey_id: str) -> None:
        e = experiment
        self._c.execute(experiments.insert().values(
            id=e.id, key=e.spec.key, journey_id=journey_id, split_node=e.spec.split_node, spec=e.spec.to_data(),
            plan=dict(e.plan), state=e.state, created_at=e.created_at, created_by=e.created_by,
            started_at=e.started_at, stopped_at=e.stopped_at, stop_reason=e.stop_reason, winner=e.winner,
            rolled_out_version=e.rolled_out_version, last_analysis=None))

    def get(self, key: str) -> Experiment | None:
        row = self._c.execute(select(experiments).where(experiments.c.key == key)).first()
        return None if row is None else _experiment(row)

    def all(self) -> list[Experiment]:
        return [_experiment(r) for r in self._c.execute(select(experiments).order_by(experiments.c.created_at,
                                                                                      experiments.c.key))]

    def save(self, experiment: Experiment) -> None:
        e = experiment
        self._c.execute(update(experiments).where(experiments.c.id == e.id).values(
            spec=e.spec.to_data(), plan=dict(e.plan), split_node=e.spec.split_node, state=e.state,
            started_at=e.started_at, stopped_at=e.stopped_at, stop_reason=e.stop_reason,
            winner=e.winner, rolled_out_version=e.rolled_out_version,
            last_analysis=dict(e.last_analysis) if e.last_analysis is not None else None))

    @staticmethod
    def _where(journey_id: str, node_id: str, since: datetime, until: datetime) -> tuple[Any, ...]:
        at = (run_steps.c.journey_id == journey_id, run_steps.c.at >= since, run_steps.c.at <= until)
        if node_id:
            return (*at, run_steps.c.node_id == node_id, run_steps.c.kind == "split")
        return (*at, run_steps.c.kind == "entry", run_steps.c.edge.in_(("entered", "scheduled")))

    def _assigned(self, journey_id: str, node_id: str, since: datetime, until: datetime) -> Any:
        return select(run_steps.c.contact_id).where(*self._where(journey_id, node_id, since, until)).distinct()

    def assignments(self, journey_id: str, node_id: str, since: datetime, until: datetime) -> list[Assignment]:
        if not node_id:  # a version experiment: the version each run entered on is its arm
            rows = self._c.execute(
                select(run_steps.c.contact_id, run_steps.c.run_id, journey_runs.c.version, run_steps.c.at)
                .join(journey_runs, journey_runs.c.id == run_steps.c.run_id)
                .where(*self._where(journey_id, node_id, since, until))
                .order_by(run_steps.c.at, run_steps.c.id))
            return [Assignment(r.contact_id, r.run_id, version_edge(r.version), r.at) for r in rows]
        rows = self._c.execute(
            select(run_steps.c.contact_id, run_steps.c.run_id, run_steps.c.edge, run_steps.c.at)
            .where(*self._where(journey_id, node_id, since, until))
            .order_by(run_steps.c.at, run_steps.c.id))
        return [Assignment(r.contact_id, r.run_id, r.edge or "", r.at) for r in rows]

    def events_of_assigned(self, journey_id: str, node_id: str, since: datetime, until: datetime,
                           types: Collection[str], lookback: timedelta) -> list[UnitEvent]:
        if not types:
            return []
        assigned = self._assigned(journey_id, node_id, since, until).subquery()
        rows = self._c.execute(
            select(events.c.contact_id, events.c.type, events.c.occurred_at, events.c.properties)
            .where(events.c.type.in_(sorted(types)), events.c.occurred_at >= since - lookback,
                   events.c.occurred_at <= until, events.c.contact_id.in_(select(assigned.c.contact_id))))
        return [UnitEvent(r.contact_id, r.type, r.occurred_at, dict(r.properties or {})) for r in rows]

    def stays_of_assigned(self, journey_id: str, node_id: str, since: datetime, until: datetime,
                          segment_keys: Collection[str]) -> list[SegmentStay]:
        if not segment_keys:
            return []
        assigned = self._assigned(journey_id, node_id, since, until).subquery()
        rows = self._c.execute(
            select(segment_history.c.contact_id, segments.c.key, segment_history.c.entered_at,
                   segment_history.c.left_at)
            .join(segments, segments.c.id == segment_history.c.segment_id)
            .where(segments.c.key.in_(sorted(segment_keys)), segment_history.c.entered_at <= until,
                   or_(segment_history.c.left_at.is_(None), segment_history.c.left_at >= since),
                   segment_history.c.contact_id.in_(select(assigned.c.contact_id))))
        return [SegmentStay(r.contact_id, r.key, r.entered_at, r.left_at) for r in rows]

    def entries_between(self, journey_id: str, since: datetime, until: datetime) -> int:
        return int(self._c.execute(select(func.count()).select_from(journey_runs).where(and_(
            journey_runs.c.journey_id == journey_id, journey_runs.c.entered_at >= since,
            journey_runs.c.entered_at < until))).scalar_one())

    # --- stratified assignment ---

    def running_on_splits(self) -> list[tuple[str, Experiment]]:
        rows = self._c.execute(select(experiments).where(experiments.c.state == "running")
                               .order_by(experiments.c.created_at, experiments.c.key))
        return [(r.journey_id, _experiment(r)) for r in rows]

    def next_in_stratum(self, experiment_id: str, stratum: str) -> int:
        """One statement: insert 1 or add 1, returning the new count (the row lock orders concurrent entries)."""
        dialect_insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(experiment_strata).values(experiment_id=experiment_id, stratum=stratum, entrants=1)
        statement = statement.on_conflict_do_update(
            index_elements=[experiment_strata.c.experiment_id, experiment_strata.c.stratum],
            set_={"entrants": experiment_strata.c.entrants + 1})
        return int(self._c.execute(statement.returning(experiment_strata.c.entrants)).scalar_one()) - 1

    def segments_of(self, contact_id: str, keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        return set(self._c.execute(
            select(segments.c.key).join(segment_members, segment_members.c.segment_id == segments.c.id)
            .where(segment_members.c.contact_id == contact_id, segments.c.key.in_(sorted(keys)))).scalars())
