"""Stored duplicate suggestions (D2 去重 at 1M contacts, ADR 0049): drained from the queue of changed contacts by
the worker's periodic pass, read by the page in index order.

A changed contact's pairs are dropped and found again by key joins: contacts of its city with the same name key
(a name matches itself at 100), and — only for names long enough that a different name can reach the threshold
(``reachable_lengths``) — contacts of its city with a name of such a length. Each is scored by
``domain.duplicates.score_pair``, the rules ``suggest_duplicates`` applies, so the stored pairs are the ones
the pairwise computation finds at ``STORED_THRESHOLD`` (tested against it).
"""

from __future__ import annotations

from datetime import timedelta

from touchflow.domain.duplicates import (
    STORED_THRESHOLD,
    DuplicateSuggestion,
    reachable_lengths,
    score_pair,
)
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = [
    "INLINE_PENDING",
    "DuplicateSweeper",
    "pending_duplicates",
    "refresh_duplicate_index",
    "stored_duplicates",
]

CHUNK = 2000  # contacts compared again per transaction
INLINE_PENDING = 2000  # a page read drains a queue this short itself (a few contacts changed since the pass)
_LONGEST = 200  # contacts.name is String(200)


_KEY_MODE = "duplicates.key_mode"


def _check_key_mode(ctx: ServiceContext) -> None:
    """When encryption was turned on (or its keys became readable) since the keys were made, every contact is
    compared again: a plain name and its blind index never meet in a join."""
    with ctx.reader() as uow:
        stored = (uow.guards.setting(_KEY_MODE) or {}).get("mode")
        if stored == uow.duplicates.key_mode():
            return
    with ctx.uow() as uow:
        mode = uow.duplicates.key_mode()
        if (uow.guards.lock_setting(_KEY_MODE) or {}).get("mode") != mode:
            if stored is not None:
                uow.duplicates.requeue_all()
            uow.guards.set_setting(_KEY_MODE, {"mode": mode}, "touchflow", ctx.clock.now())
            uow.commit()


def _refresh_chunk(ctx: ServiceContext) -> int:
    with ctx.uow() as uow:
        ids = uow.duplicates.pending(CHUNK)
        if not ids:
            return 0
        found = uow.duplicates.rekey(ids)
        pairs: dict[tuple[str, str], tuple[DuplicateSuggestion, float, float]] = {}
        groups: dict[tuple[str, str], list[str]] = {}
        neighbours = uow.duplicates.same_name(found)
        for n in neighbours:
            groups.setdefault((n.city, n.name), []).append(n.contact_id)
        people = {n.contact_id: n for n in neighbours}
        for mine in found:
            others = [people[i] for i in groups.get((mine.city, mine.name), ())]
            lengths = reachable_lengths(len(mine.name), STORED_THRESHOLD, _LONGEST)
            if lengths:
                others += uow.duplicates.other_names(mine, lengths)
            for other in others:
                if other.contact_id == mine.contact_id:
                    continue
                scored = score_pair(mine, other)
                if scored is not None:
                    pairs[(scored[0].first, scored[0].second)] = scored
        uow.duplicates.add_pairs(sorted(pairs.values(), key=lambda p: (p[0].first, p[0].second)))
        uow.duplicates.done(ids)
        uow.commit()
        return len(ids)


def refresh_duplicate_index(ctx: ServiceContext, limit: int | None = None) -> int:
    """Compare the queued contacts again (all of them, or about ``limit``); returns how many were taken."""
    _check_key_mode(ctx)
    done = 0
    while limit is None or done < limit:
        taken = _refresh_chunk(ctx)
        if not taken:
            break
        done += taken
    return done


PENDING_SHOWN = 10_000  # the page says "10,000+" past this


def pending_duplicates(ctx: ServiceContext, at_most: int = PENDING_SHOWN) -> int:
    """Contacts waiting for the comparison, counted up to ``at_most``."""
    with ctx.reader() as uow:
        return uow.duplicates.pending_count(at_most)


def stored_duplicates(ctx: ServiceContext, limit: int, threshold: float) -> list[DuplicateSuggestion]:
    """The best ``limit`` stored pairs at ``threshold`` (≥ ``STORED_THRESHOLD``), after draining a short queue."""
    assert threshold >= STORED_THRESHOLD
    _check_key_mode(ctx)
    if 0 < pending_duplicates(ctx, INLINE_PENDING + 1) <= INLINE_PENDING:
        refresh_duplicate_index(ctx)
    with ctx.reader() as uow:
        return uow.duplicates.best(limit, threshold)


class DuplicateSweeper:
    """What the worker's tick calls: at most every ``every``, a bounded drain of the queue."""

    def __init__(self, ctx: ServiceContext, every: timedelta = timedelta(seconds=30), per_pass: int = 20_000) -> None:
        self.ctx = ctx
        self.gate = Every(ctx.clock, every)
        self.per_pass = per_pass

    def __call__(self) -> int:
        if self.gate.due() is None:
            return 0
        return refresh_duplicate_index(self.ctx, self.per_pass)
