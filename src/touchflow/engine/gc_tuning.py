"""The garbage collector of a long-running touchflow process (worker, API server).

The hot paths allocate many short-lived objects (rows, runs, step records) while the process keeps a large,
stable heap (the schema, the catalog, caches). With CPython's default thresholds (a young collection every
700 net allocations, a full one every 100 of those) the collector walks that heap again and again during a
batch: the timer drain measured ~20 % faster with the settings below (bench_timers, docs/benchmarks.md).
Reference counting still frees almost everything at once; only reference cycles wait longer.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_gc"]

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze what is alive after start-up (never scanned again) and collect the young generation less often.
    Idempotent; call it once the process is wired."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 100)
