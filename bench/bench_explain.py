"""``metrics explain`` before and after ADR 0056 (counted in SQL), in process, alternately in one sitting.

    PYTHONPATH=src:bench:. python bench/bench_explain.py --database COPY [--rounds 15] [--days 7 90]
                                                      [--by template device send_hour]

``COPY``: a copy of a ``console_dataset`` file (the schema upgrade ``init_database`` applies changes it). For each
period length and dimension, on journey ``j0``, the current period ending at the dataset's clock and the base
period just before it: the message-by-message algorithm as it was (``sent_between`` → a ``MessageOutcome`` per
message → Python grouping) and the service as it is now are run one after the other ``--rounds`` times, their
answers checked equal every time; printed: the median and p95 of each, their ratio, the rows the database handed
to Python, the SQL statements, and the Python function calls of one run (cProfile), with the load average —
counts hold on a busy machine, times do not.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event
from tests.integration.explain_reference import reference_explain

from benchlib import log, percentile
from console_dataset import T0
from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.services.explain import Explanation, explain
from touchflow.services.guarding import guardrail_policy


def before(app: Application, metric: str, journey: str, start: datetime, end: datetime, by: str) -> Explanation:
    """The algorithm before ADR 0056 (tests/integration/explain_reference.py), the base period just before."""
    with app.services.reader() as uow:
        zone = ZoneInfo(guardrail_policy(uow).default_timezone)
        return reference_explain(uow, zone, metric, journey, start, end, start - (end - start), start, by)


def after(app: Application, metric: str, journey: str, start: datetime, end: datetime, by: str) -> Explanation:
    return explain(app.services, metric, journey, start, end, by=by)


def _calls(run: Any) -> int:
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


def _rows(app: Application, name: str, metric: str, start: datetime, end: datetime, by: str) -> int:
    """Rows the database hands to Python: before, the messages, their outcome events (and tags); after, the
    cells (one per segment and period)."""
    base_start = start - (end - start)
    with app.services.reader() as uow:
        record = uow.journeys.get("j0")
        assert record is not None
        alerts: Any = uow.alerts
        if name == "after":
            group = {"template": "template", "version": "version", "channel": "channel", "provider": "domain",
                     "device": "device", "send_hour": "hour"}.get(by, "tag")
            tag = by[4:].strip() if by.startswith("tag:") else ""
            return len(alerts.explain_cells(record.id, [(base_start, start), (start, end)], base_start, metric,
                                            group, tag))
        messages = alerts.sent_between(base_start, end, record.id)
        outcomes = sum(1 for _ in alerts._outcomes(sorted(m.id for m in messages), base_start, timed=False))
        tags = sum(1 for m in alerts.sent_between(base_start, end, record.id, with_tags=True) for _ in m.tags)
        return len(messages) + outcomes + (tags if by.startswith("tag:") else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--days", type=int, nargs="+", default=[7, 90])
    parser.add_argument("--by", nargs="+", default=["template", "device", "send_hour"])
    parser.add_argument("--metric", default="open_rate")
    args = parser.parse_args()
    now = T0 + timedelta(hours=1)
    app = bootstrap(Settings(f"sqlite:///{args.database}", config_dir=str(args.database.with_suffix(".config"))),
                    clock=VirtualClock(now))
    app.init_database()
    statements = [0]

    @event.listens_for(app.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{args.database.name}; metric {args.metric}; {args.rounds} rounds, alternating")
    print("days by         wall ms p50/p95: before   after  CPU ms p50: before/after  ratio wall cpu  "
          "rows b/a  SQL b/a  calls b/a")
    for days in args.days:
        start, end = now - timedelta(days=days), now
        for by in args.by:
            runs = {"before": partial(before, app, args.metric, "j0", start, end, by),
                    "after": partial(after, app, args.metric, "j0", start, end, by)}
            counts: dict[str, tuple[int, int, int]] = {}
            for name, run in runs.items():
                statements[0] = 0
                run()
                counts[name] = (_rows(app, name, args.metric, start, end, by), statements[0], _calls(run))
            times: dict[str, list[float]] = {"before": [], "after": []}
            cpu: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                answers = {}
                for name, run in runs.items():
                    started, cpu_started = time.perf_counter(), time.process_time()
                    answers[name] = run()
                    times[name].append((time.perf_counter() - started) * 1000)
                    cpu[name].append((time.process_time() - cpu_started) * 1000)
                assert answers["before"] == answers["after"], (days, by)
            b, a = times["before"], times["after"]
            cb, ca = percentile(cpu["before"], 0.5), percentile(cpu["after"], 0.5)
            print(f"{days:>4} {by:<10} {percentile(b, 0.5):>7.1f}/{percentile(b, 0.95):<7.1f} "
                  f"{percentile(a, 0.5):>7.1f}/{percentile(a, 0.95):<7.1f} {cb:>6.1f}/{ca:<6.1f} "
                  f"{percentile(b, 0.5) / percentile(a, 0.5):>5.1f}x {cb / ca:>5.1f}x "
                  f"{counts['before'][0]:>7}/{counts['after'][0]:<6} {counts['before'][1]:>4}/{counts['after'][1]:<4} "
                  f"{counts['before'][2]:>7}/{counts['after'][2]:<6}")
            log(f"{days} days by {by}: done")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the end")


if __name__ == "__main__":
    main()
