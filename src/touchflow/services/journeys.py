"""Journey use cases: publish a version, pause/resume/archive, enrol, and intervene on one run (J9).

Each is one transaction with one audit row. Publishing parses, lints and stores an immutable
version; runs already inside keep the version they entered with.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from touchflow.domain.journeys.lint import Finding, alias_findings, lint_journey
from touchflow.domain.journeys.model import JourneyDefinition, Send, WaitEvent
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.ports import JourneyRecord, StoredStep
from touchflow.domain.journeys.transitions import Run
from touchflow.domain.messaging.counts import message_breakdown
from touchflow.domain.messaging.delivery import fallback_note
from touchflow.domain.safe_yaml import load_yaml
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.domain.webhook_urls import AllowList
from touchflow.services.attribution import open_journey_holdout
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.content import check_journey_content
from touchflow.services.context import ServiceContext
from touchflow.services.ingest import RawItem, record_events

__all__ = ["JourneyError", "JourneyStats", "PublishResult", "RunTrace", "enrol_contact", "journey_stats",
           "journeys_overview", "list_journeys", "load_definition", "publish_findings", "publish_journey",
           "set_journey_status", "set_run_status", "trace_contact", "validate_journey"]


class JourneyError(ValueError):
    """A journey operation that cannot be done, with the reason."""


@dataclass
class PublishResult:
    journey: JourneyRecord
    version: int
    findings: list[Finding]
    unchanged: bool = False


def load_definition(text: str) -> tuple[dict[str, Any], JourneyDefinition]:
    """YAML or JSON text to (data, definition); ``DefinitionError`` names the offending path."""
    try:
        data = load_yaml(text)  # YamlTooLarge (over a size/alias/node/depth limit) goes to the caller
    except yaml.YAMLError as exc:
        raise DefinitionError("journey", f"not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DefinitionError("journey", "must be a mapping at the top level")
    return data, parse_journey(data)


def validate_journey(text: str, known_journeys: set[str] | None = None) -> tuple[JourneyDefinition, list[Finding]]:
    data, definition = load_definition(text)
    return definition, lint_journey(definition, known_journeys=known_journeys) + alias_findings(data)


def publish_journey(ctx: ServiceContext, text: str, *, actor: str, templates_required: bool = False) -> PublishResult:
    """Store a new immutable version and make it current; blocking lint findings stop it.

    ``templates_required`` (what ``journey publish`` and ``POST /v1/journeys`` ask for): a ``send`` naming a
    template that is not in the asset library stops it too. The sandbox, which rehearses the flow in a
    database of its own with no templates, and the demo leave it off: a missing template is a warning."""
    data, definition = load_definition(text)
    data = {**data, "start": definition.start}  # JSONB does not keep key order: pin the first node
    now = ctx.clock.now()
    with ctx.uow() as uow:
        findings = publish_findings(uow, definition, data, templates_required=templates_required)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise JourneyError("; ".join(f"{f.path}: {f.message}" for f in errors))
        record = uow.journeys.get(definition.key)
        if record is None:
            record = JourneyRecord(ctx.ids.new(now), definition.key, definition.name, "active", None, now, now)
            uow.journeys.add(record)
        elif record.status == "archived":
            raise JourneyError(f"journey {definition.key} is archived; publish it under a new key")
        elif record.current_version is not None and uow.journeys.version(record.id, record.current_version) == data:
            return PublishResult(record, record.current_version, findings, unchanged=True)
        version = (record.current_version or 0) + 1
        uow.journeys.add_version(record.id, version, data, text, now, actor)
        status = "active" if record.status == "draft" else record.status  # a builder draft goes live
        record = replace(record, name=definition.name, status=status, current_version=version, updated_at=now)
        uow.journeys.save(record)
        open_journey_holdout(uow, ctx, record.id, record.key, version, definition.holdout, now)
        uow.audit.record(actor, "journey.publish", definition.key, {"version": version}, now)
        uow.commit()
    return PublishResult(record, version, findings)


def publish_findings(uow: UnitOfWork, definition: JourneyDefinition, data: dict[str, Any], *,
                     templates_required: bool) -> list[Finding]:
    """Every rule publishing applies: the one validator the builder calls as you draw (issue 16)."""
    known = {j.key for j in uow.journeys.all()} | {definition.key}
    return (lint_journey(definition, known_journeys=known, known_segments={s.key for s in uow.segments.all()},
                         webhook_allow=_webhook_allow_list(uow))
            + _content_findings(uow, definition, templates_required) + alias_findings(data))


def _webhook_allow_list(uow: UnitOfWork) -> AllowList:
    """The ``webhook`` channel's allow-list (``allow_hosts``, ``allow_networks`` settings): the internal
    targets its operator opened, so publishing and sending judge a URL alike."""
    config = next((c for c in uow.guards.channel_configs() if c.name == "webhook" and c.kind == "webhook"), None)
    if config is None:
        return AllowList()
    def strings(key: str) -> list[str]:
        value = config.settings.get(key) or ()
        return [value] if isinstance(value, str) else [str(v) for v in value]

    return AllowList.of(strings("allow_hosts"), strings("allow_networks"))


def _content_findings(uow: UnitOfWork, definition: JourneyDefinition, templates_required: bool) -> list[Finding]:
    """G4/G5 at publish: a template with blocking ad-law findings, or one waiting for (or refused in)
    compliance review, stops publishing; so does one that does not exist (a run would go on as if it had
    been sent). In a sandbox (``templates_required=False``) a missing one is a warning."""
    sends = {n.template: n.id for n in definition.nodes.values() if isinstance(n, Send)}
    findings: list[Finding] = []
    for problem in check_journey_content(uow, sends):
        path = f"nodes.{sends[problem.template]}.template"
        if problem.code == "missing":
            findings.append(Finding("template-not-in-library", "error" if templates_required else "warning", path,
                                    problem.problem))
        else:
            findings.append(Finding(f"template-{problem.code}".replace("_", "-"), "error", path, problem.problem))
    return findings


def list_journeys(ctx: ServiceContext) -> list[JourneyRecord]:
    with ctx.reader() as uow:
        return uow.journeys.all()


def _journey(uow: UnitOfWork, key: str) -> JourneyRecord:
    record = uow.journeys.get(key)
    if record is None:
        raise JourneyError(f"no journey {key!r}")
    return record


def set_journey_status(ctx: ServiceContext, key: str, status: str, *, actor: str, reason: str = "") -> JourneyRecord:
    """pause (no entries; runs hold before their next step), resume, or archive (runs stop)."""
    if status not in ("active", "paused", "archived"):
        raise JourneyError(f"status must be active, paused or archived, not {status!r}")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record = _journey(uow, key)
        if record.status == "archived" and status != "archived":
            raise JourneyError(f"journey {key} is archived and cannot be {status}")
        runs: list[Run] = []
        if status == "active" and record.status == "paused":
            # Events that arrived during the pause are in the contact's history: look again now.
            runs = [replace(r, wake_at=now) for r in _runs_in(uow, record.id, ("waiting",)) if r.waiting_for]
        elif status == "archived":
            runs = [replace(r, status="exited", wake_at=None, error=f"journey archived by {actor}")
                    for r in _runs_in(uow, record.id, ("active", "waiting", "paused"))]
        uow.journeys.update_runs(runs, now)
        record = replace(record, status=status, updated_at=now, status_reason=reason if status != "active" else "")
        uow.journeys.save(record)
        uow.audit.record(actor, f"journey.{ {'active': 'resume', 'paused': 'pause', 'archived': 'archive'}[status]}",
                         key, {"reason": reason, "runs_touched": len(runs)}, now)
        uow.commit()
        return record


def _runs_in(uow: UnitOfWork, journey_id: str, statuses: tuple[str, ...]) -> list[Run]:
    return [r for r in uow.journeys.runs_by_journey(journey_id) if r.status in statuses]


@dataclass
class JourneyStats:
    journey: JourneyRecord
    runs_by_status: dict[str, int]
    at_nodes: dict[str, int]
    definition: JourneyDefinition | None = None
    messages_by_channel: dict[str, int] = field(default_factory=dict)  # every message the journey queued
    messages_by_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain.message_counts

    @property
    def sent_by_channel(self) -> dict[str, int]:
        """Messages handed to a provider, by channel (skipped, deferred and failed ones are not)."""
        return {c: e["sent"] for c, e in self.messages_by_status.items() if e["sent"]}


def journey_stats(ctx: ServiceContext, key: str) -> JourneyStats:
    with ctx.reader() as uow:
        record = _journey(uow, key)
        statuses = uow.journeys.message_statuses(record.id)
        return JourneyStats(record, uow.journeys.count_runs(record.id), uow.journeys.waiting_at_nodes(record.id),
                            _definition(uow, record), _totals(statuses),
                            message_breakdown(statuses, uow.journeys.delivered_by_channel(record.id)))


def journeys_overview(ctx: ServiceContext) -> list[JourneyStats]:
    """``journey_stats`` of every journey not archived, for the console's list (issue 15): one read of the outbox
    for all of them, and the providers' receipts from the metric rollups as of their last refresh (the worker's,
    every minute: as fresh as the dashboard). The rollups' ``receipts`` counter counts ``message_delivered``
    events whatever the channel — what ``journey_stats`` counts in the events — where their ``delivered`` for
    email and onsite is sent − bounced (migration 0034, ADR 0050)."""
    with ctx.reader() as uow:
        records = [j for j in uow.journeys.all() if j.status != "archived"]
        ids = [j.id for j in records]
        statuses = uow.journeys.message_statuses_of(ids) if ids else {}
        receipts: dict[str, dict[str, int]] = {}
        for row in uow.metrics.rows("", "9999-12-31", ids, ["journey_id", "channel"]) if ids else []:
            channel, n = row.key.channel, row.counts.get("receipts", 0)
            if channel and n:
                found = receipts.setdefault(row.key.journey_id, {})
                found[channel] = found.get(channel, 0) + n
        out: list[JourneyStats] = []
        for record in records:
            mine = statuses.get(record.id, [])
            out.append(JourneyStats(record, uow.journeys.count_runs(record.id),
                                    uow.journeys.waiting_at_nodes(record.id), _definition(uow, record),
                                    _totals(mine), message_breakdown(mine, receipts.get(record.id, {}))))
        return out


def _definition(uow: UnitOfWork, record: JourneyRecord) -> JourneyDefinition | None:
    if record.current_version is None:
        return None
    data = uow.journeys.version(record.id, record.current_version)
    return parse_journey(data) if data is not None else None


def _totals(statuses: list[tuple[str, str, str | None, int]]) -> dict[str, int]:
    """Messages by channel, summed from the (channel, status, reason) counts: the same rows, one query fewer."""
    found: dict[str, int] = {}
    for channel, _, _, n in statuses:
        found[channel] = found.get(channel, 0) + n
    return found


def enrol_contact(ctx: ServiceContext, key: str, identifier: str, *, actor: str) -> str:
    """Ask the engine to enrol a contact (an ``enrolment_requested`` event; entry rules still apply)."""
    with ctx.reader() as uow:
        record = _journey(uow, key)
        if record.status != "active":
            raise JourneyError(f"journey {key} is {record.status}: it takes no entries")
        contact_id = resolve_contact_id(uow, identifier)
        identity = uow.contacts.identities_of(contact_id)[0].identity
    now = ctx.clock.now()
    report = record_events(ctx, "manual", [RawItem({
        "id": f"enrol_{record.id}_{contact_id}_{int(now.timestamp()):x}"[:64], "type": "enrolment_requested",
        identity.kind: identity.value, "occurred_at": now.isoformat(), "properties": {"journey": key, "by": actor}})],
        audit=lambda uow, at: uow.audit.record(actor, "journey.enrol", f"{key}/{contact_id}", {"journey": key}, at))
    if report.rejected:
        raise JourneyError(str(report.rejected[0]))
    return contact_id


def set_run_status(ctx: ServiceContext, key: str, identifier: str, action: str, *, actor: str,
                   reason: str = "") -> list[Run]:
    """pause, resume, remove or retry one contact's run in a journey (J9), recorded in the audit log."""
    if action not in ("pause", "resume", "remove", "retry"):
        raise JourneyError(f"action must be pause, resume, remove or retry, not {action!r}")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record = _journey(uow, key)
        contact_id = resolve_contact_id(uow, identifier)
        wanted = {"pause": ("active", "waiting"), "resume": ("paused",), "remove": ("active", "waiting", "paused"),
                  "retry": ("failed",)}[action]
        runs = [r for r in uow.journeys.runs_of([contact_id], [record.id]) if r.status in wanted]
        if not runs:
            raise JourneyError(f"{identifier} has no run in {key} that can be {action}d")
        changed: list[Run] = []
        for run in runs:
            if action == "pause":
                changed.append(replace(run, status="paused"))
            elif action == "resume":
                definition = parse_journey(uow.journeys.version(run.journey_id, run.version) or {})
                node = definition.nodes.get(run.node_id)
                if isinstance(node, WaitEvent) or run.waiting_for:
                    changed.append(replace(run, status="waiting", wake_at=now))
                elif run.wake_at is not None:
                    changed.append(replace(run, status="waiting"))
                else:
                    changed.append(replace(run, status="active", wake_at=now))
            elif action == "remove":
                changed.append(replace(run, status="exited", wake_at=None, error=f"removed by {actor}: {reason}"))
            else:
                changed.append(replace(run, status="active", wake_at=now, attempts=0, error=None))
        uow.journeys.update_runs(changed, now)
        uow.audit.record(actor, f"run.{action}", f"{key}/{contact_id}",
                         {"runs": [r.id for r in changed], "reason": reason}, now)
        uow.commit()
        return changed


