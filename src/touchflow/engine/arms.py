"""The arm assigner the engine hands to ``advance``: splits with a running experiment assign by permuted blocks
per stratum (ADR 0031, ``domain.measurement.experiment_blocks``); every other split keeps its plain hash. A
journey with a running version experiment (ADR 0034) assigns each entrant a version the same way, at entry.

One per batch, in the batch's transaction: the running experiments are read once, on the first split pass; each
assignment increments its stratum's counter in the same transaction, so a rolled-back batch takes its numbers
back with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from touchflow.domain.conditions.predicates import ContactFacts
from touchflow.domain.journeys.model import Split
from touchflow.domain.journeys.transitions import Run
from touchflow.domain.measurement.experiment_blocks import block_arm, stratum_of
from touchflow.domain.measurement.experiment_rules import Arm, Experiment
from touchflow.domain.unit_of_work import UnitOfWork

__all__ = ["StratifiedArms"]


class StratifiedArms:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._running: dict[tuple[str, str], Experiment] | None = None

    def _experiment(self, journey_id: str, node_id: str) -> Experiment | None:
        if self._running is None:
            self._running = {(journey_id, e.spec.split_node): e for journey_id, e in
                             self.uow.experiments.running_on_splits()}
        return self._running.get((journey_id, node_id))

    def experiment_versions(self) -> list[tuple[str, int]]:
        """(journey id, version) of every arm of a running version experiment: what routing must be able to load."""
        self._experiment("", "")
        assert self._running is not None
        return [(journey_id, v) for (journey_id, node), e in self._running.items() if not node
                for v in e.spec.versions]

    def version_arm(self, journey_id: str, contact_id: str) -> tuple[Arm, dict[str, Any]] | None:
        """The version arm of an entrant of a journey under a version experiment (None: no experiment)."""
        experiment = self._experiment(journey_id, "")
        if experiment is None or not experiment.spec.versions:
            return None
        spec = experiment.spec
        stratum = stratum_of(spec.strata, self.uow.experiments.segments_of(contact_id, spec.strata))
        n = self.uow.experiments.next_in_stratum(experiment.id, stratum)
        arm = spec.arms[block_arm([a.share for a in spec.arms], spec.key, stratum, n)]
        return arm, {"experiment": spec.key, "arm": arm.name, "version": arm.version, "stratum": stratum, "n": n}

    def __call__(self, run: Run, node: Split, facts: ContactFacts) -> tuple[int, Mapping[str, Any]] | None:
        experiment = self._experiment(run.journey_id, node.id)
        if experiment is None or len(experiment.spec.arms) != len(node.paths):
            return None  # no experiment, or a later version reshaped the split: the plain hash
        spec = experiment.spec
        segments = self.uow.experiments.segments_of(run.contact_id, spec.strata)  # facts may not carry segments
        stratum = stratum_of(spec.strata, segments)
        n = self.uow.experiments.next_in_stratum(experiment.id, stratum)
        arm = block_arm([a.share for a in spec.arms], spec.key, stratum, n)
        return arm, {"experiment": spec.key, "stratum": stratum, "n": n}
