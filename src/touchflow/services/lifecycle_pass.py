"""The worker's pass over contacts: scores, then tiers and lifecycle stages, written together (S1, S2, S5, D4).

Two ways in:

* **touched** — contacts with events received since the last pass. The cursor is a high-water mark on
  ``events.received_at`` and how many events carried that stamp, kept as a workspace setting; each step
  takes every event up to the newest stamp it read (one ingest batch shares one stamp), so a batch is
  never split, and a later batch with the same stamp (a clock that did not move) is still seen.
* **full** — every live contact, chunk by chunk, once a day (dormancy needs time to pass without events)
  or on demand (``touchflow tiers refresh``, ``touchflow lifecycle refresh``).

Per chunk, in one transaction: the score first (lifecycle rules may read ``custom.lead_score``), then
tiers and stage moves; changed attributes are written with their lineage, each move is a history row
and (except the first assignment of the initial stage) a ``stage_changed`` event in the inbox, so journeys
can trigger on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.lookback import one_read, read_since
from touchflow.domain.contacts import Stamp
from touchflow.domain.events import EventInput
from touchflow.domain.scoring.ports import StageChange
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext, emit_events
from touchflow.services.lifecycle import LIFECYCLE_SOURCE, lifecycle_config, stage_chunk
from touchflow.services.pacing import Pacer, store_pacer
from touchflow.services.scoring import current_model, score_chunk
from touchflow.services.tiers import NON_INTERACTION, TIERS_SOURCE, tier_chunk, tier_config

__all__ = ["CURSOR_KEY", "DAILY_KEY", "PassReport", "contact_pass_due_at", "refresh_all", "refresh_contacts",
           "refresh_due", "refresh_touched"]

CURSOR_KEY = "lifecycle.cursor"
DAILY_KEY = "lifecycle.daily"
DAILY = timedelta(days=1)
COMPUTED_PRIORITY = 500  # like a journey's update: above imports, below a person's edit
TOUCH_LIMIT = 5000
FULL_CHUNK = 2000
OWN_EVENTS = frozenset({"stage_changed"})  # our own output: not a reason to look at the contact again


@dataclass
class PassReport:
    contacts: int = 0
    stage_changes: int = 0
    tier_changes: int = 0


def refresh_contacts(uow: UnitOfWork, ctx: ServiceContext, ids: Sequence[str], now: datetime,
                     span: bool = False) -> PassReport:
    """Scores, tiers and stages of these contacts, written in ``uow`` (not committed)."""
    model, tiers, lifecycle = current_model(uow), tier_config(uow), lifecycle_config(uow)
    scores = score_chunk(uow, ctx.ids, model, ids, now, span=span)
    # one read of the contacts for tiers and stages: both readers' event types, each as far back as either reads
    types, lookback = one_read([(tiers.event_types(), tiers.lookback()),
                                (lifecycle.event_types(), lifecycle.lookback())])
    facts = uow.journeys.load_facts(ids, types, read_since(lookback, now))
    tier_changes = tier_chunk(uow, tiers, ids, now, span, facts)
    moves = stage_chunk(uow, lifecycle, ids, scores, now, span, facts)
    final_stage = {m.contact_id: m.stage for m in moves if m.rule != "set_elsewhere"}
    touched = set(tier_changes) | set(final_stage)
    if touched:
        states = uow.contacts.load(touched)
        tier_stamp, stage_stamp = Stamp(TIERS_SOURCE, COMPUTED_PRIORITY, now), Stamp(LIFECYCLE_SOURCE,
                                                                                      COMPUTED_PRIORITY, now)
        for cid, state in states.items():
            for name, value in tier_changes.get(cid, {}).items():
                state.values[f"custom.{name}"] = value
                state.lineage[f"custom.{name}"] = tier_stamp
            if cid in final_stage:
                state.values["lifecycle_stage"] = final_stage[cid]
                state.lineage["lifecycle_stage"] = stage_stamp
        uow.contacts.update(list(states.values()), now)
        uow.segments.mark_dirty([(cid, "*") for cid in states], now)  # stages and tiers feed segments
        uow.lifecycle.publish_scores(sorted(touched), now)  # the state write above carried the old score
    uow.lifecycle.add_stage_changes(moves)
    _emit(uow, ctx, [m for m in moves if m.rule not in ("set_elsewhere", "initial")], now)
    return PassReport(len(ids), sum(m.rule != "set_elsewhere" for m in moves), len(tier_changes))


def _emit(uow: UnitOfWork, ctx: ServiceContext, moves: Sequence[StageChange], now: datetime) -> None:
    if not moves:
        return
    events = [(EventInput(ctx.ids.new(now), "stage_changed", (), now, "touchflow",
                          {"stage": m.stage, "from": m.from_stage, "rule": m.rule}), m.contact_id) for m in moves]
    emit_events(uow, events, now)


def _touched(uow: UnitOfWork, stored: dict[str, Any], limit: int
             ) -> tuple[list[str], tuple[datetime, int] | None, tuple[datetime, int] | None]:
    """(contact ids, the new cursor, the stored cursor): contacts with events received since the cursor
    that the model, tiers or stages read. A step left unfinished (``upto``/``after`` in the cursor: see
    ``refresh_touched``) goes on where it stopped."""
    cursor = ((datetime.fromisoformat(stored["received_at"]), int(stored.get("seen", 0)))
              if stored.get("received_at") else None)
    read = current_model(uow).event_types() | tier_config(uow).event_types() | lifecycle_config(uow).event_types()
    ignore = (NON_INTERACTION - read) | OWN_EVENTS
    if stored.get("upto"):
        upto = (datetime.fromisoformat(stored["upto"]), int(stored["upto_seen"]))
        ids, _ = uow.lifecycle.touched_since(cursor, limit, ignore, upto=upto[0])
        return [cid for cid in ids if cid > stored["after"]], upto, cursor
    ids, upper = uow.lifecycle.touched_since(cursor, limit, ignore)
    return ids, upper, cursor


def refresh_touched(ctx: ServiceContext, limit: int = TOUCH_LIMIT, pacer: Pacer | None = None,
                    deadline: float | None = None) -> PassReport:
    """One step of the touched-contacts pass; 0 contacts when nothing new arrived.

    Events that nothing here reads (sends, skips, our own ``stage_changed``) do not count as touches.
    The touched contacts are found in a read snapshot, then recomputed in short write transactions sized by
    ``pacer`` (ADR 0021). Each chunk records its progress in the cursor, in its own transaction, so a step
    stopped at ``deadline`` (a ``time.perf_counter()`` value: the worker's tick has other work) or by a crash
    goes on with the next contact; the cursor moves past the step with its last chunk."""
    now = ctx.clock.now()
    with ctx.reader() as probe:  # an idle worker looks without taking the write lock
        stored = probe.guards.setting(CURSOR_KEY) or {}
        ids, upper, cursor = _touched(probe, stored, limit)
        if upper is None or (upper == cursor and not stored.get("upto")):
            return PassReport()
    pacer = pacer or store_pacer(ctx)
    report = PassReport()
    expected = stored
    kept = {k: v for k, v in stored.items() if k in ("received_at", "seen")}
    for n, chunk in enumerate(pacer.chunks(ids) if ids else [[]]):
        if n and deadline is not None and time.perf_counter() >= deadline:
            return report  # the progress is in the cursor: the next tick goes on from there
        with ctx.uow() as uow:
            if (uow.guards.lock_setting(CURSOR_KEY) or {}) != expected:
                return report  # another worker moved the cursor meanwhile: it does these contacts
            if chunk:
                _add(report, refresh_contacts(uow, ctx, chunk, now))
            if not chunk or chunk[-1] == ids[-1]:  # the step is done: the cursor moves past it
                expected = {"received_at": upper[0].isoformat(), "seen": upper[1]}
            else:
                expected = {**kept, "upto": upper[0].isoformat(), "upto_seen": upper[1], "after": chunk[-1]}
            uow.guards.set_setting(CURSOR_KEY, expected, "touchflow", now)
            uow.commit()
    return report


def refresh_all(ctx: ServiceContext, chunk: int = FULL_CHUNK) -> PassReport:
    """Every live contact, chunk by chunk, one short transaction per chunk (at most ``chunk`` contacts,
    fewer when they take longer than the write budget)."""
    now = ctx.clock.now()
    total, after = PassReport(), None

    def step(size: int) -> tuple[int, bool]:
        nonlocal after
        with ctx.uow() as uow:
            ids = uow.lifecycle.live_ids(after, size)
            if not ids:
                return 0, False
            _add(total, refresh_contacts(uow, ctx, ids, now, span=True))
            uow.commit()
        after = ids[-1]
        return len(ids), True

    store_pacer(ctx, start=min(100, chunk), high=chunk).drive(step)
    return total


def _add(total: PassReport, part: PassReport) -> None:
    total.contacts += part.contacts
    total.stage_changes += part.stage_changes
    total.tier_changes += part.tier_changes


def refresh_due(ctx: ServiceContext, pacer: Pacer | None = None, deadline: float | None = None) -> int:
    """What the worker's tick calls: one touched step and, when due, the daily full pass — each until
    ``deadline`` (``time.perf_counter()``) once it has done a chunk; the rest goes on next tick. Returns the
    number of contacts looked at (0: nothing to do)."""
    done = refresh_touched(ctx, pacer=pacer, deadline=deadline).contacts
    now = ctx.clock.now()
    with ctx.reader() as probe:  # not due: no write transaction on an idle tick
        stored = probe.guards.setting(DAILY_KEY) or {}
        planned = stored.get("next_at")
        if "after" not in stored and planned and datetime.fromisoformat(planned) > now:
            return done
    with ctx.uow() as uow:  # claim the daily pass: with several workers, one runs it
        stored = uow.guards.lock_setting(DAILY_KEY) or {}
        if "after" not in stored:  # not under way
            next_at = datetime.fromisoformat(stored["next_at"]) if stored.get("next_at") else None
            if next_at is None:
                uow.guards.set_setting(DAILY_KEY, {"next_at": (now + DAILY).isoformat()}, "touchflow", now)
                uow.commit()
                return done
            if next_at > now:
                return done
            stored = {"next_at": (now + DAILY).isoformat(), "after": None}
            uow.guards.set_setting(DAILY_KEY, stored, "touchflow", now)
            uow.commit()
    pacer = pacer or store_pacer(ctx)
    return done + _daily_step(ctx, stored, pacer, deadline)


def _daily_step(ctx: ServiceContext, expected: dict[str, Any], pacer: Pacer, deadline: float | None) -> int:
    """The daily pass under way, chunk by chunk from the contact after ``expected["after"]``; each chunk
    records how far it got in the same transaction, so a stop (the tick's share, a crash) goes on from there."""
    now = ctx.clock.now()

    def chunk(size: int) -> tuple[int, bool]:
        nonlocal expected
        with ctx.uow() as uow:
            if (uow.guards.lock_setting(DAILY_KEY) or {}) != expected:
                return 0, False  # another worker goes on with it
            ids = uow.lifecycle.live_ids(expected["after"], size)
            if ids:
                refresh_contacts(uow, ctx, ids, now, span=True)
            expected = ({"next_at": expected["next_at"], "after": ids[-1]} if len(ids) == size
                        else {"next_at": expected["next_at"]})
            uow.guards.set_setting(DAILY_KEY, expected, "touchflow", now)
            uow.commit()
        return len(ids), "after" in expected

    return pacer.drive(chunk, deadline)[0]


def contact_pass_due_at(ctx: ServiceContext) -> datetime:
    """When ``refresh_due`` next has work: now while touched contacts wait, else the daily pass."""
    now = ctx.clock.now()
    with ctx.reader() as probe:
        _, upper, cursor = _touched(probe, probe.guards.setting(CURSOR_KEY) or {}, 1)
        if upper is not None and upper != cursor:
            return now
        daily = probe.guards.setting(DAILY_KEY) or {}
        if "after" in daily:  # the daily pass is under way
            return now
        planned = daily.get("next_at")
    return datetime.fromisoformat(planned) if planned else now
