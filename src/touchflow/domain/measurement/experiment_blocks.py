"""Stratified assignment for an experiment's split: permuted blocks per stratum (ADR 0031, "stratified
assignment").

A plain hash split is balanced only on average: within a small stratum (say, the VIP segment) the arms can drift
apart by chance, which costs power and can trip the per-stratum sample-ratio test. Permuted blocks fix the counts:
the entrants of one stratum are numbered 0, 1, 2 … (a counter in the entry transaction); entrant ``n`` takes
position ``n mod B`` of block ``n // B``, a permutation of the arms in proportion to their shares, shuffled by a
seed of (experiment key, stratum, block index). After any number of entrants, each arm's count in a stratum is
within one block of its share: ``|count_i − n·share_i| < B``. The permutation is unpredictable without the key
and reproducible from it (an audit can recompute every assignment).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Collection, Sequence

__all__ = ["MAX_BLOCK", "OTHER", "block_arm", "block_counts", "stratum_of"]

MAX_BLOCK = 100  # shares in whole percents always fit; finer shares are rounded into a block of 100
OTHER = "other"  # a contact in none of the strata (the same name the analysis uses)


def block_counts(shares: Sequence[float]) -> tuple[int, ...]:
    """How many places each arm has in one block: the smallest block whose counts match the shares exactly, or
    a block of ``MAX_BLOCK`` by largest remainders."""
    total = sum(shares)
    if not shares or total <= 0 or any(s < 0 for s in shares):
        raise ValueError("shares must be non-negative and add up to more than 0")
    fractions = [s / total for s in shares]
    for size in range(len(shares), MAX_BLOCK + 1):
        exact = [f * size for f in fractions]
        if all(abs(c - round(c)) < 1e-9 and (round(c) > 0 or f == 0) for c, f in zip(exact, fractions, strict=True)):
            return tuple(round(c) for c in exact)
    raw = [f * MAX_BLOCK for f in fractions]
    counts: list[int] = [math.floor(c) for c in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[:MAX_BLOCK - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


def _block(counts: Sequence[int], experiment_key: str, stratum: str, index: int) -> list[int]:
    places = [arm for arm, count in enumerate(counts) for _ in range(count)]
    seed = hashlib.sha256("\x00".join((experiment_key, stratum, str(index))).encode()).digest()
    random.Random(int.from_bytes(seed[:16], "big")).shuffle(places)
    return places


def block_arm(shares: Sequence[float], experiment_key: str, stratum: str, n: int) -> int:
    """The arm (index into ``shares``) of the ``n``-th entrant (from 0) of ``stratum``."""
    counts = block_counts(shares)
    size = sum(counts)
    return _block(counts, experiment_key, stratum, n // size)[n % size]


def stratum_of(strata: Sequence[str], segments: Collection[str]) -> str:
    """The first of the experiment's strata the contact is in (the order the experiment names them), or OTHER."""
    return next((key for key in strata if key in segments), OTHER)
