"""Experiment governance and analysis on units built as data: each refusal names its rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.measurement.experiment_analysis import Unit, analyse, rollout_decision, rollout_journey_data
from touchflow.domain.measurement.experiment_rules import Experiment, ExperimentSpec, check_create, parse_spec

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PATHS = ((50.0, "a"), (50.0, "b"))


def _spec(**extra: object) -> ExperimentSpec:
    return parse_spec({"key": "t", "journey": "j", "split": "s", "strata": ["vip"], "mde": 0.05, **extra}, PATHS)


def _units(rates: tuple[float, float], unsub: tuple[float, float] = (0.0, 0.0), n: int = 3000,
           seed: int = 1) -> list[Unit]:
    rng = random.Random(seed)
    units = []
    for i in range(n):
        arm = i % 2
        at = START + timedelta(days=rng.uniform(0, 15))
        outcomes = {"conversion": at + timedelta(hours=2) if rng.random() < rates[arm] else None,
                    "unsubscribe": at + timedelta(hours=3) if rng.random() < unsub[arm] else None,
                    "complaint": None}
        units.append(Unit(f"c{i}", arm, at, "vip" if i % 3 == 0 else "other", outcomes,
                          {"conversion": float(rng.random() < 0.3)}))
    return units


def _experiment(days: float = 16) -> tuple[Experiment, datetime]:
    spec = _spec()
    return Experiment("e1", spec, "running", START, "t", started_at=START), START + timedelta(days=days)


def test_create_rules() -> None:
    small = parse_spec({"key": "t", "strata": []}, ((97.0, "a"), (3.0, "b")))
    rules = [r.rule for r in check_create(small, set())]
    assert rules == ["arm-share", "strata"]
    with pytest.raises(ValueError, match="primary: one of"):
        parse_spec({"key": "t", "primary": "profit"}, PATHS)
    with pytest.raises(ValueError, match="revenue_mde: the smallest revenue difference"):
        parse_spec({"key": "t", "primary": "revenue"}, PATHS)
    with pytest.raises(ValueError, match="revenue_sd: "):
        parse_spec({"key": "t", "primary": "revenue", "revenue_mde": 500}, PATHS)
    with pytest.raises(ValueError, match="versions: no published version 3"):
        parse_spec({"key": "t", "versions": [1, 3]}, None, (1, 2))
    with pytest.raises(ValueError, match="shares: one percent per version"):
        parse_spec({"key": "t", "versions": [1, 2], "shares": [50, 40]}, None, (1, 2))
    versions = parse_spec({"key": "t", "versions": [2, 1], "shares": [96, 4]}, None, (1, 2))
    assert [(a.name, a.edge, a.version) for a in versions.arms] == [("v2", "v2", 2), ("v1", "v1", 1)]
    assert [r.rule for r in check_create(versions, set())] == ["arm-share", "strata"]
    with pytest.raises(ValueError, match="arms: one distinct name per path"):
        parse_spec({"key": "t", "arms": ["x", "x"]}, PATHS)


def test_a_a_after_sixteen_days_is_refused_for_confidence_only() -> None:
    experiment, now = _experiment()
    analysis = analyse(experiment.spec, _units((0.1, 0.1)), START, now)
    winner, refusals = rollout_decision(experiment, analysis, now)
    assert winner is None and [r.rule for r in refusals] == ["confidence"]
    assert "≥ 95 % confidence on conversion" in refusals[0].message
    assert analysis.looks == 16 and set(analysis.srm_strata) == {"vip", "other"}


def test_a_clear_winner_after_sixteen_days_may_roll_out_but_not_before_fourteen() -> None:
    experiment, now = _experiment()
    units = _units((0.1, 0.2))
    winner, refusals = rollout_decision(experiment, analyse(experiment.spec, units, START, now), now)
    assert winner == "B" and refusals == []
    early = START + timedelta(days=10)
    _, refusals = rollout_decision(experiment, analyse(experiment.spec, units, START, early), early)
    assert [r.rule for r in refusals] == ["min-duration"]


def test_a_guardrail_that_degrades_is_harm_and_blocks_the_rollout() -> None:
    experiment, now = _experiment()
    analysis = analyse(experiment.spec, _units((0.1, 0.2), unsub=(0.01, 0.05)), START, now)
    assert analysis.harm == (("B", "unsubscribe"),)
    _, refusals = rollout_decision(experiment, analysis, now)
    assert [r.rule for r in refusals] == ["guardrail"]


def test_a_broken_split_is_a_sample_ratio_mismatch() -> None:
    experiment, now = _experiment()
    units = [u for u in _units((0.1, 0.1)) if not (u.arm == 1 and u.contact_id.endswith(("1", "3")))]
    analysis = analyse(experiment.spec, units, START, now)
    _, refusals = rollout_decision(experiment, analysis, now)
    assert "srm" in [r.rule for r in refusals] and "all" in analysis.srm_flagged


def test_rollout_rewires_the_split_to_the_winner_and_drops_the_losing_branch() -> None:
    data = {"key": "j", "nodes": {"wait": {"kind": "wait", "duration": "1d", "next": "split"},
                                  "split": {"kind": "split", "paths": [{"percent": 50, "next": "a"},
                                                                       {"percent": 50, "next": "b"}]},
                                  "a": {"kind": "send", "next": "end"}, "b": {"kind": "send", "next": "end"},
                                  "end": {"kind": "exit"}}}
    out = rollout_journey_data(data, "split", "b")
    assert list(out["nodes"]) == ["wait", "b", "end"] and out["nodes"]["wait"]["next"] == "b"
    assert out["start"] == "wait" and "split" in data["nodes"]  # the input is left alone
