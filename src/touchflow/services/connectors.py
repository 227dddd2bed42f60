"""Connector use cases (issue 14): define, list, show, pause, resume; and the run bookkeeping the engine's runner
calls — claim the run lease, commit the cursor with each batch, finish the run, raise the alarm after N failures.

Secrets arrive sealed (``SecretBox.seal(secrets, f"connector:{name}")`` in the CLI or the API), like channel
credentials: this layer never sees one. Every change writes an audit row with the acting identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from touchflow.domain.connectors import (
    DEFAULT_FAILURE_THRESHOLD,
    REALTIME,
    Connector,
    ConnectorRun,
    RecordKind,
    consecutive_failures,
    next_run,
    parse_schedule,
    success_rate,
    validate_connector,
)
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.outbox import TaskRecord
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.services.channels import current_guardrail_policy
from touchflow.services.context import ServiceContext
from touchflow.services.ingest import ensure_source

__all__ = [
    "FAILURE_TASK_QUEUE",
    "REALTIME_POLL",
    "ConnectorBusy",
    "ConnectorNotFound",
    "ConnectorSummary",
    "LeaseLost",
    "add_connector",
    "commit_cursor",
    "connector_summaries",
    "due_connectors",
    "finish_run",
    "get_connector",
    "keep_lease",
    "request_run",
    "reseal_connector_secrets",
    "run_json",
    "set_connector_status",
    "show_connector",
    "start_run",
]

FAILURE_TASK_QUEUE = "marketing"
FAILURE_TASK_SLA = timedelta(hours=24)
REALTIME_POLL = timedelta(minutes=1)


class ConnectorNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no connector {name!r} (touchflow connector list)")
        self.name = name


class ConnectorBusy(RuntimeError):
    """Another process holds the run lease: one run at a time per connector."""


class LeaseLost(RuntimeError):
    """The run's lease was taken over (it ran past its lease and another worker started): stop, nothing is lost."""


@dataclass(frozen=True)
class ConnectorSummary:
    connector: Connector
    last_run: ConnectorRun | None
    success_rate: float | None
    consecutive_failures: int
    runs: int

    def to_json(self, zone: ZoneInfo | None = None) -> dict[str, JSONValue]:
        c = self.connector
        last = self.last_run
        return {"name": c.name, "kind": c.kind, "record_kind": c.record_kind, "event_type": c.event_type,
                "settings": dict(c.settings), "secret": list(c.secret_names) if c.secret else None,
                "mapping": dict(c.mapping), "cursor": c.cursor, "cursor_value": c.cursor_value,
                "schedule": c.schedule, "status": c.status,
                "next_run_at": c.next_run_at.isoformat() if c.next_run_at else None,
                "columns": list(c.columns), "success_rate": self.success_rate,
                "consecutive_failures": self.consecutive_failures, "runs": self.runs,
                "last_run": None if last is None else run_json(last)}


def run_json(run: ConnectorRun) -> dict[str, JSONValue]:
    return {"id": run.id, "trigger": run.trigger, "actor": run.actor, "status": run.status,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "read": run.read,
            "accepted": run.accepted, "rejected": run.rejected, "retried": run.retried, "error": run.error,
            "warnings": list(run.warnings), "cursor_before": run.cursor_before, "cursor_after": run.cursor_after,
            "details": dict(run.details)}


def _zone(ctx: ServiceContext) -> ZoneInfo:
    return ZoneInfo(current_guardrail_policy(ctx).default_timezone)


def _next(ctx: ServiceContext, connector: Connector, after: datetime) -> datetime | None:
    """When the worker runs it next: by its cron; "realtime" pulls are polled every ``REALTIME_POLL`` (a push
    kind — an inbound webhook — stores on arrival and needs no run); "manual" never."""
    if connector.status != "active":
        return None
    if connector.schedule == REALTIME:
        return after + REALTIME_POLL
    cron = parse_schedule(connector.schedule)
    return None if cron is None else next_run(cron, after, _zone(ctx))


def _state(c: Connector) -> dict[str, JSONValue]:
    """The audited definition: the sealed secret's presence and names, never a value."""
    return {"kind": c.kind, "settings": dict(c.settings), "secret_names": list(c.secret_names),
            "secret_set": c.secret is not None, "record_kind": c.record_kind, "event_type": c.event_type,
            "mapping": dict(c.mapping), "cursor": c.cursor, "schedule": c.schedule, "status": c.status}


