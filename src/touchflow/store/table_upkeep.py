"""Vacuum what autovacuum has left (PostgreSQL): the queue tables the worker empties as fast as they fill.

The inbox, the segment queue and the outbox delete or rewrite every row they hold; only ``VACUUM`` makes that
space reusable and clears the dead entries at the head of the index every claim starts from. A server with
autovacuum off (this project's CI machine has it off) or behind it would let those tables grow without bound
(issue 17's soak: "table sizes bounded"). The worker therefore vacuums any table of its schema with more dead
rows than autovacuum's own default trigger (50 + 20 % of the live rows, and at least ``MIN_DEAD``) that no vacuum
has touched for ``QUIET``: where autovacuum works, this finds nothing to do.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, text

__all__ = ["DEAD_SHARE", "MIN_DEAD", "QUIET", "vacuum_dead_tables"]

log = logging.getLogger(__name__)
MIN_DEAD = 10_000
DEAD_SHARE = 0.2  # of the live rows, as autovacuum_vacuum_scale_factor's default
QUIET = timedelta(minutes=2)  # a table vacuumed (by anyone) this recently is left alone
_LOCK_KEY = "touchflow.table_upkeep"  # one worker at a time vacuums; the others skip the pass

_DEAD = text("""
    SELECT relname FROM pg_stat_user_tables
    WHERE schemaname = current_schema()
      AND n_dead_tup > GREATEST(:min_dead, 50 + :share * n_live_tup)
      AND COALESCE(GREATEST(last_vacuum, last_autovacuum), '-infinity') < now() - make_interval(secs => :quiet)
    ORDER BY n_dead_tup DESC
""")


def vacuum_dead_tables(engine: Engine, min_dead: int = MIN_DEAD, share: float = DEAD_SHARE,
                       quiet: timedelta = QUIET) -> list[str]:
    """``VACUUM (ANALYZE)`` every table past the trigger; the tables vacuumed (none on SQLite, whose freed pages
    are reused without it)."""
    if engine.dialect.name != "postgresql":
        return []
    done: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:  # VACUUM runs outside transactions
        if not c.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": _LOCK_KEY}).scalar():
            return []
        try:
            names = c.execute(_DEAD, {"min_dead": min_dead, "share": share,
                                      "quiet": quiet.total_seconds()}).scalars().all()
            for name in names:
                quoted = '"' + str(name).replace('"', '""') + '"'
                c.exec_driver_sql(f"VACUUM (ANALYZE) {quoted}")  # takes no lock that stops reads or writes
                done.append(str(name))
        finally:
            c.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": _LOCK_KEY})
    if done:
        log.info("vacuumed %s (dead rows past autovacuum's trigger)", ", ".join(done))
    return done
