"""A worker process: the journey runtime and the dispatcher in a loop, stopped cleanly by SIGTERM.

Run as many as you like against PostgreSQL; they share the work through row locks. On SQLite,
run one (SQLite has one writer).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime, TickReport
from touchflow.services.context import ServiceContext

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, ctx: ServiceContext, batch_size: int = 1000, idle_sleep: float = 0.05,
                 dispatcher: Dispatcher | None = None, passes: Sequence[Callable[[], int]] = (),
                 daily: Callable[[], object] | None = None, daily_check_s: float = 3600.0) -> None:
        self.runtime = JourneyRuntime(ctx, batch_size, dispatcher=dispatcher or Dispatcher(ctx, batch_size))
        self.runtime.passes.extend(passes)
        self.idle_sleep = idle_sleep
        self.stop = threading.Event()
        # a pass that does its own once-a-day check (the audit chain's anchor): run hourly beside the loop
        self.daily = daily
        self.daily_check_s = daily_check_s

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT finish the current batch, then stop (the batch commits or rolls back whole)."""
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the current batch", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run_once(self, max_ticks: int = 100) -> tuple[TickReport, int]:
        """Everything due now, then return (for scripts and cron): ticks until nothing is due at this
        moment any more. Returns the work done and the number of ticks."""
        total, ticks = TickReport(), 0
        while ticks < max_ticks:
            report = self.runtime.tick()
            total.add(report)
            ticks += 1
            due = self.runtime.next_due()
            if report.work == 0 or due is None or due > self.runtime.ctx.clock.now():
                break
        return total, ticks

    def run(self) -> None:
        if self.daily is not None:
            threading.Thread(target=self._daily_loop, name="touchflow-daily", daemon=True).start()
        self.runtime.run_forever(self.stop, self.idle_sleep)

    def _daily_loop(self) -> None:
        assert self.daily is not None
        while not self.stop.is_set():
            try:
                self.daily()
            except Exception:  # an unwritable anchor file must not stop the worker; it says so each hour
                log.exception("daily pass (audit anchor) failed")
            self.stop.wait(self.daily_check_s)

    def close(self) -> None:
        """Release the dispatcher's send threads and channel connections."""
        if self.runtime.dispatcher is not None:
            self.runtime.dispatcher.close()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="touchflow-worker", daemon=True)
        thread.start()
        return thread
