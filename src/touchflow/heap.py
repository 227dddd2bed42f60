"""A long-running process's heap after start-up: frozen, so that Python's full collections no longer walk it.

Everything imported and wired at start (FastAPI, SQLAlchemy, the catalogs, the journey runtime: hundreds of
thousands of objects) lives as long as the process. CPython's full collection walks all of it whenever enough new
objects survive — ~200 ms on the 2-core reference machine, which was the whole of the console's slow requests at
1M contacts (docs/benchmarks.md, "Console pages on a quiet machine"). ``gc.freeze()`` moves them to a permanent
generation that collections skip; what becomes garbage among them later is still freed by reference counting
(only cycles among them would stay). ``touchflow serve`` and ``touchflow worker`` call it once wired (ADR 0058).
The collector's thresholds are left at CPython's defaults.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; how many objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
