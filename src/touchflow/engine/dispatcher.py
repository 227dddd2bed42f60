"""Outbox → channels: claim, re-check guardrails, render, send through the gate, record what happened.

One batch goes through three steps:

1. **decide** (one write transaction): claim due messages, load the guard facts of their contacts,
   ask ``guardrails.decide`` for each in order; skipped and deferred messages are final for this
   attempt and say which guardrail stopped them; allowed ones become ``sending`` with a lease.
2. **send** (no write transaction): render, then per channel in chunks of the adapter's batch size —
   hold the send gate shared, re-read freezes, call the provider, release. Channels run concurrently.
3. **record** (one write transaction): sent, retry with backoff, fallback channel or dead letter
   (``domain.delivery.after_attempt``), each with its lifecycle event for the contact.

A crash between 1 and 3 leaves ``sending`` rows whose lease runs out; they are claimed again and sent
with the same idempotency key, which providers that take one use to drop the repeat.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from touchflow.channels.base import Delivery, Outgoing, PermanentError, TransientError
from touchflow.domain.events import EventInput
from touchflow.domain.governance.incidents import KILL_SWITCH_KEY, kill_switch_on
from touchflow.domain.guardrails.model import Allow, Decision, Defer, GuardFacts, GuardrailPolicy, Purpose, Skip, decide
from touchflow.domain.messaging.delivery import Attempt, after_attempt, cannot_deliver
from touchflow.domain.messaging.ports import MessageUpdate, OnsiteMessage
from touchflow.domain.outbox import OutboxMessage
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.compose import Composer, RenderFailure
from touchflow.engine.guard_facts import BatchContacts, load_guard_facts
from touchflow.services.context import ServiceContext, emit_events
from touchflow.services.guarding import guardrail_policy
from touchflow.services.pacing import store_pacer

__all__ = ["DispatchReport", "Dispatcher", "OnSent", "lifecycle_event_id"]

log = logging.getLogger(__name__)
OnSent = Callable[[Sequence[OutboxMessage], datetime], None]
LEASE = timedelta(minutes=2)
_POLICY_TTL = timedelta(seconds=30)


def lifecycle_event_id(message_id: str, stage: str) -> str:
    return f"m_{message_id}_{stage}"


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    halted: int = 0  # batches not claimed because the incident kill switch was on
    by_guardrail: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Dispatcher:
    def __init__(self, ctx: ServiceContext, batch_size: int = 1000, on_sent: OnSent | None = None,
                 channels: ChannelRegistry | None = None, composer: Composer | None = None,
                 policy: GuardrailPolicy | None = None, threads: int = 4, lease: timedelta = LEASE) -> None:
        self.lease = lease
        self.ctx = ctx
        self.batch_size = batch_size
        self.on_sent = on_sent
        self.channels = channels if channels is not None else ChannelRegistry.capture_all()
        # Without a composer, links are signed with a throwaway key nobody can verify (the simulator's sandbox,
        # tests that follow no link); ``Application.dispatcher`` passes one signing with the database's key.
        self.composer = composer if composer is not None else Composer(
            ctx, "http://127.0.0.1:8000", secrets.token_urlsafe(32), capture_channels=self.channels.captures(),
            provider_template_channels=self.channels.provider_templates())
        self._fixed_policy = policy
        self._policy: tuple[datetime, GuardrailPolicy] | None = None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="touchflow-send")
        self.report = DispatchReport()
        self._fell_back = 0  # fallback rows the last decide step queued (due now: dispatch_all goes on)
        self._versions: dict[str, Any] = {}  # message id → template version rendered (for the sent event)
        # dispatch_all's decide steps: sized to the write budget, gaps between them on SQLite (ADR 0021)
        self._pacer = store_pacer(ctx, start=min(100, batch_size), low=1, high=batch_size)
        self._limit = batch_size

    def close(self) -> None:
        """Stop the send threads and close the channels' connections (the dispatcher owns them)."""
        self._pool.shutdown(wait=True)
        self.channels.close()

    def policy(self, uow: UnitOfWork, now: datetime) -> GuardrailPolicy:
        if self._fixed_policy is not None:
            return self._fixed_policy
        if self._policy is None or now - self._policy[0] > _POLICY_TTL or now < self._policy[0]:
            self._policy = (now, guardrail_policy(uow))
        return self._policy[1]

    # --- 1. decide -------------------------------------------------------------------------------

    def _decide(self, now: datetime) -> tuple[int, list[OutboxMessage], BatchContacts]:
        with self.ctx.uow() as uow:
            # P7 kill switch: read before every claim, so a batch claimed already may finish and nothing after it
            if kill_switch_on(uow.guards.setting(KILL_SWITCH_KEY)):
                self.report.halted += 1
                return 0, [], BatchContacts()
            claimed = uow.messages.claim(now, self._limit)
            if not claimed:
                return 0, [], BatchContacts()
            policy = self.policy(uow, now)
            facts, contacts = load_guard_facts(uow, claimed, now, {m.id for m in claimed})
            allowed_so_far: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
            updates: list[MessageUpdate] = []
            events: list[tuple[EventInput, str]] = []
            to_send: list[OutboxMessage] = []
            fallbacks: list[OutboxMessage] = []
            for m in sorted(claimed, key=lambda m: (m.created_at, m.id)):
                try:
                    decision = self._decision(m, facts, policy, now, allowed_so_far[m.contact_id])
                    handed = cannot_deliver(m, decision.guardrail, decision.detail, now, self.ctx.ids.new(now)) \
                        if isinstance(decision, Skip) else None
                except Exception as exc:  # one bad row (a mangled payload) must not stop the outbox: a dead letter
                    log.exception("deciding message %s failed", m.id)
                    error = f"{type(exc).__name__}: {exc}"[:1000]
                    updates.append(MessageUpdate(m.id, "dead", now, "engine_error", error))
                    events.append(self._event(m, f"failed_{m.attempts}", now, event_type="message_failed",
                                              reason=f"engine_error: {error}"[:500], dead=True))
                    self.report.failed += 1
                    continue
                if isinstance(decision, Allow):
                    if m.payload.get("audience") != "staff":
                        allowed_so_far[m.contact_id].append((m.channel, now))
                    update = MessageUpdate(m.id, "sending", now + self.lease, None, m.last_error, decision.address, now,
                                           attempted=True)
                    to_send.append(replace(m, status="sending", attempts=m.attempts + 1, address=decision.address,
                                           sent_at=now))
                elif isinstance(decision, Skip) and handed is not None and handed.fallback is not None:
                    # the channel cannot reach this contact at all: the step's fallback chain, at once
                    update = handed.update
                    fallbacks.append(handed.fallback)
                    events.append(self._event(m, f"failed_{m.attempts}", now, event_type=handed.event_type,
                                              reason=handed.event_properties["reason"],
                                              fallback=handed.fallback.channel))
                    self.report.failed += 1
                    self.report.by_guardrail[decision.guardrail] += 1
                elif isinstance(decision, Skip):
                    update = MessageUpdate(m.id, "skipped", now, decision.guardrail, decision.detail)
                    events.append(self._event(m, "skipped", now, guardrail=decision.guardrail,
                                              detail=decision.detail))
                    self.report.skipped += 1
                    self.report.by_guardrail[decision.guardrail] += 1
                else:
                    assert isinstance(decision, Defer)
                    update = MessageUpdate(m.id, "queued", decision.until, decision.guardrail, decision.detail)
                    events.append(self._event(m, f"deferred_{int(decision.until.timestamp())}", now,
                                              event_type="message_deferred", guardrail=decision.guardrail,
                                              until=decision.until.isoformat(), detail=decision.detail))
                    self.report.deferred += 1
                    self.report.by_guardrail[decision.guardrail] += 1
                updates.append(update)
            uow.messages.apply(updates, now)
            uow.messages.enqueue(fallbacks)
            emit_events(uow, events, now)
            uow.commit()
        self.report.claimed += len(claimed)
        self._fell_back = len(fallbacks)
        return len(claimed), to_send, contacts

    @staticmethod
    def _decision(m: OutboxMessage, facts: dict[str, GuardFacts], policy: GuardrailPolicy, now: datetime,
                  allowed: list[tuple[str, datetime]]) -> Decision:
        if m.payload.get("audience") == "staff":  # a hand-off notice to a colleague, not a touch
            return Allow(str(m.payload.get("to"))) if m.payload.get("to") else \
                Skip("no_address", "the hand-off has no recipient")
        purpose: Purpose = "transactional" if m.payload.get("purpose") == "transactional" else "marketing"
        return decide(m.channel, purpose, facts[m.contact_id], policy, now, allowed)

    def _event(self, m: OutboxMessage, stage: str, now: datetime, event_type: str | None = None,
               **extra: Any) -> tuple[EventInput, str]:
        props = {"message_id": m.id, "channel": m.channel, "journey_id": m.journey_id, "node_id": m.node_id,
                 "template": m.template, **extra}
        return (EventInput(lifecycle_event_id(m.id, stage), event_type or f"message_{stage}", (), now, "touchflow",
                           props), m.contact_id)

    # --- 2. send ---------------------------------------------------------------------------------

    def _send_chunk(self, name: str, chunk: list[tuple[OutboxMessage, Outgoing]]) -> dict[str, Attempt]:
        configured = self.channels.get(name)
        assert configured is not None
        answers: dict[str, Attempt] = {}
        with configured.slots, self.ctx.reader() as gate:
            gate.guards.hold_send_gate({m.contact_id for m, _ in chunk}, exclusive=False)
            frozen = gate.guards.frozen_among({m.contact_id for m, _ in chunk})
            stopped = {m.id for m, _ in chunk if m.contact_id in frozen and m.payload.get("audience") != "staff"}
            sendable = [(m, o) for m, o in chunk if m.id not in stopped]
            for message_id in stopped:
                answers[message_id] = Attempt("frozen", error="frozen while queued")
            if not sendable:
                return answers
            configured.limiter.take(len(sendable))
            try:
                deliveries = configured.channel.send([o for _, o in sendable])
            except TransientError as exc:
                deliveries = [Delivery(o.message_id, "retry", error=str(exc), retry_after=exc.retry_after)
                              for _, o in sendable]
            except PermanentError as exc:  # e.g. login refused: retrying the same call cannot help
                deliveries = [Delivery(o.message_id, "failed", error=f"channel {name}: {exc}") for _, o in sendable]
            except Exception as exc:
                # An adapter bug after some messages may have left: retrying would send those again, so every
                # message of the chunk fails (its fallback or a dead letter), naming the error. Adapters
                # contain per-message errors themselves (channels.base.contain), so this is the last resort.
                log.exception("channel %s failed on a batch of %d", name, len(sendable))
                deliveries = [Delivery(o.message_id, "failed",
                                       error=f"channel {name}: unexpected {type(exc).__name__}: {exc}"[:500])
                              for _, o in sendable]
        for d in deliveries:
            answers[d.message_id] = Attempt(d.status, d.provider_id, d.error, d.retry_after)
        for m, _ in sendable:
            answers.setdefault(m.id, Attempt("retry", error="the channel gave no answer for this message"))
        return answers

    def _send(self, to_send: list[OutboxMessage], now: datetime,
              contacts: BatchContacts) -> tuple[dict[str, Attempt], list[OnsiteMessage]]:
        answers: dict[str, Attempt] = {}
        onsite: list[OnsiteMessage] = []
        by_channel: dict[str, list[tuple[OutboxMessage, Outgoing]]] = defaultdict(list)
        self._versions = {}
        for m, rendered in zip(to_send, self.composer.compose(to_send, now, contacts), strict=True):
            if isinstance(rendered, RenderFailure):
                answers[m.id] = Attempt("failed", error=rendered.reason)
                continue
            if rendered.data.get("version") is not None:
                self._versions[m.id] = rendered.data["version"]
            if m.channel == "onsite":
                onsite.append(OnsiteMessage(self.ctx.ids.new(now), m.contact_id, m.id,
                                            (rendered.subject or "")[:300], rendered.text,
                                            str(rendered.data.get("url")) if rendered.data.get("url") else None,
                                            "pending", now))
                answers[m.id] = Attempt("sent", provider_id=f"onsite:{m.id}")
            elif self.channels.get(m.channel) is None:
                answers[m.id] = Attempt("failed", error=f"channel {m.channel!r} is not configured")
            else:
                by_channel[m.channel].append((m, rendered))
        futures = []
        for name, items in by_channel.items():
            size = max(1, self.channels.channels[name].channel.max_batch)
            for start in range(0, len(items), size):
                futures.append(self._pool.submit(self._send_chunk, name, items[start:start + size]))
        for future in futures:
            answers.update(future.result())
        return answers, onsite

    # --- 3. record -------------------------------------------------------------------------------

    def _record(self, to_send: list[OutboxMessage], answers: dict[str, Attempt], onsite: list[OnsiteMessage],
                now: datetime) -> list[OutboxMessage]:
        with self.ctx.uow() as uow:
            if onsite:  # a pop-up shows once this commits: the gate and a freeze check, as for a provider call
                contact_ids = {p.contact_id for p in onsite}
                uow.guards.hold_send_gate(contact_ids, exclusive=False)
                frozen = uow.guards.frozen_among(contact_ids)
                for popup in [p for p in onsite if p.contact_id in frozen]:
                    answers[popup.outbox_id] = Attempt("frozen", error="frozen while queued")
                onsite = [p for p in onsite if p.contact_id not in frozen]
            outcomes = [(m, after_attempt(m, answers[m.id], now, self.ctx.ids.new(now))) for m in to_send]
            uow.messages.apply([o.update for _, o in outcomes], now)
            fallbacks = [o.fallback for _, o in outcomes if o.fallback is not None]
            uow.messages.enqueue(fallbacks)
            uow.messages.add_onsite(onsite)
            events = []
            for m, o in outcomes:
                if o.event_type:
                    stage = o.event_type.removeprefix("message_")
                    if stage == "failed":
                        stage = f"failed_{m.attempts}"
                    extra = {k: v for k, v in o.event_properties.items()
                             if k not in ("message_id", "channel", "journey_id", "node_id", "template")}
                    if o.event_type == "message_sent" and m.id in self._versions:
                        extra["template_version"] = self._versions[m.id]  # rollups count per template version
                    events.append(self._event(m, stage, now, event_type=o.event_type, **extra))
            emit_events(uow, events, now)
            uow.commit()
        sent = [m for m, o in outcomes if o.update.status == "sent"]
        for _, o in outcomes:
            status = o.update.status
            if status == "sent":
                self.report.sent += 1
            elif status == "queued":
                self.report.retried += 1
            elif status == "skipped":
                self.report.skipped += 1
                self.report.by_guardrail["complaint_freeze"] += 1
            else:
                self.report.failed += 1
        return sent

    def dispatch_batch(self, limit: int | None = None) -> int:
        """One batch (``batch_size`` messages unless ``limit`` says fewer); returns how many messages were
        claimed (0 when nothing was due)."""
        now = self.ctx.clock.now()
        self._limit = limit or self.batch_size
        started = self._pacer.mark()
        claimed, to_send, contacts = self._decide(now)
        self._pacer.took(claimed, self._pacer.mark() - started)
        if to_send:
            answers, onsite = self._send(to_send, now, contacts)
            done = self.ctx.clock.now()
            sent = self._record(to_send, answers, onsite, done)
            if self.on_sent is not None and sent:
                self.on_sent(sent, done)
        return claimed

    def dispatch_all(self, limit: int | None = None) -> int:
        """Every message due now, batch after batch; with ``limit``, stop once that many were claimed. A worker's
        tick passes one: behind a broadcast of a million, routing must not wait for the last send (the rest
        is due at once, so the next tick goes on with it)."""
        total = 0
        while limit is None or total < limit:
            if total:
                self._pacer.pause()
            self._fell_back = 0
            size = self._pacer.size if limit is None else min(self._pacer.size, limit - total)
            claimed = self.dispatch_batch(size)
            total += claimed
            if claimed < size and not self._fell_back:
                return total
        return total
