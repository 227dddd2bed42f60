"""What the stored duplicate suggestions need from storage (ADR 0049), as a Protocol; ``store`` implements it.

Blocking keys per live contact (city, a keyed digest of the name, its length, the company) and the pairs they
produce are kept in tables; contacts whose name, company, city or liveness changed wait in a queue that the
store's triggers fill and ``services/duplicate_index.py`` drains.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from touchflow.domain.duplicates import DuplicateCandidate, DuplicateSuggestion

__all__ = ["DuplicateIndex"]


class DuplicateIndex(Protocol):
    def key_mode(self) -> str:
        """How names are keyed now: "blind" (a keyed digest, names encrypted) or "plain"."""
        ...
    def requeue_all(self) -> int:
        """Queue every keyed contact again (the keys were made another way)."""
        ...
    def pending(self, limit: int) -> list[str]:
        """Contacts waiting to be compared again (lowest ids first)."""
        ...
    def pending_count(self, at_most: int) -> int:
        """Contacts waiting, counted up to ``at_most`` (a bounded read however long the queue)."""
        ...
    def rekey(self, ids: Collection[str]) -> list[DuplicateCandidate]:
        """Forget the keys and pairs of ``ids``; store the keys of those that are live with a name and a city,
        and return them."""
        ...
    def same_name(self, found: Sequence[DuplicateCandidate]) -> list[DuplicateCandidate]:
        """Keyed contacts sharing a city and a name with any of ``found`` (``found`` among them)."""
        ...
    def other_names(self, candidate: DuplicateCandidate, lengths: Sequence[int]) -> list[DuplicateCandidate]:
        """Keyed contacts of ``candidate``'s city with a different name of one of ``lengths`` characters."""
        ...
    def add_pairs(self, pairs: Sequence[tuple[DuplicateSuggestion, float, float]]) -> None:
        """Store suggestions with their name and company scores."""
        ...
    def done(self, ids: Collection[str]) -> None: ...
    def best(self, limit: int, threshold: float) -> list[DuplicateSuggestion]:
        """Stored pairs of two live contacts whose name and company scores both reach ``threshold``: best score
        first, then by contact ids."""
        ...