def add_connector(ctx: ServiceContext, name: str, kind: str, settings: Mapping[str, JSONValue], *,
                  record_kind: RecordKind = "contacts", event_type: str | None = None,
                  mapping: Mapping[str, str] | None = None, cursor: str | None = None, schedule: str = "manual",
                  sealed_secret: str | None = None, secret_names: Sequence[str] = (),
                  kinds: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]], actor: str,
                  replace_existing: bool = False) -> Connector:
    """Create (or, with ``replace_existing``, redefine) a connector; FieldError naming the field. A redefinition
    keeps the committed cursor unless the cursor column changes, and keeps the secret unless a new one is given."""
    if sealed_secret is not None and not sealed_secret.startswith("v1."):
        raise FieldError("secret", "must be sealed (SecretBox.seal) before it is stored")
    now = ctx.clock.now()
    connector = Connector(name, kind, dict(settings), record_kind, event_type, dict(mapping or {}),
                          cursor or None, " ".join(schedule.split()), "active", sealed_secret,
                          tuple(secret_names), None, None, (), now, now)
    validate_connector(connector, kinds=kinds)
    with ctx.uow() as uow:
        current = uow.connectors.get(name)
        if current is not None and not replace_existing:
            raise FieldError("name", f"connector {name!r} exists (use --replace to redefine it)")
        if current is not None:
            keep_secret = sealed_secret is None
            connector = replace(connector, status=current.status, created_at=current.created_at,
                                secret=current.secret if keep_secret else sealed_secret,
                                secret_names=current.secret_names if keep_secret else tuple(secret_names),
                                cursor_value=current.cursor_value if current.cursor == connector.cursor else None)
        connector = replace(connector, next_run_at=_next(ctx, connector, now))
        uow.connectors.save(connector)
        fed = connector.settings.get("source")
        ensure_source(uow, fed.strip() if isinstance(fed, str) and fed.strip() else name)  # its rate shows at once
        if current is not None and current.cursor != connector.cursor:
            uow.connectors.commit_cursor(name, None, None)
        uow.audit.record(actor, "connector.add" if current is None else "connector.replace", name,
                         _state(connector), now, before=None if current is None else _state(current),
                         after=_state(connector))
        uow.commit()
    return connector


def get_connector(ctx: ServiceContext, name: str) -> Connector:
    with ctx.reader() as uow:
        found = uow.connectors.get(name)
    if found is None:
        raise ConnectorNotFound(name)
    return found


def _summary(uow: UnitOfWork, connector: Connector, limit: int = 200) -> ConnectorSummary:
    runs = uow.connectors.runs(connector.name, limit)
    return ConnectorSummary(connector, runs[0] if runs else None, success_rate(runs), consecutive_failures(runs),
                            len(runs))


def connector_summaries(ctx: ServiceContext) -> list[ConnectorSummary]:
    """Every connector with its last run, its success rate over its last 200 runs and its failure streak."""
    with ctx.reader() as uow:
        return [_summary(uow, c) for c in uow.connectors.all()]


def show_connector(ctx: ServiceContext, name: str, runs: int = 20) -> tuple[ConnectorSummary, list[ConnectorRun]]:
    with ctx.reader() as uow:
        connector = uow.connectors.get(name)
        if connector is None:
            raise ConnectorNotFound(name)
        return _summary(uow, connector), uow.connectors.runs(name, max(1, min(runs, 1000)))


def set_connector_status(ctx: ServiceContext, name: str, status: str, *, actor: str) -> Connector:
    """Pause (scheduled runs stop; a run in progress finishes) or resume (the next run is scheduled from now)."""
    if status not in ("active", "paused"):
        raise FieldError("status", f"must be active or paused, got {status!r}")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = uow.connectors.get(name)
        if current is None:
            raise ConnectorNotFound(name)
        updated = replace(current, status=status)  # type: ignore[arg-type]
        updated = replace(updated, next_run_at=_next(ctx, updated, now), updated_at=now)
        uow.connectors.set_status(name, status, updated.next_run_at, now)
        uow.audit.record(actor, "connector.pause" if status == "paused" else "connector.resume", name,
                         {"status": status}, now, before={"status": current.status}, after={"status": status})
        uow.commit()
    return updated


