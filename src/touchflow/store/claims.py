"""Claims shared by several workers on PostgreSQL: the rows, then their contacts.

A claim picks rows with ``FOR UPDATE SKIP LOCKED`` and then tries a transaction-scoped advisory lock on each
picked row's contact, so two workers never move one contact at once (ADR 0005). The advisory lock must be
tried on the picked rows only: written as a filter of the outer query, the planner may push it into a scan of
the whole table (a hash join after the table's statistics change), and one batch then took an advisory lock
per row of the table — 12,000 of them in a timer drain of 20,000 runs, until PostgreSQL's lock table ran out
("out of shared memory").
"""

from __future__ import annotations

from sqlalchemy import CTE, Column, Connection, Select, func, select

__all__ = ["locked_claims", "queue_size"]


def queue_size(c: Connection, key: Column[int], at_most: int | None = None) -> int:
    """A queue's rows, counted up to ``at_most``: the worker asks every tick how much waits, and behind a backlog
    of millions a full count took 282 ms (the inbox in the hour-long soak); it only needs to know how much it
    can take."""
    rows = select(key)
    if at_most is not None:
        rows = rows.limit(at_most)
    return int(c.execute(select(func.count()).select_from(rows.subquery())).scalar_one())


def locked_claims(picked: Select[tuple[str, str]]) -> CTE:
    """``picked`` selects (id, contact_id) of the rows to claim, row-locked; the ids of those whose contact
    this transaction could lock, as a CTE to join the table to. Both steps are materialized, so the lock is
    tried on the picked rows and nowhere else."""
    claimed = picked.cte("claimed").prefix_with("MATERIALIZED")
    return (select(claimed.c.id)
            .where(func.pg_try_advisory_xact_lock(func.hashtextextended(claimed.c.contact_id, 0)))
            .cte("locked").prefix_with("MATERIALIZED"))
