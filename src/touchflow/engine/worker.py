"""A worker process: the journey runtime and the dispatcher in a loop, stopped cleanly by SIGTERM.

Run as many as you like against PostgreSQL; they share the work through row locks. On SQLite,
run one (SQLite has one writer).

Beside the loop, two threads of their own: the daily pass (the audit chain's anchor) and the background passes
(``VACUUM``/``ANALYZE`` of the store's tables, the segments' scheduled full recomputes). Each takes as long as the
data is big: in the tick, the first vacuum of a month's events partition or the hourly recompute of twenty
segments would stop routing, timers and sends for as long (ADR 0066).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from touchflow.engine.dispatcher import Dispatcher
from touchflow.engine.runtime import JourneyRuntime, TickReport
from touchflow.engine.tick_report import part_name
from touchflow.services.context import ServiceContext

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, ctx: ServiceContext, batch_size: int = 1000, idle_sleep: float = 0.05,
                 dispatcher: Dispatcher | None = None, passes: Sequence[Callable[[], int]] = (),
                 daily: Callable[[], object] | None = None, daily_check_s: float = 3600.0,
                 background: Sequence[Callable[[], object]] = (), background_every_s: float = 15.0,
                 scheduled_refresh: bool = True,
                 report_load: Callable[[float], object] | None = None, report_every_s: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runtime = JourneyRuntime(ctx, batch_size, dispatcher=dispatcher or Dispatcher(ctx, batch_size),
                                      scheduled_refresh=scheduled_refresh)
        self.runtime.passes.extend(passes)
        self.idle_sleep = idle_sleep
        self.stop = threading.Event()
        # a pass that does its own once-a-day check (the audit chain's anchor): run hourly beside the loop
        self.daily = daily
        self.daily_check_s = daily_check_s
        # slow chores (each gates itself by the clock): their own thread, so the tick never waits for them
        self.background = list(background)
        self.background_every_s = background_every_s
        # capacity (A8): the share of each window spent inside ticks goes to ``report_load`` (services/capacity.py)
        self.report_load = report_load
        self.report_every_s = report_every_s
        self._monotonic = monotonic
        self._window_start = monotonic()
        self._busy = 0.0

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT finish the current batch, then stop (the batch commits or rolls back whole)."""
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping after the current batch", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run_once(self, max_ticks: int = 100) -> tuple[TickReport, int]:
        """Everything due now, the background passes included, then return (for scripts and cron): ticks until
        nothing is due at this moment any more. Returns the work done and the number of ticks."""
        total, ticks = TickReport(), 0
        while ticks < max_ticks:
            report = self.runtime.tick()
            total.add(report)
            ticks += 1
            due = self.runtime.next_due()
            if report.work == 0 or due is None or due > self.runtime.ctx.clock.now():
                break
        for chore in self.background:
            with total.timed(part_name(chore)):
                chore()
        return total, ticks

    def run(self) -> None:
        self.start_side_threads()
        if self.report_load is None:
            self.runtime.run_forever(self.stop, self.idle_sleep)
            return
        while not self.stop.is_set():
            self.tick_and_measure()

    def run_background(self) -> None:
        """Only the background passes, in this thread, until ``stop``: ``touchflow worker --background only``, a
        process of their own beside workers that tick without them (``--background off``). In a worker's thread
        their Python work shares the GIL with a tick that is busy all the time (ADR 0070)."""
        self._side_loop(self.background, self.background_every_s, "background pass failed")

    def run_background_once(self) -> None:
        """Each background pass once (``--background only --once``)."""
        for chore in self.background:
            chore()

    def start_side_threads(self) -> list[threading.Thread]:
        """The daily pass and the background passes, each in a daemon thread until ``stop`` (``run`` starts them;
        a caller that drives ``tick_and_measure`` itself starts them here)."""
        loops = [("touchflow-background", self.background, self.background_every_s, "background pass failed")]
        if self.daily is not None:
            loops.append(("touchflow-daily", [self.daily], self.daily_check_s, "daily pass (audit anchor) failed"))
        threads = [threading.Thread(target=self._side_loop, args=(chores, every, failed), name=name, daemon=True)
                   for name, chores, every, failed in loops if chores]
        for thread in threads:
            thread.start()
        return threads

    def tick_and_measure(self) -> TickReport | None:
        """One tick of ``run``'s loop: the tick's time counts as busy, an idle sleep does not; once a window has
        passed its busy share is reported (a failed report is logged: the work goes on). The tick's report, or
        None when it failed."""
        started = self._monotonic()
        report = None
        try:
            report = self.runtime.tick()
        except Exception:  # keep the worker alive; the batch rolled back and will be claimed again
            log.exception("journey runtime tick failed")
        self._busy += self._monotonic() - started
        if report is None or report.work == 0:
            self.stop.wait(self.idle_sleep)
        self._maybe_report()
        return report

    def _maybe_report(self) -> None:
        now = self._monotonic()
        elapsed = now - self._window_start
        if self.report_load is None or elapsed < self.report_every_s:
            return
        share = min(1.0, self._busy / elapsed) if elapsed > 0 else 0.0
        self._window_start, self._busy = now, 0.0
        try:
            self.report_load(share)
        except Exception:
            log.exception("capacity report failed")

    def _side_loop(self, chores: Sequence[Callable[[], object]], every_s: float, failed: str) -> None:
        """Each chore, then a wait of ``every_s``, until ``stop``. A failure is logged and tried again next turn: an
        unwritable anchor file or a vacuum that timed out must not stop the worker."""
        while not self.stop.is_set():
            for chore in chores:
                try:
                    chore()
                except Exception:
                    log.exception(failed)
            self.stop.wait(every_s)

    def close(self) -> None:
        """Release the dispatcher's send threads and channel connections."""
        if self.runtime.dispatcher is not None:
            self.runtime.dispatcher.close()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="touchflow-worker", daemon=True)
        thread.start()
        return thread
