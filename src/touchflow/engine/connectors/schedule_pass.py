"""The worker's connector pass: every ``every`` of clock time, start the due connectors' runs.

Runs go on a background thread (one at a time per worker), so a long pull never holds up journeys, timers and
the dispatcher in the tick; across workers the lease row lets only one process run a connector at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from touchflow.engine.connectors.runner import OpenSecret, RunOptions, run_connector
from touchflow.services.connectors import ConnectorBusy, due_connectors
from touchflow.services.context import ServiceContext
from touchflow.services.periodic import Every

__all__ = ["ConnectorPass"]

log = logging.getLogger(__name__)


class ConnectorPass:
    def __init__(self, ctx: ServiceContext, open_secret: OpenSecret | None, options: RunOptions | None = None,
                 every: timedelta = timedelta(seconds=30), *, threaded: bool = True, limit: int = 20) -> None:
        self.ctx = ctx
        self.open_secret = open_secret
        self.options = options or RunOptions()
        self.gate = Every(ctx.clock, every)
        self.threaded = threaded
        self.limit = limit
        self._thread: threading.Thread | None = None

    def __call__(self) -> int:
        if self._thread is not None and self._thread.is_alive():
            return 0
        if self.gate.due() is None:
            return 0
        try:
            due = [c.name for c in due_connectors(self.ctx, self.limit)]
        except Exception:  # never stop the worker for a connector: the next check tries again
            log.exception("connector pass failed")
            return 0
        if not due:
            return 0
        if self.threaded:
            self._thread = threading.Thread(target=self.run_all, args=(due,), name="touchflow-connectors",
                                            daemon=True)
            self._thread.start()
        else:
            self.run_all(due)
        return len(due)

    def run_all(self, names: list[str]) -> None:
        for name in names:
            try:
                run_connector(self.ctx, name, actor="system:scheduler", trigger="schedule",
                              open_secret=self.open_secret, options=self.options)
            except ConnectorBusy:
                continue  # another worker runs it
            except Exception:
                log.exception("connector %s: run could not start", name)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
