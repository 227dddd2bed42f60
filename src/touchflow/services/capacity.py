"""Capacity (A8): workers report how busy they are; ``touchflow status`` shows it; the capacity rule fires when
the workers stay busier than its limit for its window, saying how many workers to add (ADR 0047).

A worker calls ``report_load`` every ``REPORT_EVERY`` with the busy share of the window just ended; the report
also reads each queue's lag, keeps one cluster sample per minute and evaluates the capacity rules on it. Time
comes from the context's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.capacity import CapacitySample, WorkerLoad, sustained_above, utilisation, workers_to_add
from touchflow.domain.events import JSONValue
from touchflow.domain.measurement.alert_ports import AlertRecord
from touchflow.domain.measurement.alerts import AlertState
from touchflow.services.alerts import all_rules
from touchflow.services.context import ServiceContext

__all__ = ["CLUSTER", "LIVE", "REPORT_EVERY", "CapacityAlert", "ClusterStatus", "cluster_status", "report_load"]

REPORT_EVERY = timedelta(seconds=30)
LIVE = timedelta(minutes=2)  # a worker that has not reported for this long is not counted
CLUSTER = "workers"  # the alert state and history key of the capacity rules (they watch no journey)
ACTOR = "system:alerts"


@dataclass(frozen=True)
class CapacityAlert:
    rule: str
    busy_share: float
    workers: int
    add: int

    def summary(self, lang: str = "en") -> str:
        if lang == "zh":
            return (f"工作进程繁忙 {self.busy_share:.0%}（{self.workers} 个）持续超过阈值："
                    f"建议增加 {self.add} 个工作进程")
        return (f"workers {self.busy_share:.0%} busy ({self.workers} live) above the limit: add {self.add} "
                f"worker{'s' if self.add != 1 else ''}")


@dataclass(frozen=True)
class ClusterStatus:
    now: datetime
    workers: list[WorkerLoad]
    busy_share: float
    queue_lag: dict[str, float]
    add: int  # workers the first enabled capacity rule asks for now (0 when under its limit or not behind)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.now.isoformat(), "busy_share": round(self.busy_share, 4), "workers_to_add": self.add,
                "queue_lag_s": {k: round(v, 3) for k, v in self.queue_lag.items()},
                "workers": [{"worker_id": w.worker_id, "host": w.host, "pid": w.pid,
                             "started_at": w.started_at.isoformat(), "reported_at": w.reported_at.isoformat(),
                             "busy_share": round(w.busy_share, 4),
                             "queue_lag_s": {k: round(v, 3) for k, v in w.queue_lag.items()}} for w in self.workers]}


def report_load(ctx: ServiceContext, worker_id: str, host: str, pid: int, started_at: datetime,
                busy_share: float) -> list[CapacityAlert]:
    """Keep this worker's report, the minute's cluster sample, and fire capacity rules that are due."""
    now = ctx.clock.now()
    minute = now.replace(second=0, microsecond=0)
    with ctx.uow() as uow:
        lag = uow.capacity.queue_lag(now)
        uow.capacity.report(WorkerLoad(worker_id, host, pid, started_at, now, min(1.0, max(0.0, busy_share)), lag))
        live = uow.capacity.loads(now - LIVE)
        sampled = uow.capacity.add_sample(CapacitySample(minute, len(live), utilisation(live),
                                                         max(lag.values(), default=0.0)))
        uow.commit()
    return _evaluate(ctx, now) if sampled else []


def _evaluate(ctx: ServiceContext, now: datetime) -> list[CapacityAlert]:
    fired: list[CapacityAlert] = []
    with ctx.uow() as uow:
        rules = [r for r in all_rules(uow) if r.enabled and r.kind == "capacity"]
        if not rules:
            return []
        samples = uow.capacity.samples(now - max(r.window for r in rules) - timedelta(minutes=2))
        live = uow.capacity.loads(now - LIVE)
        states = uow.alerts.states()
        for rule in rules:
            state = states.get((rule.name, CLUSTER), AlertState())
            if state.cooldown_until is not None and now < state.cooldown_until:
                continue
            if not sustained_above(samples, rule.limit, rule.window, now, behind=rule.behind):
                continue
            share = utilisation(live)
            alert = CapacityAlert(rule.name, share, len(live), workers_to_add(len(live), share, rule.limit))
            details: dict[str, JSONValue] = {"busy_share": share, "workers": len(live), "workers_to_add": alert.add,
                       "limit": rule.limit, "window_s": rule.window.total_seconds(),
                       "behind_s": rule.behind.total_seconds(), "queue_lag_s": samples[-1].queue_lag_s,
                       "summary_en": alert.summary("en")}
            acted = not rule.shadow
            uow.alerts.add_history(AlertRecord(now, rule.name, CLUSTER, rule.metric, "triggered", acted,
                                               None if acted else "shadow", alert.summary("zh"), details))
            uow.alerts.save_state(rule.name, CLUSTER, AlertState(last_fired=now, cooldown_until=now + rule.cooldown),
                                  now)
            uow.audit.record(ACTOR, "alert.fired", CLUSTER, {"rule": rule.name, "metric": rule.metric,
                                                             "summary": alert.summary("en"), **details}, now)
            fired.append(alert)
        uow.commit()
    return fired


def cluster_status(ctx: ServiceContext) -> ClusterStatus:
    now = ctx.clock.now()
    with ctx.reader() as uow:
        live = uow.capacity.loads(now - LIVE)
        lag = uow.capacity.queue_lag(now)
        rules = [r for r in all_rules(uow) if r.enabled and r.kind == "capacity"]
    share = utilisation(live)
    behind = bool(rules) and max(lag.values(), default=0.0) > rules[0].behind.total_seconds()
    add = workers_to_add(len(live), share, rules[0].limit) if rules and behind else 0
    return ClusterStatus(now, live, share, lag, add)