def request_run(ctx: ServiceContext, name: str, *, actor: str) -> Connector:
    """Ask the worker to run ``name`` at its next pass (the API's "run now": a pull may take minutes, a request
    must not). A paused connector is refused (ValueError)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = uow.connectors.get(name)
        if current is None:
            raise ConnectorNotFound(name)
        if current.status != "active":
            raise ValueError(f"connector {name} is paused: resume it first")
        uow.connectors.set_status(name, current.status, now, now)
        uow.audit.record(actor, "connector.run_requested", name, {}, now)
        uow.commit()
    return replace(current, next_run_at=now)


def due_connectors(ctx: ServiceContext, limit: int = 20) -> list[Connector]:
    with ctx.reader() as uow:
        return uow.connectors.due(ctx.clock.now(), limit)


def start_run(ctx: ServiceContext, name: str, owner: str, *, trigger: str, actor: str, lease: timedelta,
              steal_from: str | None = None) -> tuple[Connector, ConnectorRun]:
    """Take the connector's run lease and record the run as running; ConnectorBusy when another process runs it.
    Runs a dead process left ``running`` are closed as interrupted (their committed batches stay)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        connector = uow.connectors.get(name)
        if connector is None:
            raise ConnectorNotFound(name)
        if trigger == "schedule" and connector.status != "active":
            raise ConnectorBusy(f"connector {name} is paused")
        if not uow.connectors.claim(name, owner, now, now + lease, steal_from=steal_from):
            holder, until = uow.connectors.lease_owner(name)
            raise ConnectorBusy(f"connector {name} is running elsewhere ({holder}, lease until {until})")
        for stale in uow.connectors.running(name):
            uow.connectors.update_run(replace(stale, status="interrupted", finished_at=now,
                                              error=stale.error or "the process running it stopped (killed or lost)"))
        run = ConnectorRun(ctx.ids.new(now), name, now, trigger, actor, "running",
                           cursor_before=connector.cursor_value)
        uow.connectors.add_run(run)
        uow.audit.record(actor, "connector.run", name, {"run": run.id, "trigger": trigger,
                                                        "cursor_before": connector.cursor_value}, now)
        uow.commit()
    return connector, run


def keep_lease(ctx: ServiceContext, name: str, owner: str, lease: timedelta) -> None:
    """Renew the run's lease during a long read (before any batch commits); LeaseLost if it was taken over."""
    with ctx.uow() as uow:
        if not uow.connectors.extend(name, owner, ctx.clock.now() + lease):
            raise LeaseLost(f"connector {name}: the run's lease was taken over; stopping")
        uow.commit()


def commit_cursor(ctx: ServiceContext, name: str, owner: str, value: JSONValue, columns: Sequence[str] | None,
                  lease: timedelta) -> None:
    """After a committed batch: the cursor moves and the lease is renewed, in one transaction; LeaseLost if
    another process has taken the lease meanwhile (then this one must stop)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if not uow.connectors.extend(name, owner, now + lease):
            raise LeaseLost(f"connector {name}: the run's lease was taken over; stopping")
        uow.connectors.commit_cursor(name, value, columns)
        uow.commit()


def finish_run(ctx: ServiceContext, run: ConnectorRun, owner: str, *, threshold: int = DEFAULT_FAILURE_THRESHOLD
               ) -> ConnectorRun:
    """Record how the run ended, release the lease and schedule the next; the ``threshold``-th failure in a row
    opens a task (no contact: about the connector) and writes a ``connector.failing`` audit row (the notice)."""
    now = ctx.clock.now()
    done = replace(run, finished_at=now)
    with ctx.uow() as uow:
        connector = uow.connectors.get(run.connector)
        if connector is None:
            raise ConnectorNotFound(run.connector)
        uow.connectors.update_run(done)
        uow.connectors.release(run.connector, owner, _next(ctx, connector, now))
        uow.audit.record(run.actor or "system:connectors", f"connector.run_{done.status}", run.connector,
                         {"run": run.id, "read": done.read, "accepted": done.accepted, "rejected": done.rejected,
                          "retried": done.retried, "error": done.error, "cursor_after": done.cursor_after}, now)
        streak = consecutive_failures(uow.connectors.runs(run.connector, threshold + 1))
        if not done.ok and streak == threshold:
            title = f"【连接器故障】{connector.name} 连续 {streak} 次同步失败：{done.error or ''}"[:300]
            task = TaskRecord(ctx.ids.new(now), f"connector:{connector.name}:failing:{run.id}"[:120], None, None,
                              None, None, FAILURE_TASK_QUEUE, title, None, "open", now, now + FAILURE_TASK_SLA)
            uow.journeys.add_tasks([task])
            uow.audit.record("system:connectors", "connector.failing", connector.name,
                             {"failures": streak, "task": task.id, "error": done.error}, now)
        uow.commit()
    return done


def reseal_connector_secrets(uow: UnitOfWork, old: SecretBox, new: SecretBox) -> tuple[list[str], list[str]]:
    """Key rotation (services/secrets.py): every connector's credentials sealed again with the new key, in the
    rotation's transaction. Returns (re-sealed, not opened) as ``connector:<name>``."""
    done: list[str] = []
    lost: list[str] = []
    for connector in uow.connectors.all():
        if not connector.secret:
            continue
        context = f"connector:{connector.name}"
        try:
            plain = old.open(connector.secret, context)
        except SecretError:  # sealed with a key already gone: set it again (connector add --replace)
            lost.append(context)
            continue
        uow.connectors.save(replace(connector, secret=new.seal(plain, context)))
        done.append(context)
    return done, lost
