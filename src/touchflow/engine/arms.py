"""The arm assigner the engine hands to ``advance``: splits with a running experiment assign by permuted blocks
per stratum (ADR 0031, ``domain.measurement.experiment_blocks``); every other split keeps its plain hash.

One per batch, in the batch's transaction: the running experiments are read once, on the first split pass; each
assignment increments its stratum's counter in the same transaction, so a rolled-back batch takes its numbers
back with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from touchflow.domain.journeys import Split
from touchflow.domain.measurement.experiment_blocks import block_arm, stratum_of
from touchflow.domain.measurement.experiment_rules import Experiment
from touchflow.domain.ports import UnitOfWork
from touchflow.domain.predicates import ContactFacts
from touchflow.domain.transitions import Run

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