@dataclass
class RunTrace:
    run: Run
    steps: list[StoredStep]
    messages: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """The trace as plain data: the one shape `journey trace --json` and the API print."""
        run = self.run
        return {"run": run.id, "status": run.status, "node": run.node_id, "entered_at": run.entered_at.isoformat(),
                "error": run.error, "key": run.entry_key, "messages": self.messages,
                "steps": [{"at": s.at.isoformat(), "node": s.node_id, "kind": s.kind, "edge": s.edge,
                           "detail": s.detail} for s in self.steps]}


def trace_contact(ctx: ServiceContext, key: str, identifier: str) -> list[RunTrace]:
    """Every run of a contact in a journey: each node with its time, the deciding values, each message."""
    with ctx.reader() as uow:
        record = _journey(uow, key)
        contact_id = resolve_contact_id(uow, identifier)
        runs = uow.journeys.runs_of([contact_id], [record.id])
        steps = uow.journeys.steps_of([r.id for r in runs])
        messages = uow.journeys.messages_of([contact_id])
        traces = []
        for run in runs:
            traces.append(RunTrace(run, [s for s in steps if s.run_id == run.id], [
                {"id": m.id, "node": m.node_id, "channel": m.channel, "template": m.template, "status": m.status,
                 "created_at": m.created_at.isoformat(), "attempts": m.attempts,
                 "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                 "reason": m.reason,  # the guardrail that skipped or deferred it, a fallback, or why it died
                 "detail": m.last_error,
                 "note": fallback_note(m.channel, m.reason, m.last_error),  # "email: no address → fell back to sms"
                 "fallback_of": m.payload.get("fallback_of"),
                 "next_attempt_at": m.next_attempt_at.isoformat() if m.status == "queued" else None}
                for m in messages if m.run_id == run.id]))
        return traces
