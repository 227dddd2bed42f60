"""Vacuum what autovacuum has left (PostgreSQL): the queue tables the worker empties as fast as they fill.

The inbox, the segment queue and the outbox delete or rewrite every row they hold; only ``VACUUM`` makes that
space reusable and clears the dead entries at the head of the index every claim starts from. A server with
autovacuum off (this project's CI machine has it off) or behind it would let those tables grow without bound
(issue 17's soak: "table sizes bounded"). The worker therefore vacuums any table of its schema with more dead
rows than autovacuum's own default trigger (50 + 20 % of the live rows, and at least ``MIN_DEAD``) that no vacuum
has touched for ``QUIET``: where autovacuum works, this finds nothing to do.

It also analyzes what autovacuum would have analyzed (more rows changed since the last ``ANALYZE`` than 50 + 10 %
of the live rows, and at least ``MIN_CHANGED``). Without it a table keeps the statistics it had when it was
analyzed last — for this month's events partition, those of its creation, empty — and the planner goes on
planning as for an empty table: in the hour-long soak the contact pass's read of 300 contacts' events scanned
the whole partition through the wrong index (1.6 s at 1.5M rows, growing with every event stored).

And it vacuums what autovacuum would vacuum for its inserts alone (PostgreSQL 13+: more rows inserted since the
last vacuum than 1,000 + 20 % of the live rows). Tables that only grow — the events partitions, run steps — never
have dead rows, so nothing else vacuums them; their visibility map stays unset and every index-only scan of them
(the segment counts, the rollups' sequence ranges) reads the heap as well. Each such vacuum reads only the pages
filled since the last one, so its cost follows the feed, not the table's size. It runs in the worker's upkeep
thread (ADR 0066), never in a tick.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, text

__all__ = ["CHANGED_SHARE", "DEAD_SHARE", "INSERTED_SHARE", "MIN_CHANGED", "MIN_DEAD", "MIN_INSERTED", "QUIET",
           "analyze_changed_tables", "upkeep_tables", "vacuum_dead_tables", "vacuum_inserted_tables"]

log = logging.getLogger(__name__)
MIN_DEAD = 10_000
DEAD_SHARE = 0.2  # of the live rows, as autovacuum_vacuum_scale_factor's default
MIN_CHANGED = 10_000
CHANGED_SHARE = 0.1  # of the live rows, as autovacuum_analyze_scale_factor's default
MIN_INSERTED = 10_000
INSERTED_SHARE = 0.2  # of the live rows, as autovacuum_vacuum_insert_scale_factor's default
QUIET = timedelta(minutes=2)  # a table vacuumed (by anyone) this recently is left alone
_LOCK_KEY = "touchflow.table_upkeep"  # one worker at a time vacuums; the others skip the pass

# the tables past a trigger: {counter} past GREATEST(:least, :base + :share * n_live_tup), and no {kind} in :quiet
_PAST = """
    SELECT relname FROM pg_stat_user_tables
    WHERE schemaname = current_schema()
      AND {counter} > GREATEST(:least, :base + :share * n_live_tup)
      AND COALESCE(GREATEST(last_{kind}, last_auto{kind}), '-infinity') < now() - make_interval(secs => :quiet)
    ORDER BY {counter} DESC
"""


def upkeep_tables(engine: Engine) -> list[str]:
    """The worker's upkeep: vacuum the tables full of dead rows and those grown by inserts, analyze those whose
    rows changed; the tables touched."""
    return [*vacuum_dead_tables(engine), *vacuum_inserted_tables(engine), *analyze_changed_tables(engine)]


def vacuum_dead_tables(engine: Engine, min_dead: int = MIN_DEAD, share: float = DEAD_SHARE,
                       quiet: timedelta = QUIET) -> list[str]:
    """``VACUUM (ANALYZE)`` every table past the trigger; the tables vacuumed (none on SQLite, whose freed pages
    are reused without it). ``VACUUM`` takes no lock that stops reads or writes."""
    done = _each_past(engine, "n_dead_tup", "vacuum", "VACUUM (ANALYZE)", 50, min_dead, share, quiet)
    if done:
        log.info("vacuumed %s (dead rows past autovacuum's trigger)", ", ".join(done))
    return done


def analyze_changed_tables(engine: Engine, min_changed: int = MIN_CHANGED, share: float = CHANGED_SHARE,
                           quiet: timedelta = QUIET) -> list[str]:
    """``ANALYZE`` every table whose changed rows passed the trigger; the tables analyzed (none on SQLite: its
    planner has no statistics until ``ANALYZE`` is run once, so it never plans from stale ones)."""
    done = _each_past(engine, "n_mod_since_analyze", "analyze", "ANALYZE", 50, min_changed, share, quiet)
    if done:
        log.info("analyzed %s (rows changed past autovacuum's analyze trigger)", ", ".join(done))
    return done


def vacuum_inserted_tables(engine: Engine, min_inserted: int = MIN_INSERTED, share: float = INSERTED_SHARE,
                           quiet: timedelta = QUIET) -> list[str]:
    """``VACUUM`` every table whose inserts since its last vacuum passed autovacuum's insert trigger; the tables
    vacuumed (none on SQLite, or on a PostgreSQL older than 13, which does not count them)."""
    if engine.dialect.name == "postgresql" and (engine.dialect.server_version_info or (0,)) < (13,):
        return []
    done = _each_past(engine, "n_ins_since_vacuum", "vacuum", "VACUUM", 1000, min_inserted, share, quiet)
    if done:
        log.info("vacuumed %s (rows inserted past autovacuum's insert trigger)", ", ".join(done))
    return done


def _each_past(engine: Engine, counter: str, kind: str, command: str, base: int, least: int, share: float,
               quiet: timedelta) -> list[str]:
    """``command`` on every table past the trigger, one worker at a time (the others skip); outside a transaction,
    as ``VACUUM`` must run."""
    if engine.dialect.name != "postgresql":
        return []
    done: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        if not c.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": _LOCK_KEY}).scalar():
            return []
        try:
            names = c.execute(text(_PAST.format(counter=counter, kind=kind)),
                              {"base": base, "least": least, "share": share, "quiet": quiet.total_seconds()}
                              ).scalars().all()
            for name in names:
                c.exec_driver_sql(f"{command} " + '"' + str(name).replace('"', '""') + '"')
                done.append(str(name))
        finally:
            c.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": _LOCK_KEY})
    return done
