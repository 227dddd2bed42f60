"""Permuted blocks per stratum: arm counts stay within one block of the shares after any number of entrants,
the order is reproducible from the key and differs between strata and keys."""

from __future__ import annotations

import pytest

from touchflow.domain.measurement.experiment_blocks import OTHER, block_arm, block_counts, stratum_of


@pytest.mark.parametrize(("shares", "counts"), [((50, 50), (1, 1)), ((30, 70), (3, 7)), ((20, 30, 50), (2, 3, 5)),
                                                 ((33.3, 33.3, 33.4), (33, 33, 34)), ((5, 95), (1, 19))])
def test_block_counts(shares: tuple[float, ...], counts: tuple[int, ...]) -> None:
    assert block_counts(shares) == counts


@pytest.mark.parametrize("shares", [(50, 50), (30, 70), (20, 30, 50)])
def test_counts_within_one_block_after_every_entrant(shares: tuple[float, ...]) -> None:
    size = sum(block_counts(shares))
    for stratum in ("vip", OTHER):
        counts = [0] * len(shares)
        for n in range(1000):
            counts[block_arm(shares, "copy_test", stratum, n)] += 1
            total = n + 1
            assert all(abs(c - total * s / 100) < size for c, s in zip(counts, shares, strict=True))
            if total % size == 0:  # a completed block is exact
                assert counts == [round(total * s / 100) for s in shares]


def test_order_is_reproducible_and_independent() -> None:
    seq = [block_arm((50, 50), "k", "vip", n) for n in range(200)]
    assert seq == [block_arm((50, 50), "k", "vip", n) for n in range(200)]
    assert seq != [block_arm((50, 50), "k", OTHER, n) for n in range(200)]
    assert seq != [block_arm((50, 50), "k2", "vip", n) for n in range(200)]
    assert 0.3 < sum(1 for a, b in zip(seq[::2], seq[1::2], strict=True) if a == 0) / 100 < 0.7  # not alternating


def test_stratum_is_the_first_named_segment() -> None:
    assert stratum_of(("vip", "new"), {"new", "vip"}) == "vip"
    assert stratum_of(("vip", "new"), {"new"}) == "new"
    assert stratum_of(("vip",), set()) == OTHER
