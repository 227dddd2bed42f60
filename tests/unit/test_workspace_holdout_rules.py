"""The workspace control group's assignment: the share holds over many contacts, stable, independent of keys."""

from __future__ import annotations

import math

from touchflow.domain.measurement.holdouts import Holdout, held_out
from touchflow.domain.measurement.workspace_holdout import validate_share, workspace_held_out


def test_share_within_three_sigma_over_ten_thousand_contacts() -> None:
    n, share = 10_000, 0.05
    ids = [f"01HZ{i:010d}" for i in range(n)]
    held = [c for c in ids if workspace_held_out(share, "q3", c)]
    assert abs(len(held) - n * share) <= 3 * math.sqrt(n * share * (1 - share))
    assert held == [c for c in ids if workspace_held_out(share, "q3", c)]  # stable
    other = {c for c in ids if workspace_held_out(share, "q4", c)}  # a new key draws a new group
    assert len(other & set(held)) <= n * share * share + 3 * math.sqrt(n * share * share)
    journey = {c for c in ids if held_out(Holdout(share, "q3"), c, "welcome")}  # independent of a journey's
    assert journey != set(held) and len(journey & set(held)) < 0.2 * len(held)


def test_share_bounds() -> None:
    assert validate_share(0.2) is None and validate_share(0.05) is None
    assert validate_share(0) and validate_share(0.21) and validate_share(-0.1)
