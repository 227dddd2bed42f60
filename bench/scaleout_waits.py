"""What PostgreSQL's backends of one database are doing, sampled while a workload runs.

Every ``interval`` seconds ``pg_stat_activity`` is read for the client backends of the database; each backend
counts once per sample under its state: ``CPU`` (active, no wait event: PostgreSQL is working), the wait event
of an active backend (``Lock:transactionid`` is a row lock, ``Lock:advisory`` a contact's lock, both with the
start of the waiting statement; ``LWLock:…``, ``IO:…``), ``in transaction, client working`` (idle in
transaction: the Python process holds the transaction and computes) or ``idle``. Enough to tell a hot row or
a lock from the CPU of the box.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import text

_QUERY = text("SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) "
              "FROM pg_stat_activity "
              "WHERE datname = :name AND backend_type = 'client backend' AND pid <> pg_backend_pid()")


class WaitSampler:
    def __init__(self, admin: Any, database: str, interval: float = 0.2) -> None:
        self._admin, self._database, self._interval = admin, database, interval
        self._stop = threading.Event()
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self._admin.connect() as c:
            while not self._stop.wait(self._interval):
                self.samples += 1
                for state, kind, event, query in c.execute(_QUERY, {"name": self._database}):
                    if state == "active" and kind == "Lock":  # which statement waits: the hot row's table
                        self.counts[f"{kind}:{event} in «{query}»"] += 1
                    elif state == "active":
                        self.counts[f"{kind}:{event}" if kind else "CPU"] += 1
                    elif state and state.startswith("idle in transaction"):
                        self.counts["in transaction, client working"] += 1
                    else:
                        self.counts["idle"] += 1

    def summary(self, top: int = 5) -> str:
        """The most frequent states as backends on average per sample, e.g. ``CPU 1.2, Lock:transactionid 0.4``."""
        if not self.samples:
            return "no samples"
        return ", ".join(f"{label} {n / self.samples:.1f}" for label, n in self.counts.most_common(top))
